package projector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/backoff"
	"github.com/loanflow/loans/platform/readmodel"
)

// RebuildResult says what a rebuild did.
type RebuildResult struct {
	Old, New int    // the generation replaced and the one built
	Head     uint64 // the $all position the rebuild projected to
	// Checkpoint is the new generation's checkpoint when it was activated.
	Checkpoint uint64
	// Unparked are the positions of parked events the rebuild projected
	// (their cause is gone): they are no longer parked.
	Unparked []uint64
	// Dropped tells whether the old generation was dropped.
	Dropped bool
	Took    time.Duration
}

// Rebuild projects every event from the start to the current head into a
// new generation, follows $all until the new generation has caught up with
// the active one (which a running projector keeps moving), activates it
// (readers switch to it at once; they never see it half built, nor go back
// in time), then, after grace, drops the generation it replaced. A running
// projector (Run) switches to the new generation by itself. If ctx ends, or
// Options.ChaseTimeout passes, before the new generation is complete and
// caught up, it is dropped and readers never see it.
func (p *Projector) Rebuild(ctx context.Context, grace time.Duration) (RebuildResult, error) {
	started := time.Now()
	var res RebuildResult
	gen, err := p.store.NewGeneration(ctx)
	if err != nil {
		return res, fmt.Errorf("new generation: %w", err)
	}
	res.New = gen
	abandon := func(cause error) (RebuildResult, error) {
		dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := p.store.DropGeneration(dropCtx, gen); err != nil {
			p.logger.Warn("rebuild: unfinished generation not dropped", "generation", gen, "error", err)
		}
		return res, cause
	}
	head, err := p.Head(ctx)
	if err != nil {
		return abandon(err)
	}
	res.Head = head
	p.logger.Info("rebuild: projecting into a new generation", "generation", gen, "head", head)

	// A copy of the projector that notes what it parks.
	parkedNow := map[uint64]bool{}
	rp := *p
	rp.onPark = func(position uint64) { parkedNow[position] = true }
	rp.state = &runState{} // not Run's
	rp.lag = &lag{}
	wait := p.opts.RetryBackoff
	for {
		err := rp.follow(ctx, gen, followOptions{untilHeadOf: true, target: head})
		if ctx.Err() != nil {
			return abandon(ctx.Err())
		}
		if err == nil {
			cp, cerr := p.store.Checkpoint(ctx, gen)
			if cerr == nil && cp >= head {
				res.Checkpoint = cp
				break
			}
			err = cerr
		}
		p.logger.Warn("rebuild: interrupted; resuming", "generation", gen, "error", err, "after", wait)
		if !backoff.Sleep(ctx, wait) {
			return abandon(ctx.Err())
		}
		wait = min(wait*2, p.opts.ResubscribeBackoffMax)
	}

	if res.Old, res.Checkpoint, err = rp.chaseAndActivate(ctx, gen); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return abandon(err)
	}
	p.logger.Info("rebuild: new generation active", "generation", gen, "replaced", res.Old, "checkpoint", res.Checkpoint,
		"took", time.Since(started).String())

	// Events parked earlier that this rebuild projected are parked no more.
	if parked, err := p.store.Parked(ctx); err != nil {
		p.logger.Warn("rebuild: parked events not checked", "error", err)
	} else {
		for _, e := range parked {
			if e.Position <= res.Checkpoint && !parkedNow[e.Position] {
				if err := p.store.Unpark(ctx, e.Position); err != nil {
					p.logger.Warn("rebuild: parked event projected but not unparked", "position", e.Position, "error", err)
					continue
				}
				res.Unparked = append(res.Unparked, e.Position)
			}
		}
	}

	// Readers that picked the old generation just before the switch finish.
	backoff.Sleep(ctx, grace)
	dropCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if res.Old != gen {
		if err := p.store.DropGeneration(dropCtx, res.Old); err != nil {
			p.logger.Warn("rebuild: old generation not dropped", "generation", res.Old, "error", err)
		} else {
			res.Dropped = true
		}
	}
	res.Took = time.Since(started)
	return res, nil
}

// ErrRebuildBehind: the rebuilt generation did not catch up with the active
// one within Options.ChaseTimeout.
var ErrRebuildBehind = errors.New("projector: the rebuilt generation did not catch up with the active one")

