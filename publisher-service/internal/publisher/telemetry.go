package publisher

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/loanflow/loans/platform/telemetry"
)

// Collectors are the publisher's metrics, for the process's registry (the
// names are its contract with deploy/'s dashboards and alerts):
// loans_publisher_events_total and loans_publisher_lag_events.
func (p *Publisher) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Name: "publisher_events_total",
			Help: "Loan events the broker confirmed (publisher confirms). An event published again after a reconnect or a restart " +
				"(at least once) counts again.",
		}, func() float64 { return float64(p.published.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: telemetry.Namespace, Name: "publisher_lag_events",
			Help: "Loan events the publisher has received from its subscription to $all and the broker has not confirmed yet. " +
				"The event store tells no count of the events after a position, so while catching up this is a lower bound " +
				"(at most about a batch waiting plus -in-flight). 0 when caught up. While the broker is away the events " +
				"received stay counted; while the event store is away nothing is received (see loans_ready).",
		}, func() float64 { return float64(max(p.unconfirmed.Load(), 0)) }),
	}
}

// logContext is the context of an event's log lines: its command's trace
// and its correlation ID, as far as its headers tell.
func logContext(msg Message) context.Context {
	ctx := context.Background()
	if id, ok := msg.Publishing.Headers[HeaderCorrelationID].(string); ok {
		ctx = telemetry.WithCorrelationID(ctx, id)
	}
	if tp, ok := msg.Publishing.Headers[HeaderTraceParent].(string); ok {
		ctx = telemetry.ContextWithTraceParent(ctx, tp)
	}
	return ctx
}
