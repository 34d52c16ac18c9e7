package projector

import (
	"context"
	"errors"
	"fmt"

	"github.com/loanflow/loans/platform/backoff"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/telemetry"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

// write projects items (in position order) into generation gen and moves
// its checkpoint to checkpoint. Events that cannot be projected are parked;
// an error means nothing was skipped: the caller starts again from the
// stored checkpoint. live says the subscription has caught up (the write's
// span then joins the trace of a lone event's command).
func (p *Projector) write(ctx context.Context, gen int, items []item, checkpoint uint64, live bool) (err error) {
	ctx, span := p.writeSpan(ctx, gen, items, checkpoint, live)
	projected := 0
	defer func() {
		if err == nil && len(items) > 0 {
			p.metrics.events.Add(float64(projected))
			p.metrics.batchSize.Observe(float64(len(items)))
		}
		endSpan(span, err)
	}()
	err = p.retry(ctx, gen, func(ctx context.Context) (err error) {
		projected, err = p.apply(ctx, gen, items, checkpoint)
		return err
	})
	if err == nil || ctx.Err() != nil {
		return err
	}
	projected = 0
	if len(items) == 0 {
		return err
	}
	// The batch keeps failing. If the store fails whatever it is asked, it
	// is down: wait for it rather than park events that are not to blame.
	if herr := p.healthy(ctx, gen); herr != nil {
		return fmt.Errorf("read model unavailable (%w) after: %w", herr, err)
	}
	p.logger.WarnContext(ctx, "projector: batch keeps failing; writing its events one by one", "generation", gen, "events", len(items), "error", err)
	for _, it := range items {
		var n int
		err := p.retry(ctx, gen, func(ctx context.Context) (err error) {
			n, err = p.apply(ctx, gen, []item{it}, 0)
			return err
		})
		if err == nil {
			projected += n
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
// the checkpoint past them) and writes the batch. It returns how many
// events the batch projected.
func (p *Projector) apply(ctx context.Context, gen int, items []item, checkpoint uint64) (int, error) {
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
		loadCtx, span := p.storeSpan(ctx, "applications", len(ids))
		var err error
		stored, err = p.store.Applications(loadCtx, gen, ids)
		endSpan(span, err)
		if err != nil {
			return 0, fmt.Errorf("load %d applications: %w", len(ids), err)
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
				return 0, perr
			}
		}
	}
	applyCtx, span := p.storeSpan(ctx, "apply", f.Len())
	err := p.store.Apply(applyCtx, gen, f.Batch(checkpoint))
	endSpan(span, err)
	if err != nil {
		return 0, fmt.Errorf("write %d events up to position %d: %w", f.Len(), checkpoint, err)
	}
	return f.Len(), nil
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
	p.logger.ErrorContext(telemetry.WithCorrelationID(ctx, e.Metadata.CorrelationID), "projector: event parked", "position", e.Position, "stream", e.Stream, "event_type", e.Type,
		"event_id", e.ID, "undecodable", errors.As(cause, &de), "error", cause)
	return nil
}

// retry runs fn up to Options.Attempts times with backoff; the last error
// is returned.
func (p *Projector) retry(ctx context.Context, gen int, fn func(context.Context) error) error {
	wait := p.opts.RetryBackoff
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
		p.logger.WarnContext(ctx, "projector: write failed; retrying", "generation", gen, "attempt", attempt, "error", err, "after", wait)
		if !backoff.Sleep(ctx, wait) {
			return err
		}
		wait *= 2
	}
}
