package eventlog

import (
	"context"
	"errors"
	"math"
)

// subscriptionChunk is how many events a subscription takes per step.
const subscriptionChunk = 512

// Subscription follows $all or one stream: it catches up from disk, then
// serves live events from memory, and goes back to disk by itself when it
// falls out of the live window. Every event after the starting point is
// delivered once, in order. A Subscription is used by one goroutine.
type Subscription struct {
	log    *Log
	stream string // empty for $all
	pos    uint64 // last $all position examined
	rev    int64  // stream subscriptions: last revision delivered, -1 for none
	live   bool
	buf    []Event
}

// Update is one step of a subscription.
type Update struct {
	// Events are the next events, in order. For $all every event is given
	// (filters are the caller's); for a stream only the stream's own.
	Events []Event
	// CaughtUp is set once the subscription has reached the end of the log
	// and now waits for live events; FellBehind once it has dropped out of
	// the live window and reads from disk again.
	CaughtUp, FellBehind bool
	// Position is the last $all position examined so far.
	Position uint64
}

// SubscribeAll follows $all from after position `after` (0: from the start,
// End: from now on).
func (l *Log) SubscribeAll(after uint64) *Subscription {
	if after == End {
		after = l.Head()
	}
	return &Subscription{log: l, pos: after, rev: -1}
}

// FromNow, as the revision to subscribe after, starts a stream subscription
// at the stream's current end.
const FromNow int64 = math.MaxInt64

// SubscribeStream follows one stream from after revision `after` (-1: from
// the start; FromNow: from now on). A tombstoned stream fails at once.
func (l *Log) SubscribeStream(stream string, after int64) (*Subscription, error) {
	head := l.Head()
	st, _, err := l.Stream(stream)
	if err != nil {
		return nil, err
	}
	if st.Tombstoned {
		return nil, &StreamDeletedError{Stream: stream}
	}
	s := &Subscription{log: l, stream: stream, rev: after}
	if after == FromNow {
		// Everything up to head is before "now"; later events are live.
		s.rev, s.pos = st.LastRevision, head
	}
	return s, nil
}

// Next blocks until the subscription has something to report, ctx ends
// (ctx.Err()) or the log closes (ErrClosed). A stream subscription ends with
// StreamDeletedError once its stream is tombstoned.
func (s *Subscription) Next(ctx context.Context) (Update, error) {
	for {
		head := s.log.Head()
		if s.pos >= head {
			if !s.live {
				s.live = true
				return Update{CaughtUp: true, Position: s.pos}, nil
			}
			select {
			case <-s.log.live.wait(s.pos):
				continue
			case <-ctx.Done():
				return Update{}, ctx.Err()
			case <-s.log.closing:
				return Update{}, ErrClosed
			}
		}
		events, inMemory := s.log.live.after(s.pos, subscriptionChunk, s.buf[:0])
		if !inMemory && s.live {
			s.live = false
			return Update{FellBehind: true, Position: s.pos}, nil
		}
		var err error
		if s.stream == "" {
			if !inMemory {
				events, err = s.log.ReadAllForward(s.pos+1, subscriptionChunk, events)
			}
			if err != nil {
				return Update{}, err
			}
			if len(events) > 0 {
				s.pos = events[len(events)-1].Position
			}
			s.buf = events
			return Update{Events: events, Position: s.pos}, nil
		}
		// Catching up reads the stream from disk, where its metadata ($tb,
		// $maxCount, $maxAge, soft deletion) applies exactly as for a read;
		// once live, the window only holds events newer than any of that.
		if inMemory && s.live {
			events, err = s.fromWindow(events)
		} else {
			events, err = s.fromDisk(head, events[:0])
		}
		s.buf = events
		if len(events) > 0 || err != nil {
			return Update{Events: events, Position: s.pos}, err
		}
	}
}

// fromWindow keeps the stream's own events of a window chunk.
func (s *Subscription) fromWindow(chunk []Event) ([]Event, error) {
	kept := chunk[:0]
	for _, e := range chunk {
		s.pos = e.Position
		if e.Stream != s.stream {
			continue
		}
		if e.Type == StreamDeletedEventType {
			return kept, s.deleted(kept)
		}
		if int64(e.Revision) > s.rev {
			kept = append(kept, e)
			s.rev = int64(e.Revision)
		}
	}
	return kept, nil
}

// fromDisk reads the stream's events after the last one delivered, up to the
// durable head.
func (s *Subscription) fromDisk(head uint64, dst []Event) ([]Event, error) {
	events, err := s.log.readStream(s.stream, uint64(s.rev+1), subscriptionChunk, false, head, dst)
	var deleted *StreamDeletedError
	switch {
	case errors.As(err, &deleted):
		return events, s.deleted(events)
	case errors.Is(err, ErrStreamNotFound):
		err = nil // not written yet, or soft-deleted: wait for what comes
	case err != nil:
		return events, err
	}
	if len(events) == subscriptionChunk {
		s.pos = events[len(events)-1].Position
	} else {
		s.pos = head
	}
	if len(events) > 0 {
		s.rev = int64(events[len(events)-1].Revision)
	}
	return events, nil
}

// deleted ends a stream subscription: events already gathered go out first.
func (s *Subscription) deleted(pending []Event) error {
	if len(pending) > 0 {
		s.pos-- // come back here for the tombstone after delivering them
		return nil
	}
	return &StreamDeletedError{Stream: s.stream}
}
