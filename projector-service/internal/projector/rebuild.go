package projector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
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
// new generation, activates it (readers switch to it at once; they never see
// it half built), then, after grace, drops the generation it replaced. A
// running projector (Run) switches to the new generation by itself. If ctx
// ends before the new generation is complete, it is dropped and readers
// never see it.
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
	backoff := p.opts.RetryBackoff
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
		p.logger.Warn("rebuild: interrupted; resuming", "generation", gen, "error", err, "after", backoff)
		if !sleep(ctx, backoff) {
			return abandon(ctx.Err())
		}
		backoff = min(backoff*2, p.opts.ResubscribeBackoffMax)
	}

	if res.Old, err = p.store.ActiveGeneration(ctx); err != nil {
		return abandon(fmt.Errorf("active generation: %w", err))
	}
	if err := p.store.Activate(ctx, gen); err != nil {
		return abandon(fmt.Errorf("activate generation %d: %w", gen, err))
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
	sleep(ctx, grace)
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

// Head is the position of the last event in $all (0 when it is empty).
func (p *Projector) Head(ctx context.Context) (uint64, error) {
	rs, err := p.client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		return 0, fmt.Errorf("read the head of $all: %w", err)
	}
	defer rs.Close()
	e, err := rs.Recv()
	if errors.Is(err, io.EOF) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read the head of $all: %w", err)
	}
	if e.Event != nil {
		return e.Event.Position.Commit, nil
	}
	if e.Link != nil {
		return e.Link.Position.Commit, nil
	}
	return 0, nil
}
