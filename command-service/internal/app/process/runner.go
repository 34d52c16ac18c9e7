package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/telemetry"
)

// Runner hands a manager its events from the Log, from its durable
// checkpoint. Every event ends handled or parked before the checkpoint moves
// past it; a failure of the moment is tried again until it passes (or ctx
// ends: the event is then delivered again after a restart).
type Runner struct {
	log     Log
	manager Manager
	logger  *slog.Logger
	retry   retryPolicy

	// CheckpointEvery and CheckpointInterval bound how much is delivered
	// again after a crash: the checkpoint is saved after this many events or
	// this much time with progress, whichever comes first, and on stop.
	CheckpointEvery    int
	CheckpointInterval time.Duration

	// position is how far the manager got (nil before the checkpoint is
	// read), for the lag metric.
	position atomic.Pointer[Position]
}

var tracer = telemetry.Tracer("command-service/process")

// Position is how far the manager got: every event up to it is handled or
// parked; ok is false until the checkpoint was read.
func (r *Runner) Position() (p Position, ok bool) {
	if at := r.position.Load(); at != nil {
		return *at, true
	}
	return Position{}, false
}

// Name is the manager's name.
func (r *Runner) Name() string { return r.manager.Name }

// EventTypes are the event types the manager handles.
func (r *Runner) EventTypes() []string { return r.manager.EventTypes }

// NewRunner prepares a runner.
func NewRunner(log Log, m Manager, logger *slog.Logger) *Runner {
	return &Runner{log: log, manager: m, logger: logger.With("manager", m.Name), retry: defaultRetry,
		CheckpointEvery: 100, CheckpointInterval: time.Second}
}

// retryPolicy says how a failed attempt is tried again.
type retryPolicy struct {
	// attemptTimeout bounds one attempt at handling an event.
	attemptTimeout time.Duration
	// maxFailures is how many failures that are neither refusals nor
	// failures of the moment (a bug, a corrupt stream) an event may cause
	// before it is parked.
	maxFailures int
	// maxTries bounds the attempts at one event (0: until ctx ends).
	maxTries uint
}

var defaultRetry = retryPolicy{attemptTimeout: 10 * time.Second, maxFailures: 5}

// newBackOff spaces attempts: 50 ms, doubling, at most 5 s apart.
func newBackOff() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.Multiplier, b.MaxInterval = 50*time.Millisecond, 2, 5*time.Second
	return b
}

// untilDone runs op until it succeeds, fails for good (backoff.Permanent) or
// ctx ends, logging every failure.
func untilDone[T any](ctx context.Context, b backoff.BackOff, logger *slog.Logger, what string, op backoff.Operation[T]) (T, error) {
	return backoff.Retry(ctx, op, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0),
		backoff.WithNotify(func(err error, next time.Duration) {
			logger.Warn("process manager: "+what+" failed; retrying", "error", err, "after", next)
		}))
}

// Run delivers events until ctx ends, then saves the checkpoint. It returns
// nil: every failure is retried.
func (r *Runner) Run(ctx context.Context) error {
	pos, err := untilDone(ctx, newBackOff(), r.logger, "reading its checkpoint", func() (Position, error) {
		return r.log.Checkpoint(ctx, r.manager.Name)
	})
	if err != nil {
		return nil // ctx ended
	}
	saved := pos
	start := pos // a copy: pos changes as events are handled
	r.position.Store(&start)
	defer func() {
		if pos != saved {
			saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.log.SaveCheckpoint(saveCtx, r.manager.Name, pos); err != nil {
				r.logger.Warn("process manager: checkpoint not saved at stop; events after it will be delivered again", "error", err)
			}
		}
	}()
	b := newBackOff()
	_, _ = untilDone(ctx, b, r.logger, "following its events", func() (struct{}, error) {
		progressed, err := r.follow(ctx, &pos, &saved)
		if progressed {
			b.Reset() // a subscription that ran for a while resumes at once
		}
		if ctx.Err() != nil {
			return struct{}{}, backoff.Permanent(ctx.Err())
		}
		if err == nil {
			err = errors.New("the subscription ended")
		}
		return struct{}{}, err
	})
	return nil
}

// follow delivers what one subscription brings, until it fails or ctx ends.
func (r *Runner) follow(ctx context.Context, pos, saved *Position) (progressed bool, err error) {
	sub, err := r.log.Subscribe(ctx, *pos, r.manager.EventTypes)
	if err != nil {
		return false, err
	}
	defer sub.Close()
	lastSave := time.Now()
	sinceSave := 0
	for {
		d, err := sub.Next()
		if err != nil {
			return progressed, err
		}
		progressed = true
		if d.Event != nil {
			if err := r.deliver(ctx, *d.Event); err != nil {
				return progressed, err // ctx ended before the event was handled or parked
			}
			sinceSave++
		}
		*pos = d.Position
		at := d.Position
		r.position.Store(&at)
		if *pos != *saved && (sinceSave >= r.CheckpointEvery || time.Since(lastSave) >= r.CheckpointInterval) {
			if err := r.log.SaveCheckpoint(ctx, r.manager.Name, *pos); err != nil {
				r.logger.Warn("process manager: checkpoint not saved; will try again", "error", err)
			} else {
				*saved, sinceSave, lastSave = *pos, 0, time.Now()
			}
		}
	}
}

