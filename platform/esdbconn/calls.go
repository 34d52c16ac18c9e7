package esdbconn

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/loanflow/loans/platform/telemetry"
)

// appendSeconds is how long appends take, whatever their outcome: the
// event store's share of a command's latency.
var appendSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
	Namespace: telemetry.Namespace, Name: "eventstore_append_duration_seconds",
	Help:    "Time to append to an event store stream (successful or not), in seconds.",
	Buckets: telemetry.LatencyBuckets,
})

// Collectors are the connection's metrics, for a process's registry.
func Collectors() []prometheus.Collector { return []prometheus.Collector{appendSeconds} }

var tracer = telemetry.Tracer("esdbconn")

// span starts a client span for one call on a stream ("" for $all).
func span(ctx context.Context, op, stream string) (context.Context, trace.Span) {
	attrs := []attribute.KeyValue{attribute.String("db.system", "eventstoredb"), attribute.String("db.operation", op)}
	if stream != "" {
		attrs = append(attrs, attribute.String("db.eventstoredb.stream", stream))
	}
	return tracer.Start(ctx, "eventstore "+op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
}

func end(s trace.Span, err error) {
	if err != nil {
		s.RecordError(err)
		s.SetStatus(codes.Error, err.Error())
	}
	s.End()
}

// The calls every service makes, each run through Do. Anything else the
// client offers can be called with Do.

// Append appends events to a stream (the client's AppendToStream). A wrong
// expected revision is the client's *esdb.Error with code
// esdb.ErrorCodeWrongExpectedVersion.
func (c *Conn) Append(ctx context.Context, stream string, opts esdb.AppendToStreamOptions, events ...esdb.EventData) (*esdb.WriteResult, error) {
	ctx, s := span(ctx, "append", stream)
	s.SetAttributes(attribute.Int("db.eventstoredb.events", len(events)))
	start := time.Now()
	r, err := Do(ctx, c, func(ctx context.Context, client *esdb.Client) (*esdb.WriteResult, error) {
		return client.AppendToStream(ctx, stream, opts, events...)
	})
	appendSeconds.Observe(time.Since(start).Seconds())
	end(s, err)
	return r, err
}

// SetStreamMetadata sets a stream's metadata ($maxCount, $maxAge, …).
func (c *Conn) SetStreamMetadata(ctx context.Context, stream string, opts esdb.AppendToStreamOptions, meta esdb.StreamMetadata) (*esdb.WriteResult, error) {
	return Do(ctx, c, func(ctx context.Context, client *esdb.Client) (*esdb.WriteResult, error) {
		return client.SetStreamMetadata(ctx, stream, opts, meta)
	})
}

// ReadStream reads up to count events of a stream; a stream that does not
// exist (or was deleted softly) reads empty. All of them are held in memory:
// bound count.
func (c *Conn) ReadStream(ctx context.Context, stream string, opts esdb.ReadStreamOptions, count uint64) ([]esdb.ResolvedEvent, error) {
	ctx, s := span(ctx, "read", stream)
	events, err := Do(ctx, c, func(ctx context.Context, client *esdb.Client) ([]esdb.ResolvedEvent, error) {
		rs, err := client.ReadStream(ctx, stream, opts, count)
		if err != nil {
			return nil, err
		}
		return receiveAll(rs)
	})
	s.SetAttributes(attribute.Int("db.eventstoredb.events", len(events)))
	end(s, err)
	return events, err
}

// ReadAll reads up to count events of $all (which needs the rights to read
// it). All of them are held in memory: bound count.
func (c *Conn) ReadAll(ctx context.Context, opts esdb.ReadAllOptions, count uint64) ([]esdb.ResolvedEvent, error) {
	return Do(ctx, c, func(ctx context.Context, client *esdb.Client) ([]esdb.ResolvedEvent, error) {
		rs, err := client.ReadAll(ctx, opts, count)
		if err != nil {
			return nil, err
		}
		return receiveAll(rs)
	})
}

func receiveAll(rs *esdb.ReadStream) ([]esdb.ResolvedEvent, error) {
	defer rs.Close()
	var out []esdb.ResolvedEvent
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			var esErr *esdb.Error
			if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
				return nil, nil
			}
			return nil, err
		}
		out = append(out, *re)
	}
}

// SubscribeToAll starts a catch-up subscription to $all. Starting it is
// bounded by ctx like any call; the subscription then lives until ctx ends,
// its Close, or the Conn's Close. Its Recv may be called outside any call.
func (c *Conn) SubscribeToAll(ctx context.Context, opts esdb.SubscribeToAllOptions) (*esdb.Subscription, error) {
	return Do(ctx, c, func(ctx context.Context, client *esdb.Client) (*esdb.Subscription, error) {
		return client.SubscribeToAll(ctx, opts)
	})
}

// SubscribeToStream starts a catch-up subscription to one stream; see
// SubscribeToAll.
func (c *Conn) SubscribeToStream(ctx context.Context, stream string, opts esdb.SubscribeToStreamOptions) (*esdb.Subscription, error) {
	return Do(ctx, c, func(ctx context.Context, client *esdb.Client) (*esdb.Subscription, error) {
		return client.SubscribeToStream(ctx, stream, opts)
	})
}
