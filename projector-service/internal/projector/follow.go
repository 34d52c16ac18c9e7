package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

// followOptions say when following a generation ends (besides ctx).
type followOptions struct {
	// watch ends it when another generation becomes the active one.
	watch bool
	// target, when set, ends it once the generation's checkpoint reaches
	// it or the subscription has caught up (the head then is at least the
	// target): a rebuild projects to the head it started at.
	target      uint64
	untilHeadOf bool
	// from, when set, starts after this position instead of the
	// generation's checkpoint (tests deliver events again with it).
	from *uint64
}

// item is what the subscription delivered, decoded off the write path.
// Items wait in memory until their batch is written (a batch and the next
// one, decoded meanwhile): they keep only what the projection reads.
type item struct {
	kind     itemKind
	position uint64
	// event is the decoded event; if it does not decode (err set), only
	// its ID, Type, Stream and Position, for parking it.
	event projection.Event
	err   error // kindEvent: why it does not decode; kindDropped: why
	// recorded is when the store recorded the event (UnixNano), for the
	// lag; traceParent the trace context of the command that caused it,
	// for the write's span.
	recorded    int64
	traceParent string
}

type itemKind int

const (
	kindEvent      itemKind = iota // a loan event (err set: it does not decode)
	kindSkipped                    // an event of a type this version does not read
	kindCheckpoint                 // the server examined everything up to position
	kindCaughtUp
	kindFellBehind
	kindDropped
)

// subscribe starts a catch-up subscription after checkpoint and a goroutine
// that decodes what it delivers onto the returned channel; stop ends both
// and waits for the goroutine.
func (p *Projector) subscribe(ctx context.Context, checkpoint uint64) (<-chan item, context.CancelFunc, error) {
	subCtx, cancel := context.WithCancel(ctx)
	sub, err := p.es.SubscribeToAll(subCtx, esdb.SubscribeToAllOptions{From: allPosition(checkpoint), Filter: filter()})
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("subscribe to $all after %d: %w", checkpoint, err)
	}
	// One batch decoded ahead while the batch before it is written: both
	// cores busy, and no more in memory than that.
	items := make(chan item, p.opts.MaxBatch)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer sub.Close()
		for {
			it, ok := toItem(sub.Recv())
			if !ok {
				continue
			}
			if it.kind == kindEvent {
				p.lag.received()
			}
			select {
			case items <- it:
			case <-subCtx.Done():
				return
			}
			if it.kind == kindDropped {
				return
			}
		}
	}()
	stop := func() {
		cancel()
		_ = sub.Close()
		<-done // nothing of this subscription outlives following
	}
	return items, stop, nil
}

// toItem decodes what the subscription delivered; ok is false for what
// says nothing to the projector. The item is a value: one allocation less
// an event, and less for the collector to do.
func toItem(se *esdb.SubscriptionEvent) (it item, ok bool) {
	switch {
	case se.EventAppeared != nil:
		e := se.EventAppeared.Event
		if e == nil { // a link to a deleted event: nothing to project
			if l := se.EventAppeared.Link; l != nil {
				return item{kind: kindSkipped, position: l.Position.Commit}, true
			}
			return item{}, false
		}
		rec := Recorded(e)
		it = item{kind: kindEvent, position: rec.Position, recorded: rec.Created.UnixNano()}
		it.event, it.err = projection.Decode(rec)
		switch {
		case errors.Is(it.err, projection.ErrUnknownType):
			it.kind, it.err = kindSkipped, nil
		case it.err != nil:
			it.event = projection.Event{ID: rec.ID, Type: rec.Type, Stream: rec.Stream, Revision: rec.Revision, Position: rec.Position}
		default:
			it.traceParent = it.event.Metadata.TraceParent
			it.event.Metadata = historyMetadata(it.event.Metadata)
		}
		return it, true
	case se.CheckPointReached != nil:
		return item{kind: kindCheckpoint, position: se.CheckPointReached.Commit}, true
	case se.CaughtUp != nil:
		return item{kind: kindCaughtUp}, true
	case se.FellBehind != nil:
		return item{kind: kindFellBehind}, true
	case se.SubscriptionDropped != nil:
		return item{kind: kindDropped, err: se.SubscriptionDropped.Error}, true
	}
	return item{}, false
}

// historyMetadata keeps of an event's metadata what the projection reads
// (the history entry's): the rest (digest, roles, issuer) would only wait
// in memory with the event. The trace context waits in the item.
func historyMetadata(md loanevents.Metadata) loanevents.Metadata {
	return loanevents.Metadata{CommandID: md.CommandID, CorrelationID: md.CorrelationID, CausationID: md.CausationID,
		Actor: md.Actor, OccurredAt: md.OccurredAt}
}

// Recorded converts what the client read.
func Recorded(e *esdb.RecordedEvent) projection.Recorded {
	return projection.Recorded{
		ID: e.EventID.String(), Type: e.EventType, Data: e.Data, Metadata: e.UserMetadata,
		Stream: e.StreamID, Revision: e.EventNumber, Position: e.Position.Commit, Created: e.CreatedDate,
	}
}

