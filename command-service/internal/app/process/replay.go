package process

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// ReplayOutcome is what replaying one parked event did.
type ReplayOutcome struct {
	Parked Parked
	// Err is why it still cannot be handled; it stays parked. Nil: it was
	// handled and is now resolved.
	Err error
}

// replayRetry tries a failure of the moment a few times, no more: an
// operator is waiting, and the event stays parked for the next replay.
var replayRetry = retryPolicy{attemptTimeout: 10 * time.Second, maxFailures: 1, maxTries: 4}

// Replay reads each of m's parked events back from the Log, oldest first,
// and hands it to m again. One handled now is marked resolved; one that still
// fails stays parked, with the reason in its outcome. The commands managers
// issue are idempotent (their IDs derive from the event), so an event handled
// meanwhile by a running manager is answered with its first result.
func Replay(ctx context.Context, log Log, m Manager, logger *slog.Logger) ([]ReplayOutcome, error) {
	parked, err := log.Parked(ctx, m.Name)
	if err != nil {
		return nil, fmt.Errorf("parked events of %s: %w", m.Name, err)
	}
	logger = logger.With("manager", m.Name)
	out := make([]ReplayOutcome, 0, len(parked))
	for _, p := range parked {
		o := ReplayOutcome{Parked: p, Err: replay(ctx, log, m, p, logger)}
		if o.Err == nil {
			if err := log.Resolve(ctx, p); err != nil {
				o.Err = fmt.Errorf("handled, but not marked resolved: %w", err)
			}
		}
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		out = append(out, o)
	}
	return out, nil
}

func replay(ctx context.Context, log Log, m Manager, p Parked, logger *slog.Logger) error {
	rec, err := log.Read(ctx, p.Stream, p.Revision)
	if err != nil {
		return fmt.Errorf("read %s@%d back: %w", p.Stream, p.Revision, err)
	}
	if rec.ID != p.EventID {
		return fmt.Errorf("%s@%d is event %s now, not the parked %s", p.Stream, p.Revision, rec.ID, p.EventID)
	}
	e, _, err := decode(rec)
	if err != nil {
		return err
	}
	return replayRetry.handle(ctx, m, e, logger)
}
