package publisher

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/loanevents"
)

// item is what the subscription delivered, already mapped to its message
// off the publishing goroutine.
type item struct {
	kind itemKind
	pos  Position // kindEvent, kindPosition
	msg  Message  // kindEvent
	err  error    // kindDropped
}

type itemKind int

const (
	kindEvent    itemKind = iota // a loan event, to publish
	kindPosition                 // nothing to publish up to pos (a skipped event, a server checkpoint)
	kindCaughtUp
	kindFellBehind
	kindDropped
)

// hasPosition tells whether the item moves the position.
func (it item) hasPosition() bool { return it.kind == kindEvent || it.kind == kindPosition }

// filter is the server-side filter: the loan event types (as the projector
// and the process managers subscribe). It is a prefix filter, so a type
// that merely begins like a loan type comes through too: toItem skips it.
func filter() *esdb.SubscriptionFilter {
	return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: loanevents.Types()}
}

// subscribe starts a catch-up subscription after from, and a goroutine that
// maps what it delivers onto the returned channel, up to a batch ahead of
// the publishing; stop ends both and waits for the goroutine.
func (p *Publisher) subscribe(ctx context.Context, from cursor) (items <-chan item, stop func(), err error) {
	subCtx, cancel := context.WithCancel(ctx)
	sub, err := p.cfg.EventStore.SubscribeToAll(subCtx, esdb.SubscribeToAllOptions{From: from.from(), Filter: filter()})
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("subscribe to $all: %w", err)
	}
	out := make(chan item, p.cfg.MaxBatch)
	done := make(chan struct{})
	// What the last subscription received and the broker did not confirm
	// stays counted until now: the lag of a publisher without a broker grows.
	p.unconfirmed.Store(0)
	go func() {
		defer close(done)
		defer sub.Close()
		for {
			it, ok := p.toItem(sub.Recv())
			if !ok {
				continue
			}
			if it.kind == kindEvent {
				p.unconfirmed.Add(1)
			}
			select {
			case out <- it:
			case <-subCtx.Done():
				return
			}
			if it.kind == kindDropped {
				return
			}
		}
	}()
	return out, func() {
		cancel()
		_ = sub.Close()
		<-done // nothing of this subscription outlives it
	}, nil
}

// toItem maps what the subscription delivered; ok is false for what says
// nothing to the publisher.
func (p *Publisher) toItem(se *esdb.SubscriptionEvent) (it item, ok bool) {
	switch {
	case se.EventAppeared != nil:
		e := se.EventAppeared.Event
		if e == nil { // a link to a deleted event
			if l := se.EventAppeared.Link; l != nil {
				return item{kind: kindPosition, pos: Position{Commit: l.Position.Commit, Prepare: l.Position.Prepare}}, true
			}
			return item{}, false
		}
		rec := RecordedOf(e)
		if !loanevents.IsKnown(rec.Type) {
			p.skipped.Add(1)
			p.log.Debug("publisher: not a loan event type; skipped", "type", rec.Type, "stream", rec.Stream, "event_id", rec.ID)
			return item{kind: kindPosition, pos: rec.Position}, true
		}
		msg, err := Map(rec)
		if err != nil {
			p.poison.Add(1)
			p.log.ErrorContext(logContext(msg), "publisher: event does not decode; publishing it as stored, with a decode_error header",
				"error", err, "type", rec.Type, "stream", rec.Stream, "revision", rec.Revision, "event_id", rec.ID, "commit", rec.Position.Commit)
		}
		return item{kind: kindEvent, pos: rec.Position, msg: msg}, true
	case se.CheckPointReached != nil:
		return item{kind: kindPosition, pos: Position{Commit: se.CheckPointReached.Commit, Prepare: se.CheckPointReached.Prepare}}, true
	case se.CaughtUp != nil:
		return item{kind: kindCaughtUp}, true
	case se.FellBehind != nil:
		return item{kind: kindFellBehind}, true
	case se.SubscriptionDropped != nil:
		return item{kind: kindDropped, err: se.SubscriptionDropped.Error}, true
	}
	return item{}, false
}