// deliver hands one event to the manager: it returns once the event is
// handled or parked, or with ctx's error.
func (r *Runner) deliver(ctx context.Context, rec Recorded) error {
	if !slices.Contains(r.manager.EventTypes, rec.Type) {
		return nil // the server's filter matches by prefix: another type that starts alike
	}
	e, err := r.decode(rec)
	if err == nil {
		// A span in the trace of the command that wrote the event: the
		// command the manager issues is its child.
		var span trace.Span
		ctx, span = tracer.Start(telemetry.ContextWithTraceParent(ctx, e.Metadata.TraceParent), "process manager "+r.manager.Name,
			trace.WithAttributes(attribute.String("loans.event_type", rec.Type), attribute.String("loans.event_id", rec.ID.String())))
		ctx = telemetry.WithCorrelationID(ctx, e.Metadata.CorrelationID)
		err = r.retry.handle(ctx, r.manager, e, r.logger)
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return r.park(ctx, rec, err)
}

// park records the event as parked, trying until the Log takes it.
func (r *Runner) park(ctx context.Context, rec Recorded, cause error) error {
	p := Parked{Manager: r.manager.Name, EventID: rec.ID, EventType: rec.Type, Stream: rec.Stream, Revision: rec.Revision,
		Position: rec.Position, Error: cause.Error(), ParkedAt: time.Now().UTC()}
	recorded, err := untilDone(ctx, newBackOff(), r.logger, "parking an event", func() (bool, error) {
		return r.log.Park(ctx, p)
	})
	if err != nil {
		return err
	}
	attrs := []any{"event_id", rec.ID, "event_type", rec.Type, "stream", rec.Stream, "revision", rec.Revision,
		"position", rec.Position.Commit, "error", cause}
	if !recorded {
		r.logger.Info("process manager: event delivered again is parked already", attrs...)
		return nil
	}
	r.logger.Error("process manager: event parked; replay it once its cause is fixed (command-service replay-parked)", attrs...)
	return nil
}

// decode turns a stored event into what managers handle. Metadata that does
// not decode is logged and left out: it carries the correlation, not what
// the command needs.
func (r *Runner) decode(rec Recorded) (Event, error) {
	e, mdErr, err := decode(rec)
	if mdErr != nil {
		r.logger.Warn("process manager: event metadata undecodable; handling without it", "event_id", rec.ID, "error", mdErr)
	}
	return e, err
}

func decode(rec Recorded) (e Event, metadataErr, err error) {
	payload, err := loanevents.Unmarshal(rec.Type, rec.Data)
	if err != nil {
		return Event{}, nil, fmt.Errorf("%w: %w", ErrUnhandleable, err)
	}
	md, metadataErr := loanevents.UnmarshalMetadata(rec.Metadata)
	return Event{ID: rec.ID, Type: rec.Type, Payload: payload, Metadata: md, Position: rec.Position.Commit}, metadataErr, nil
}

// handle hands e to m until it is handled, refused, or has failed too
// often; a failure of the moment is tried again (until ctx ends, or
// maxTries).
func (p retryPolicy) handle(ctx context.Context, m Manager, e Event, logger *slog.Logger) error {
	failures := 0
	logger = logger.With("event_id", e.ID)
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt, cancel := context.WithTimeout(ctx, p.attemptTimeout)
		defer cancel()
		err := m.Handle(attempt, e)
		switch {
		case err == nil:
			return struct{}{}, nil
		case Refused(err):
			return struct{}{}, backoff.Permanent(err)
		case ctx.Err() != nil:
			return struct{}{}, backoff.Permanent(ctx.Err())
		case transient(err):
			return struct{}{}, err
		}
		if failures++; failures >= p.maxFailures {
			return struct{}{}, backoff.Permanent(fmt.Errorf("%w (failed %d times)", err, failures))
		}
		return struct{}{}, err
	}, backoff.WithBackOff(newBackOff()), backoff.WithMaxElapsedTime(0), backoff.WithMaxTries(p.maxTries),
		backoff.WithNotify(func(err error, next time.Duration) {
			logger.Warn("process manager: event not handled; retrying", "error", err, "after", next)
		}))
	return err
}
