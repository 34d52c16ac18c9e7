package query

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Margins kept before a call's deadline when waiting for a consistency
// token: a tenth of the time left, within these bounds, so that the refusal
// (READ_MODEL_BEHIND) reaches the caller before its own deadline fires.
const (
	minDeadlineMargin = 5 * time.Millisecond
	maxDeadlineMargin = 250 * time.Millisecond
)

// catchUp returns once the read model has caught up with token: the commit
// position a command returned, passed back by the caller (0: no wait). It
// polls the read model's position, the interval doubling from pollInterval
// to maxPollInterval, until ctx's deadline draws near; then it refuses with
// READ_MODEL_BEHIND, saying how far behind the read model is. Without a
// deadline it waits until ctx ends (the service gives every call one).
//
// The wait is a span of the query's trace, so a slow answer shows whether
// the time went to the projector (this span) or to the read itself; its
// duration is told to Config.ConsistencyWait.
func (q *Queries) catchUp(ctx context.Context, token uint64) error {
	if token == 0 {
		return nil
	}
	start := time.Now()
	ctx, span := q.tracer.Start(ctx, "query consistency wait", trace.WithAttributes(attribute.Int64("loans.consistency_token", int64(token))))
	position, err := q.poll(ctx, token)
	if q.consistencyWait != nil {
		q.consistencyWait.Observe(time.Since(start).Seconds())
	}
	span.SetAttributes(attribute.Int64("loans.readmodel.position", int64(position)))
	endSpan(span, err)
	return err
}

// poll waits for the read model to reach token; it returns the last
// position read.
func (q *Queries) poll(ctx context.Context, token uint64) (uint64, error) {
	giveUp, bounded := ctx.Deadline()
	if bounded {
		giveUp = giveUp.Add(-min(max(time.Until(giveUp)/10, minDeadlineMargin), maxDeadlineMargin))
	}
	var position uint64
	interval := q.pollInterval
	for {
		p, err := q.reader.Position(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return position, ended(ctx, position, token)
			}
			return position, fmt.Errorf("read the read model's position: %w", err)
		}
		position = p
		if position >= token {
			return position, nil
		}
		wait := interval
		if bounded {
			left := time.Until(giveUp)
			if left <= 0 {
				return position, behind(position, token)
			}
			wait = min(wait, left)
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return position, ended(ctx, position, token)
		case <-timer.C:
		}
		interval = min(2*interval, q.maxPollInterval)
	}
}

// ended is the outcome of a wait cut short by its context: the caller gone,
// or the deadline passed (the read model is still behind).
func ended(ctx context.Context, position, token uint64) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return behind(position, token)
}

func behind(position, token uint64) *Error {
	return &Error{
		Kind:   KindUnavailable,
		Reason: ReasonReadModelBehind,
		Message: fmt.Sprintf("the read model has reached position %d, %d short of the consistency token %d; "+
			"retry later, or read without the token", position, token-position, token),
		Metadata: map[string]string{
			"position":          strconv.FormatUint(position, 10),
			"consistency_token": strconv.FormatUint(token, 10),
		},
	}
}