// follow projects into generation gen from its checkpoint until ctx ends
// (it then writes the batch in hand and returns nil) or o says to stop
// (nil). Any failure ends it with an error; the caller starts again.
func (p *Projector) follow(ctx context.Context, gen int, o followOptions) error {
	committed, err := p.store.Checkpoint(ctx, gen)
	if err != nil {
		return fmt.Errorf("checkpoint of generation %d: %w", gen, err)
	}
	if o.from != nil {
		committed = *o.from
	}
	if o.untilHeadOf && committed >= o.target {
		return nil
	}
	// What the last follow received and did not write stays counted until
	// now: the lag of a projector that cannot write grows.
	p.lag.reset()
	items, cancel, err := p.subscribe(ctx, committed)
	if err != nil {
		return err
	}
	p.state.set(phaseCatchingUp, committed, nil)
	defer cancel()
	f := &follower{p: p, gen: gen, o: o, committed: committed, seen: committed, timer: time.NewTimer(time.Hour),
		pending: make([]item, 0, p.opts.MaxBatch)}
	f.timer.Stop()
	defer f.timer.Stop()
	var watch <-chan time.Time
	if o.watch {
		t := time.NewTicker(p.opts.WatchInterval)
		defer t.Stop()
		watch = t.C
	}
	for {
		if ctx.Err() != nil {
			return f.stop(ctx)
		}
		if f.live && len(f.pending) > 0 {
			// Live: write what is there as soon as nothing more is waiting.
			select {
			case it := <-items:
				if done, err := f.take(ctx, it); done || err != nil {
					return f.fail(ctx, err)
				}
			default:
				if err := f.flush(ctx); err != nil {
					return f.fail(ctx, err)
				}
			}
			continue
		}
		if !f.armed && f.unwritten() {
			f.timer.Reset(p.opts.MaxDelay)
			f.armed = true
		}
		select {
		case it := <-items:
			if done, err := f.take(ctx, it); done || err != nil {
				return f.fail(ctx, err)
			}
		case <-f.timer.C:
			f.armed = false
			if err := f.flush(ctx); err != nil {
				return f.fail(ctx, err)
			}
			if f.reached() {
				return nil
			}
		case <-watch:
			active, err := p.store.ActiveGeneration(ctx)
			if err == nil && active != gen {
				p.logger.Info("projector: another generation was activated; switching", "from", gen, "to", active)
				return errGenerationChanged
			}
		case <-ctx.Done():
			return f.stop(ctx)
		}
	}
}

// fail ends following: with err, unless ctx ended (a write cut short by
// the stop), in which case the batch in hand is written.
func (f *follower) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return f.stop(ctx)
	}
	return err
}

// stop writes the batch in hand once ctx has ended.
func (f *follower) stop(ctx context.Context) error {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.p.opts.StopTimeout)
	defer cancel()
	if err := f.flush(stopCtx); err != nil {
		f.p.logger.WarnContext(ctx, "projector: batch in hand not written at stop; it will be projected again", "error", err)
	} else {
		f.p.logger.InfoContext(ctx, "projector: stopped", "generation", f.gen, "checkpoint", f.committed)
	}
	return nil
}

// follower is the state of one follow.
type follower struct {
	p         *Projector
	gen       int
	o         followOptions
	pending   []item // loan events not written yet, in position order
	committed uint64 // the generation's checkpoint as written
	seen      uint64 // the last position the subscription vouched for
	live      bool
	timer     *time.Timer // the catch-up batch's deadline
	armed     bool
}

func (f *follower) unwritten() bool { return len(f.pending) > 0 || f.seen != f.committed }

func (f *follower) reached() bool { return f.o.untilHeadOf && f.committed >= f.o.target }

func (f *follower) flush(ctx context.Context) error {
	if f.armed {
		f.timer.Stop()
		f.armed = false
	}
	if !f.unwritten() {
		return nil
	}
	if err := f.p.write(ctx, f.gen, f.pending, f.seen, f.live); err != nil {
		return err
	}
	var last int64
	if n := len(f.pending); n > 0 {
		last = f.pending[n-1].recorded
	}
	f.p.lag.written(last)
	// Cleared, not only cut: the array would otherwise hold the written
	// events' payloads until the next batch overwrites them.
	clear(f.pending)
	f.pending, f.committed = f.pending[:0], f.seen
	if !f.live {
		f.p.state.set(phaseCatchingUp, f.committed, nil)
	}
	return nil
}

// take handles one item; done reports that following ends (with a nil
// error: the target was reached).
func (f *follower) take(ctx context.Context, it item) (done bool, err error) {
	switch it.kind {
	case kindEvent:
		f.p.lag.taken(it.recorded)
		f.pending = append(f.pending, it)
		f.seen = max(f.seen, it.position)
		if len(f.pending) >= f.p.opts.MaxBatch {
			if err := f.flush(ctx); err != nil {
				return true, err
			}
		}
	case kindSkipped, kindCheckpoint:
		f.seen = max(f.seen, it.position)
	case kindCaughtUp:
		if !f.live {
			f.p.logger.Info("projector: caught up; live", "generation", f.gen, "position", f.seen)
		}
		f.live = true
		f.p.state.set(phaseLive, f.seen, nil)
		if f.o.untilHeadOf {
			// The server's head is at least the target, read before subscribing.
			f.seen = max(f.seen, f.o.target)
		}
		if err := f.flush(ctx); err != nil {
			return true, err
		}
	case kindFellBehind:
		f.live = false
		f.p.state.set(phaseCatchingUp, f.seen, nil)
		f.p.logger.Info("projector: fell behind; catching up", "generation", f.gen, "position", f.seen)
	case kindDropped:
		if ctx.Err() != nil { // dropped because we are stopping
			return true, nil
		}
		// What came before the drop is good: write it, then start again.
		if err := f.flush(ctx); err != nil {
			return true, err
		}
		return true, fmt.Errorf("subscription dropped: %w", it.err)
	}
	return f.reached(), nil
}
