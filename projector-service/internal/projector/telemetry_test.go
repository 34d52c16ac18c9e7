package projector_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/telemetry"
	"github.com/loanflow/loans/platform/telemetry/telemetrytest"
	"github.com/loanflow/loans/projector-service/internal/projection"
	"github.com/loanflow/loans/projector-service/internal/projector"
	"github.com/loanflow/loans/projector-service/internal/projectortest"
)

// serveMetrics serves p's metrics and readiness on an admin listener, as
// the service does, and returns its address.
func serveMetrics(t *testing.T, p *projector.Projector) string {
	t.Helper()
	admin, err := telemetry.ServeProcess("127.0.0.1:0", health.Config{Interval: 10 * time.Millisecond, Timeout: time.Second, Logger: quiet},
		[]health.Check{{Name: "projector", Func: p.Ready}}, p.Collectors()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Stop)
	return admin.Addr()
}

// loanEvents counts the loan events of $all that project and those that
// do not decode (the projector parks them).
func loanEvents(t *testing.T, e *env) (projected, poison int) {
	t.Helper()
	for _, rec := range projectortest.ReadAll(t, e.client) {
		switch _, err := projection.Decode(rec); {
		case err == nil:
			projected++
		case !loanevents.IsKnown(rec.Type):
		default:
			poison++
		}
	}
	return projected, poison
}

// The lag gauges are 0 once everything received is written; while the read
// model refuses writes, the events received stay counted and their age
// grows; the counter counts every event projected, once.
func TestProjector_LagMetrics(t *testing.T) {
	e := newEnv(t)
	g := eventgen.New(31, t0)
	projectortest.AppendLifecycles(t, e.client, g, 20, 4)
	store := &faultyStore{Writer: e.store}
	p := projector.New(e.conn, store, quiet, fastOptions())
	addr := serveMetrics(t, p)
	start(t, p)
	_, last := projectortest.Fold(t, e.client)
	projectortest.WaitCheckpoint(t, e.reader, last, wait)
	projected, _ := loanEvents(t, e)
	caughtUp := func(events int) func() (bool, string) {
		return func() (bool, string) {
			m := telemetrytest.Scrape(t, addr)
			return m["loans_projector_events_total"] == float64(events) && m["loans_projector_lag_events"] == 0 &&
					m["loans_projector_lag_seconds"] == 0 && m[`loans_ready{check="projector"}`] == 1,
				fmt.Sprintf("events_total %v (want %d), lag_events %v, lag_seconds %v, ready %v; want caught up", m["loans_projector_events_total"],
					events, m["loans_projector_lag_events"], m["loans_projector_lag_seconds"], m[`loans_ready{check="projector"}`])
		}
	}
	eventually(t, wait, caughtUp(projected))
	if m := telemetrytest.Scrape(t, addr); m["loans_projector_batch_size_sum"] != float64(projected) || m[`loans_parked_events{component="projector"}`] != 0 {
		t.Errorf("batch sizes sum to %v, want %d; parked %v, want 0", m["loans_projector_batch_size_sum"], projected,
			m[`loans_parked_events{component="projector"}`])
	}

	store.setFail(func(method string, _ *readmodel.Batch) bool { return method == "Apply" })
	life := g.Lifecycle()
	projectortest.Append(t, e.client, life...)
	var firstAge float64
	eventually(t, wait, func() (bool, string) {
		m := telemetrytest.Scrape(t, addr)
		firstAge = m["loans_projector_lag_seconds"]
		return m["loans_projector_lag_events"] >= 1 && firstAge > 0,
			fmt.Sprintf("lag_events %v, lag_seconds %v while the read model refuses writes", m["loans_projector_lag_events"], firstAge)
	})
	eventually(t, wait, func() (bool, string) {
		age := telemetrytest.Scrape(t, addr)["loans_projector_lag_seconds"]
		return age > firstAge, fmt.Sprintf("lag_seconds %v, not growing from %v", age, firstAge)
	})

	store.setFail(nil)
	projected, _ = loanEvents(t, e)
	eventually(t, wait, caughtUp(projected))
}

// traced is the first event of a new application, its metadata carrying
// traceParent as the command service records it.
func traced(t *testing.T, g *eventgen.Generator, traceParent string) eventgen.Append {
	t.Helper()
	a := g.Lifecycle()[0]
	a.Events = a.Events[:1]
	md, err := loanevents.UnmarshalMetadata(a.Events[0].Metadata)
	if err != nil {
		t.Fatal(err)
	}
	md.TraceParent = traceParent
	if a.Events[0].Metadata, err = loanevents.MarshalMetadata(md); err != nil {
		t.Fatal(err)
	}
	return a
}

// The projector's writes join the traces of the commands whose events they
// project: a live event's write is a child of the span that appended it; a
// catch-up batch links to the traces of its events.
func TestProjector_TracesJoinTheCommands(t *testing.T) {
	exporter, flush := telemetrytest.Tracing(t)
	command := func() (trace.SpanContext, string) {
		ctx, span := telemetry.Tracer("test").Start(context.Background(), "command")
		defer span.End()
		return span.SpanContext(), telemetry.TraceParent(ctx)
	}
	// writes are the projector's write spans, once exported.
	writes := func(cond func(tracetest.SpanStub) bool) []tracetest.SpanStub {
		flush()
		var out []tracetest.SpanStub
		for _, s := range exporter.GetSpans() {
			if s.Name == "projector write" && cond(s) {
				out = append(out, s)
			}
		}
		return out
	}
	e := newEnv(t)
	g := eventgen.New(32, t0)

	// Caught up from: three commands' events.
	var before []trace.SpanContext
	var last uint64
	for range 3 {
		sc, tp := command()
		before = append(before, sc)
		last = projectortest.Append(t, e.client, traced(t, g, tp))
	}
	p := projector.New(e.conn, e.store, quiet, fastOptions())
	start(t, p)
	projectortest.WaitCheckpoint(t, e.reader, last, wait)
	linked := map[trace.SpanID]bool{}
	for _, w := range writes(func(tracetest.SpanStub) bool { return true }) {
		for _, l := range w.Links {
			linked[l.SpanContext.SpanID()] = true
		}
	}
	for i, sc := range before {
		if !linked[sc.SpanID()] {
			t.Errorf("no write links to command %d's span %v (links: %v)", i, sc.SpanID(), linked)
		}
	}

	// Live: one event, one write, in the command's trace.
	eventually(t, wait, func() (bool, string) {
		err := p.Ready(context.Background())
		return err == nil, fmt.Sprintf("not live: %v", err)
	})
	cmd, tp := command()
	pos := projectortest.Append(t, e.client, traced(t, g, tp))
	projectortest.WaitCheckpoint(t, e.reader, pos, wait)
	var w tracetest.SpanStub
	eventually(t, wait, func() (bool, string) {
		ws := writes(func(s tracetest.SpanStub) bool { return s.SpanContext.TraceID() == cmd.TraceID() })
		if len(ws) != 1 {
			return false, fmt.Sprintf("%d writes in the command's trace, want 1", len(ws))
		}
		w = ws[0]
		return true, ""
	})
	if w.Parent.SpanID() != cmd.SpanID() {
		t.Errorf("the live write's parent is %v, want the command's span %v", w.Parent.SpanID(), cmd.SpanID())
	}
	var apply bool
	for _, s := range exporter.GetSpans() {
		if s.Name == "readmodel apply" && s.Parent.SpanID() == w.SpanContext.SpanID() {
			apply = true
		}
	}
	if !apply {
		t.Error("no readmodel apply span under the live write")
	}
}
