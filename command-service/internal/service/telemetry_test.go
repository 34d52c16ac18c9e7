package service_test

import (
	"fmt"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/metadata"

	"github.com/loanflow/loans/command-service/internal/service"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/telemetry"
	"github.com/loanflow/loans/platform/telemetry/telemetrytest"
)

// withAdmin serves the admin listener on a free loopback port.
func withAdmin() option { return func(c *service.Config) { c.AdminAddr = "127.0.0.1:0" } }

// The metrics count what was done: commands by outcome and reason, the
// gRPC calls by code, latencies, the process managers' work.
func TestTelemetry_MetricsCountWhatWasDone(t *testing.T) {
	e := newEnv(t, withAdmin())
	ctx := callCtx(t)
	ok, refused := newID(), newID()
	e.requestLoan(ctx, t, ok)
	if _, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: refused, Amount: 100, Duration: anyDuration}); err == nil {
		t.Fatal("an amount of 100 was accepted")
	}
	e.submit(ctx, t, ok)
	e.awaitEvent(t, reviewStream(ok), loanevents.TypeLoanReviewIssued)

	want := map[string]float64{
		`loans_commands_total{command="RequestLoan",outcome="ok",reason=""}`:                                                                            1,
		`loans_commands_total{command="RequestLoan",outcome="refused",reason="AMOUNT_IS_TOO_LOW"}`:                                                      1,
		`loans_commands_total{command="SubmitLoanRequest",outcome="ok",reason=""}`:                                                                      1,
		`loans_commands_total{command="IssueLoanReview",outcome="ok",reason=""}`:                                                                        1,
		`loans_command_duration_seconds_count{command="RequestLoan"}`:                                                                                   2,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="RequestLoan",grpc_service="loans.v1.LoanCommandService",grpc_type="unary"}`:              1,
		`grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="RequestLoan",grpc_service="loans.v1.LoanCommandService",grpc_type="unary"}`: 1,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="ApproveLoan",grpc_service="loans.v1.LoanCommandService",grpc_type="unary"}`:              0,
		`loans_ready{check="eventstore"}`:                        1,
		`loans_ready{check="process"}`:                           1,
		`loans_process_manager_lag_events{manager="loanReview"}`: 0,
		`loans_parked_events{component="loanReview"}`:            0,
		`loans_command_retries_total`:                            0,
	}
	eventually(t, asyncTimeout, func() (bool, string) {
		got := telemetrytest.Scrape(t, e.svc.AdminAddr())
		for series, v := range want {
			if g, present := got[series]; !present || g != v {
				return false, fmt.Sprintf("%s = %v (present %v), want %v", series, g, present, v)
			}
		}
		for _, series := range []string{"loans_eventstore_append_duration_seconds_count", "go_goroutines", "process_resident_memory_bytes"} {
			if got[series] <= 0 {
				return false, series + " missing"
			}
		}
		return true, ""
	})
}

// One trace holds the caller's call, the command's event store append,
// and the process manager's follow-up command; the events record the trace
// context so the projector can join it.
func TestTelemetry_TraceFollowsTheCommandIntoTheProcessManager(t *testing.T) {
	exporter, flush := telemetrytest.Tracing(t)
	e := newEnv(t)
	// The caller's own trace: its traceparent travels in the gRPC metadata.
	caller := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xca, 0x11}, SpanID: trace.SpanID{0x01}, TraceFlags: trace.FlagsSampled})
	ctx := metadata.AppendToOutgoingContext(callCtx(t), "traceparent", "00-"+caller.TraceID().String()+"-"+caller.SpanID().String()+"-01")
	id := newID()
	e.requestLoan(ctx, t, id)
	e.submit(ctx, t, id)
	review := e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	submitted := e.read(t, requestStream(id))[1]

	for _, ev := range []storedEvent{submitted, review[0]} {
		if sc := telemetry.SpanContextOf(ev.Meta.TraceParent); sc.TraceID() != caller.TraceID() {
			t.Fatalf("%s records trace %v (%q), want the caller's %v", ev.Type, sc.TraceID(), ev.Meta.TraceParent, caller.TraceID())
		}
	}
	flush()
	spans := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range exporter.GetSpans() {
		if s.SpanContext.TraceID() == caller.TraceID() {
			spans[s.Name] = append(spans[s.Name], s.Snapshot())
		}
	}
	for _, name := range []string{"loans.v1.LoanCommandService/RequestLoan", "loans.v1.LoanCommandService/SubmitLoanRequest",
		"eventstore append", "process manager loanReview"} {
		if len(spans[name]) == 0 {
			t.Fatalf("no %q span in the caller's trace; spans: %v", name, keys(spans))
		}
	}
	// The manager's span is the child of the span the submitted event
	// recorded, and the review's event records a span under the manager's.
	pm := spans["process manager loanReview"][0]
	if pm.Parent().SpanID() != telemetry.SpanContextOf(submitted.Meta.TraceParent).SpanID() {
		t.Fatalf("the process manager's span has parent %v; the submitted event recorded %q", pm.Parent().SpanID(), submitted.Meta.TraceParent)
	}
	reviewSpan := telemetry.SpanContextOf(review[0].Meta.TraceParent).SpanID()
	if reviewSpan != pm.SpanContext().SpanID() {
		t.Fatalf("LoanReviewIssued records span %v, want the process manager's %v", reviewSpan, pm.SpanContext().SpanID())
	}
	appendsUnderPM := 0
	for _, s := range spans["eventstore append"] {
		if s.Parent().SpanID() == pm.SpanContext().SpanID() {
			appendsUnderPM++
		}
	}
	if appendsUnderPM == 0 {
		t.Fatal("the process manager's append is not a child of its span")
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
