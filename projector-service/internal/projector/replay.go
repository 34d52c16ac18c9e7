package projector

import (
	"context"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

// ReplayOutcome is what replaying one parked event did.
type ReplayOutcome struct {
	Parked readmodel.ParkedEvent
	// Err is why it still cannot be projected; it stays parked.
	Err error
	// Behind is set when it was projected but its application had already
	// moved past it (later events were projected while it was parked): the
	// store keeps the application as those left it (writes are guarded by
	// position) and only the event's history entry is added.
	Behind bool
}

// ReplayParked reads each parked event back from the event store, oldest
// first, projects it into the active generation and unparks it; those that
// still fail stay parked, with the reason in their outcome.
//
// What the read model's idempotency rules let a late event change is
// limited: its history entry is added, its application is updated only if
// no later event of it was applied (else Behind), and its statistics
// contribution counts only if nothing later was counted into its day and
// into the funnel (which counts every event, so in practice it does not).
// A rebuild afterwards folds the replayed events in fully.
func (p *Projector) ReplayParked(ctx context.Context) ([]ReplayOutcome, error) {
	gen, err := p.store.ActiveGeneration(ctx)
	if err != nil {
		return nil, fmt.Errorf("active generation: %w", err)
	}
	parked, err := p.store.Parked(ctx)
	if err != nil {
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	out := make([]ReplayOutcome, 0, len(parked))
	for _, pe := range parked {
		o := ReplayOutcome{Parked: pe}
		o.Behind, o.Err = p.replay(ctx, gen, pe)
		if o.Err == nil {
			if err := p.store.Unpark(ctx, pe.Position); err != nil {
				o.Err = fmt.Errorf("projected, but not unparked: %w", err)
			}
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		out = append(out, o)
	}
	return out, nil
}

func (p *Projector) replay(ctx context.Context, gen int, pe readmodel.ParkedEvent) (behind bool, err error) {
	rec, err := p.ReadAt(ctx, pe.Position)
	if err != nil {
		return false, err
	}
	e, err := projection.Decode(rec)
	if err != nil {
		return false, err
	}
	apps, err := p.store.Applications(ctx, gen, []string{e.ApplicationID})
	if err != nil {
		return false, fmt.Errorf("load application %s: %w", e.ApplicationID, err)
	}
	r, err := projection.Project(apps[e.ApplicationID], e)
	if err != nil {
		return false, err
	}
	b := readmodel.Batch{History: []readmodel.HistoryEntry{r.History}, Contributions: []readmodel.Contribution{r.Contribution}}
	if r.Changed {
		b.Applications = []readmodel.Application{r.Application}
	}
	// Checkpoint zero: a checkpoint never moves backward.
	if err := p.store.Apply(ctx, gen, b); err != nil {
		return false, fmt.Errorf("write: %w", err)
	}
	return !r.Changed, nil
}

// ReadAt reads the event at a $all position.
func (p *Projector) ReadAt(ctx context.Context, position uint64) (projection.Recorded, error) {
	events, err := p.es.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Forwards, From: esdb.Position{Commit: position, Prepare: position}}, 1)
	if err != nil {
		return projection.Recorded{}, fmt.Errorf("read $all at %d: %w", position, err)
	}
	if len(events) == 0 {
		return projection.Recorded{}, fmt.Errorf("no event at position %d in the event store", position)
	}
	e := events[0].OriginalEvent()
	if e == nil || e.Position.Commit != position {
		return projection.Recorded{}, fmt.Errorf("no event at position %d in the event store", position)
	}
	return Recorded(e), nil
}
