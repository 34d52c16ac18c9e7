package service_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/telemetry/telemetrytest"
	"github.com/loanflow/loans/query-service/internal/service"
)

// withAdmin serves the admin listener on a free loopback port.
func withAdmin() option { return func(c *service.Config) { c.AdminAddr = "127.0.0.1:0" } }

// metricsSay checks that every series in want has its value.
func metricsSay(t *testing.T, addr string, want map[string]float64) {
	t.Helper()
	got := telemetrytest.Scrape(t, addr)
	for series, v := range want {
		if g, present := got[series]; !present || g != v {
			t.Errorf("%s = %v (present: %v), want %v", series, g, present, v)
		}
	}
}

// The admin listener's metrics count the queries by outcome, the REST
// ones as their gRPC method; refusals by authentication count as refused;
// only queries with a consistency token are timed waiting for it.
func TestQueryService_Metrics(t *testing.T) {
	e := newEnv(t, withAdmin())
	id := uuidOf(1)
	e.b.Request(id, 12_000, 24, "ada", at(0))
	e.apply(t)
	reached := e.b.Position()

	// Three answered: by gRPC, with a token already reached, and by REST.
	if _, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: reached}); err != nil {
		t.Fatal(err)
	}
	if r := e.get(t, "/v1/loan-applications/"+id); r.status != http.StatusOK {
		t.Fatalf("REST: %d %s", r.status, r.body)
	}
	if _, err := e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{}); err != nil {
		t.Fatal(err)
	}
	// Two refused: no such application, no token.
	_, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: uuidOf(2)})
	refused(t, err, codes.NotFound, "LOAN_APPLICATION_NOT_FOUND")
	_, err = loansv1.NewLoanQueryServiceClient(e.bare).GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id})
	if code := status.Code(err); code != codes.Unauthenticated {
		t.Fatalf("without a token: %v", err)
	}
	// One failed: the read model never reaches the token.
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err = e.client.GetLoanApplication(short, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: reached + 1000})
	refused(t, err, codes.Unavailable, "READ_MODEL_BEHIND")

	metricsSay(t, e.svc.AdminAddr(), map[string]float64{
		`loans_queries_total{outcome="ok",query="GetLoanApplication"}`:      3,
		`loans_queries_total{outcome="refused",query="GetLoanApplication"}`: 2,
		`loans_queries_total{outcome="error",query="GetLoanApplication"}`:   1,
		`loans_queries_total{outcome="ok",query="ListLoanApplications"}`:    1,
		`loans_queries_total{outcome="ok",query="GetLoanStatistics"}`:       0,
		`loans_query_duration_seconds_count{query="GetLoanApplication"}`:    6,
		`loans_query_duration_seconds_count{query="GetLoanApplicationAt"}`:  0,
		`loans_consistency_wait_seconds_count`:                              2,
		`loans_consistency_wait_seconds_bucket{le="0.1"}`:                   1, // the token reached: answered at once
		`loans_ready{check="readmodel"}`:                                    1,
		`loans_ready{check="process"}`:                                      1,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="GetLoanApplication",grpc_service="loans.v1.LoanQueryService",grpc_type="unary"}`:       3,
		`grpc_server_handled_total{grpc_code="NotFound",grpc_method="GetLoanApplication",grpc_service="loans.v1.LoanQueryService",grpc_type="unary"}`: 1,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="GetLoanStatistics",grpc_service="loans.v1.LoanQueryService",grpc_type="unary"}`:        0,
	})
	got := telemetrytest.Scrape(t, e.svc.AdminAddr())
	if wait := got[`loans_consistency_wait_seconds_sum`]; wait < 0.1 {
		t.Errorf("the consistency waits took %vs in all; the refused one alone waited most of 300ms", wait)
	}
	for _, series := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if got[series] <= 0 {
			t.Errorf("%s missing", series)
		}
	}
	if r := getFrom(t, e.svc.AdminAddr(), "", "/readyz"); r.status != http.StatusOK {
		t.Errorf("admin /readyz: %d %s", r.status, r.body)
	}
	if r := getFrom(t, e.svc.AdminAddr(), "", "/debug/pprof/"); r.status != http.StatusOK {
		t.Errorf("admin /debug/pprof/: %d", r.status)
	}
}

