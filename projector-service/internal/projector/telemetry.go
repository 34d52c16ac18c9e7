package projector

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/loanflow/loans/platform/telemetry"
)

// What the projector tells about itself: its metrics (Collectors; the names
// are its contract with deploy/'s dashboards and alerts) and a span per
// write, joined to the traces of the commands whose events it projects.

// maxLinks bounds the links of a write's span (the SDK's default limit).
const maxLinks = 128

// parkedTimeout bounds the read of the parked events at a scrape.
const parkedTimeout = 2 * time.Second

// metrics are a projector's own.
type metrics struct {
	events    prometheus.Counter
	batchSize prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Name: "projector_events_total",
			Help: "Loan events projected into the read model, counted once their write went through (a parked event is not: " +
				"see loans_parked_events; an event delivered again after a restart counts again).",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Name: "projector_batch_size",
			Help: "Loan events per write to the read model, parked ones included, observed once the write went through (writes " +
				"that only move the checkpoint are not observed): one at a time when live, up to -batch while catching up.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9), // 1 … 65,536
		}),
	}
}

// Collectors are the projector's metrics, for the process's registry:
// loans_projector_events_total, loans_projector_batch_size,
// loans_projector_lag_events, loans_projector_lag_seconds and
// loans_parked_events{component="projector"}.
func (p *Projector) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		p.metrics.events, p.metrics.batchSize,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: telemetry.Namespace, Name: "projector_lag_events",
			Help: "Loan events the projector has received from its subscription to $all and not yet written to the read model. " +
				"The event store tells no count of the events after a position, so while catching up this is a lower bound " +
				"(at most about two batches); loans_projector_lag_seconds tells how far behind. 0 when caught up. While the " +
				"read model refuses writes the events received stay counted; while the event store is away nothing is " +
				"received (see loans_ready{check=\"projector\"}).",
		}, func() float64 { return float64(p.lag.events()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: telemetry.Namespace, Name: "projector_lag_seconds",
			Help: "Age of the oldest loan event received from $all and not yet written to the read model: now minus the time " +
				"the event store recorded it, in seconds. 0 when every event received is written (caught up); it grows while " +
				"the read model refuses writes.",
		}, func() float64 { return p.lag.seconds(time.Now()) }),
		&parkedCollector{p: p, desc: prometheus.NewDesc(telemetry.Namespace+"_parked_events",
			"Events parked and not resolved, by component (projector: events that could not be projected): each needs an "+
				"operator (projector-service replay-parked). Read from the read model at each scrape; absent when it does not answer.",
			nil, prometheus.Labels{"component": "projector"})},
	}
}

// parkedCollector reads the parked events at each scrape: a rebuild or
// replay-parked (another process) unparks them, so no count kept here
// would stay true.
type parkedCollector struct {
	p    *Projector
	desc *prometheus.Desc
}

func (c *parkedCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect gives nothing when the read model does not answer in time: no
// value rather than a wrong one (readiness says the store is away).
func (c *parkedCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), parkedTimeout)
	defer cancel()
	parked, err := c.p.store.Parked(ctx)
	if err != nil {
		c.p.logger.DebugContext(ctx, "projector: parked events not counted", "error", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(len(parked)))
}

// lag is what follow has received and not written yet, for the lag
// gauges. The decoding goroutine counts what it hands over (inChannel);
// the follower counts what it takes (pending) and notes the recorded time
// of the oldest of them, and of the last event written.
type lag struct {
	inChannel   atomic.Int64
	pending     atomic.Int64
	oldest      atomic.Int64 // recorded time of the oldest pending event (UnixNano)
	lastWritten atomic.Int64 // recorded time of the last event written
}

func (l *lag) received() { l.inChannel.Add(1) }

// taken notes an event the follower took into its batch.
func (l *lag) taken(recorded int64) {
	l.inChannel.Add(-1)
	if l.pending.Add(1) == 1 {
		l.oldest.Store(recorded)
	}
}

// written notes that the batch in hand is written, its last event recorded
// at lastRecorded (0: it held none).
func (l *lag) written(lastRecorded int64) {
	if lastRecorded != 0 {
		l.lastWritten.Store(lastRecorded)
	}
	l.pending.Store(0)
	l.oldest.Store(0)
}

// reset forgets what the last follow received, before the next one
// receives it again.
func (l *lag) reset() {
	l.inChannel.Store(0)
	l.written(0)
}

func (l *lag) events() int64 { return max(l.inChannel.Load()+l.pending.Load(), 0) }

func (l *lag) seconds(now time.Time) float64 {
	if l.events() == 0 {
		return 0
	}
	// Between a write and the follower taking the next event, the oldest
	// waits in the channel: it was recorded after the last event written.
	oldest := l.oldest.Load()
	if oldest == 0 {
		oldest = l.lastWritten.Load()
	}
	if oldest == 0 {
		return 0
	}
	return max(now.Sub(time.Unix(0, oldest)).Seconds(), 0)
}

// writeSpan starts the span of one write of items. A live write of one
// event continues that event's trace (the command that caused it) as a
// child of the span that appended it; any other links to the traces of
// its events, up to maxLinks of them. The context also carries the
// event's correlation ID then, for the logs.
func (p *Projector) writeSpan(ctx context.Context, gen int, items []item, checkpoint uint64, live bool) (context.Context, trace.Span) {
	child := live && len(items) == 1
	if child {
		ctx = telemetry.ContextWithTraceParent(ctx, items[0].traceParent)
		ctx = telemetry.WithCorrelationID(ctx, items[0].event.Metadata.CorrelationID)
	}
	ctx, span := p.tracer.Start(ctx, "projector write", trace.WithAttributes(
		attribute.Int("loans.readmodel.generation", gen),
		attribute.Int("loans.projector.events", len(items)),
		attribute.Int64("loans.projector.checkpoint", int64(checkpoint)),
		attribute.Bool("loans.projector.live", live)))
	if child || !span.IsRecording() {
		return ctx, span
	}
	seen := make(map[string]bool)
	for _, it := range items {
		if len(seen) >= maxLinks {
			break
		}
		if it.traceParent == "" || seen[it.traceParent] {
			continue
		}
		seen[it.traceParent] = true
		if sc := telemetry.SpanContextOf(it.traceParent); sc.IsValid() {
			span.AddLink(trace.Link{SpanContext: sc})
		}
	}
	return ctx, span
}

// storeSpan starts a client span for one call on the read model.
func (p *Projector) storeSpan(ctx context.Context, op string, events int) (context.Context, trace.Span) {
	return p.tracer.Start(ctx, "readmodel "+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.operation", op), attribute.Int("loans.projector.events", events)))
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
