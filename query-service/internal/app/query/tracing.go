package query

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/loanflow/loans/platform/readmodel"
)

// readSpan starts a client span for one read of the read model ("get",
// "list", "history", "stats"). The positions polled while waiting for a
// consistency token have none of their own: the wait's span covers them.
func (q *Queries) readSpan(ctx context.Context, op string) (context.Context, trace.Span) {
	return q.tracer.Start(ctx, "readmodel "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.operation", op)))
}

// endSpan ends a span, marked failed for an error other than the answers
// the queries expect from the store (not found, a bad cursor).
func endSpan(span trace.Span, err error) {
	if err != nil && !errors.Is(err, readmodel.ErrNotFound) && !errors.Is(err, readmodel.ErrInvalidCursor) {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