// loans_ready follows the read model, as the probes do.
func TestQueryService_ReadinessMetric(t *testing.T) {
	e := newEnv(t)
	reader := &severedReader{Reader: e.store}
	cfg := e.config(t, reader)
	withHealth(10*time.Millisecond, time.Second)(&cfg)
	withAdmin()(&cfg)
	svc := start(t, cfg)
	readyIs := func(v float64) func() (bool, string) {
		return func() (bool, string) {
			got := telemetrytest.Scrape(t, svc.AdminAddr())
			r := getFrom(t, svc.AdminAddr(), "", "/readyz")
			ok := got[`loans_ready{check="readmodel"}`] == v && got[`loans_ready{check="process"}`] == v &&
				(r.status == http.StatusOK) == (v == 1)
			return ok, fmt.Sprintf("loans_ready readmodel %v, process %v, /readyz %d; want %v",
				got[`loans_ready{check="readmodel"}`], got[`loans_ready{check="process"}`], r.status, v)
		}
	}
	poll.Until(t, outageWait, 10*time.Millisecond, readyIs(1))
	reader.cut.Store(true)
	poll.Until(t, outageWait, 10*time.Millisecond, readyIs(0))
	reader.cut.Store(false)
	poll.Until(t, outageWait, 10*time.Millisecond, readyIs(1))
}

// A query waiting for a consistency token shows the wait in its trace, and
// the read after it, under the call's server span, in the caller's trace.
func TestQueryService_TraceShowsTheConsistencyWait(t *testing.T) {
	exporter, flush := telemetrytest.Tracing(t)
	e := newEnv(t)
	id := uuidOf(1)
	e.b.Request(id, 12_000, 24, "ada", at(0))
	batch := e.b.Batch()
	token := batch.Checkpoint
	caller := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xca, 0x11}, SpanID: trace.SpanID{0x01}, TraceFlags: trace.FlagsSampled})
	c := metadata.AppendToOutgoingContext(ctx(t), "traceparent", "00-"+caller.TraceID().String()+"-"+caller.SpanID().String()+"-01")
	// The projector writes the application while the query waits for it.
	applied := make(chan error, 1)
	time.AfterFunc(50*time.Millisecond, func() { applied <- e.store.Apply(context.Background(), e.gen, batch) })
	if _, err := e.client.GetLoanApplication(c, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: token}); err != nil {
		t.Fatal(err)
	}
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	// The server span ends once the answer is sent, maybe after the client
	// has it.
	spans := map[string]tracetest.SpanStub{}
	poll.Until(t, callTimeout, 10*time.Millisecond, func() (bool, string) {
		flush()
		for _, s := range exporter.GetSpans() {
			if s.SpanContext.TraceID() == caller.TraceID() {
				spans[s.Name] = s
			}
		}
		return len(spans) == 3, fmt.Sprintf("spans in the caller's trace: %v; want the server's, the wait's and the read's", names(spans))
	})
	server, wait, read := spans["loans.v1.LoanQueryService/GetLoanApplication"], spans["query consistency wait"], spans["readmodel get"]
	if !server.SpanContext.IsValid() || !wait.SpanContext.IsValid() || !read.SpanContext.IsValid() {
		t.Fatalf("spans in the caller's trace: %v; want the server's, the wait's and the read's", names(spans))
	}
	if server.Parent.SpanID() != caller.SpanID() {
		t.Errorf("the server span's parent is %v, want the caller's", server.Parent.SpanID())
	}
	if wait.Parent.SpanID() != server.SpanContext.SpanID() || read.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("the wait's parent %v and the read's %v; want the server span %v", wait.Parent.SpanID(), read.Parent.SpanID(), server.SpanContext.SpanID())
	}
	if took := wait.EndTime.Sub(wait.StartTime); took < 40*time.Millisecond {
		t.Errorf("the wait span lasted %v; the read model reached the token after 50ms", took)
	}
	if !read.StartTime.After(wait.EndTime) && !read.StartTime.Equal(wait.EndTime) {
		t.Errorf("the read started (%v) before the wait ended (%v)", read.StartTime, wait.EndTime)
	}
}

func names(spans map[string]tracetest.SpanStub) []string {
	var out []string
	for name := range spans {
		out = append(out, name)
	}
	return out
}
