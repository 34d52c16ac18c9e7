package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

// write projects items (in position order) into generation gen and moves
// its checkpoint to checkpoint. Events that cannot be projected are parked;
// an error means nothing was skipped: the caller starts again from the
// stored checkpoint.
func (p *Projector) write(ctx context.Context, gen int, items []item, checkpoint uint64) error {
	err := p.retry(ctx, gen, func(ctx context.Context) error { return p.apply(ctx, gen, items, checkpoint) })
	if err == nil || ctx.Err() != nil {
		return err
	}
	if len(items) == 0 {
		return err
	}
	// The batch keeps failing. If the store fails whatever it is asked, it
	// is down: wait for it rather than park events that are not to blame.
	if herr := p.healthy(ctx, gen); herr != nil {
		return fmt.Errorf("read model unavailable (%w) after: %w", herr, err)
	}
	p.logger.Warn("projector: batch keeps failing; writing its events one by one", "generation", gen, "events", len(items), "error", err)
	for _, it := range items {
		err := p.retry(ctx, gen, func(ctx context.Context) error { return p.apply(ctx, gen, []item{it}, 0) })
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return err
		}
		if herr := p.healthy(ctx, gen); herr != nil {
			return fmt.Errorf("read model unavailable (%w) after: %w", herr, err)
		}
		if perr := p.park(ctx, it.event, err); perr != nil {
			return perr
		}
	}
	return p.retry(ctx, gen, func(ctx context.Context) error {
		return p.store.Apply(ctx, gen, readmodel.Batch{Checkpoint: checkpoint})
	})
}

// apply writes items as one batch: it loads their applications, folds the
// events onto them, parks those that do not decode (before the batch moves
// the checkpoint past them) and writes the batch.
func (p *Projector) apply(ctx context.Context, gen int, items []item, checkpoint uint64) error {
	ids := make([]string, 0, len(items))
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		if it.err == nil && !seen[it.event.ApplicationID] {
			seen[it.event.ApplicationID] = true
			ids = append(ids, it.event.ApplicationID)
		}
	}
	var stored map[string]readmodel.Application
	if len(ids) > 0 {
		var err error
		if stored, err = p.store.Applications(ctx, gen, ids); err != nil {
			return fmt.Errorf("load %d applications: %w", len(ids), err)
		}
	}
	f := projection.NewFolder(stored, len(items))
	for _, it := range items {
		err := it.err
		if err == nil {
			err = f.Add(it.event)
		}
		if err != nil {
			if perr := p.park(ctx, it.event, err); perr != nil {
				return perr
			}
		}
	}
	if err := p.store.Apply(ctx, gen, f.Batch(checkpoint)); err != nil {
		return fmt.Errorf("write %d events up to position %d: %w", f.Len(), checkpoint, err)
	}
	return nil
}

// healthy tells whether the store takes writes to gen at all: an empty
// batch that moves nothing.
func (p *Projector) healthy(ctx context.Context, gen int) error {
	return p.store.Apply(ctx, gen, readmodel.Batch{})
}

// park parks the event e names (its ID, Type, Stream and Position: all an
// event that does not decode has).
func (p *Projector) park(ctx context.Context, e projection.Event, cause error) error {
	err := p.store.Park(ctx, readmodel.ParkedEvent{Position: e.Position, Stream: e.Stream, EventType: e.Type,
		EventID: e.ID, Error: cause.Error(), ParkedAt: p.opts.Now().UTC()})
	if err != nil {
		return fmt.Errorf("park event at position %d: %w", e.Position, err)
	}
	if p.onPark != nil {
		p.onPark(e.Position)
	}
	var de *projection.DecodeError
	p.logger.Error("projector: event parked", "position", e.Position, "stream", e.Stream, "event_type", e.Type,
		"event_id", e.ID, "undecodable", errors.As(cause, &de), "error", cause)
	return nil
}

// retry runs fn up to Options.Attempts times with backoff; the last error
// is returned.
func (p *Projector) retry(ctx context.Context, gen int, fn func(context.Context) error) error {
	backoff := p.opts.RetryBackoff
	var err error
	for attempt := 1; ; attempt++ {
		if err = fn(ctx); err == nil {
			p.state.writeFailed(nil)
			return nil
		}
		p.state.writeFailed(err)
		if attempt >= p.opts.Attempts || ctx.Err() != nil {
			return err
		}
		p.logger.Warn("projector: write failed; retrying", "generation", gen, "attempt", attempt, "error", err, "after", backoff)
		if !sleep(ctx, backoff) {
			return err
		}
		backoff *= 2
	}
}