// chaseAndActivate follows $all into gen from its checkpoint until it is at
// or past the active generation's, then activates it. The store refuses the
// switch if the active generation moved on meanwhile (readmodel's
// ErrGenerationBehind); then it reads on. It reads rather than subscribes:
// a read goes to the head of $all, which no checkpoint can pass, whereas a
// filtered subscription vouches for positions only as the server's
// checkpoints come, which need not reach the active generation's.
func (p *Projector) chaseAndActivate(ctx context.Context, gen int) (old int, checkpoint uint64, err error) {
	deadline := time.Now().Add(p.opts.ChaseTimeout)
	wait := p.opts.RetryBackoff
	var active int
	var cp, activeCP uint64
	for rounds, refused := 1, 0; ; rounds++ {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("%w within %v (%d rounds, %d refused switches): generation %d at %d, active generation %d at %d (last error: %v)",
				ErrRebuildBehind, p.opts.ChaseTimeout, rounds, refused, gen, cp, active, activeCP, err)
		}
		active, cp, activeCP, err = p.checkpoints(ctx, gen)
		if err == nil && cp >= activeCP {
			err = p.store.Activate(ctx, gen)
			if err == nil {
				p.logger.Info("rebuild: caught up with the active generation", "generation", gen, "checkpoint", cp,
					"active", active, "active_checkpoint", activeCP, "rounds", rounds, "refused", refused)
				return active, cp, nil
			}
			if !errors.Is(err, readmodel.ErrGenerationBehind) {
				return 0, 0, fmt.Errorf("activate generation %d: %w", gen, err)
			}
			refused++ // the active generation moved on since we read it
		}
		var read int
		if err == nil || errors.Is(err, readmodel.ErrGenerationBehind) {
			read, err = p.projectAfter(ctx, gen, cp)
		}
		if ctx.Err() != nil {
			return 0, 0, ctx.Err()
		}
		switch {
		case err != nil:
			p.logger.Warn("rebuild: catching up with the active generation interrupted; resuming", "generation", gen, "error", err, "after", wait)
		case read == 0:
			// Nothing past our checkpoint in $all yet: the active
			// generation is writing what we have; try the switch again.
			wait = p.opts.RetryBackoff
		default:
			wait = p.opts.RetryBackoff
			continue
		}
		if !backoff.Sleep(ctx, min(wait, time.Until(deadline))) {
			return 0, 0, ctx.Err()
		}
		if err != nil {
			wait = min(wait*2, p.opts.ResubscribeBackoffMax)
		}
	}
}

// checkpoints reads the active generation and the checkpoints of gen and of
// the active generation.
func (p *Projector) checkpoints(ctx context.Context, gen int) (active int, cp, activeCP uint64, err error) {
	if active, err = p.store.ActiveGeneration(ctx); err != nil {
		return 0, 0, 0, fmt.Errorf("active generation: %w", err)
	}
	if cp, err = p.store.Checkpoint(ctx, gen); err != nil {
		return 0, 0, 0, fmt.Errorf("checkpoint of generation %d: %w", gen, err)
	}
	if activeCP, err = p.store.Checkpoint(ctx, active); err != nil {
		return 0, 0, 0, fmt.Errorf("checkpoint of the active generation %d: %w", active, err)
	}
	return active, cp, activeCP, nil
}

// projectAfter reads up to Options.MaxBatch events of $all after position
// after and projects them into gen, its checkpoint moving to the last one
// read (whatever its type). It returns how many events it read.
func (p *Projector) projectAfter(ctx context.Context, gen int, after uint64) (int, error) {
	// Reading from a position includes the event there: one more.
	events, err := p.es.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: allPosition(after)}, uint64(p.opts.MaxBatch)+1)
	if err != nil {
		return 0, fmt.Errorf("read $all after %d: %w", after, err)
	}
	var items []item
	read, last := 0, after
	for i := range events {
		it, ok := toItem(&esdb.SubscriptionEvent{EventAppeared: &events[i]})
		if !ok || it.position <= after {
			continue
		}
		read++
		last = it.position
		if it.kind == kindEvent {
			items = append(items, it)
		}
	}
	if read == 0 {
		return 0, nil
	}
	return read, p.write(ctx, gen, items, last, false)
}

// Head is the position of the last event in $all (0 when it is empty).
func (p *Projector) Head(ctx context.Context) (uint64, error) {
	events, err := p.es.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return 0, fmt.Errorf("read the head of $all: %w", err)
	}
	if len(events) == 0 {
		return 0, nil
	}
	e := events[0]
	if e.Event != nil {
		return e.Event.Position.Commit, nil
	}
	if e.Link != nil {
		return e.Link.Position.Commit, nil
	}
	return 0, nil
}
