package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/telemetry"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdmin_ServesMetricsProbesAndProfiles(t *testing.T) {
	var failing atomic.Bool
	r, err := health.Start(health.Config{Interval: 10 * time.Millisecond, Timeout: time.Second},
		health.Check{Name: "eventstore", Func: func(context.Context) error {
			if failing.Load() {
				return io.ErrUnexpectedEOF
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Shutdown()
	reg := telemetry.NewRegistry()
	if err := telemetry.RegisterReadiness(reg, r); err != nil {
		t.Fatal(err)
	}
	commands := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "test_total", Help: "x"}, []string{"k"})
	reg.MustRegister(commands)
	commands.WithLabelValues("a").Add(3)
	admin, err := telemetry.ServeAdmin("127.0.0.1:0", reg, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Shutdown(context.Background())
	base := "http://" + admin.Addr()

	code, body := get(t, base+"/metrics")
	for _, want := range []string{`loans_test_total{k="a"} 3`, `loans_ready{check="process"} 1`, `loans_ready{check="eventstore"} 1`,
		"go_goroutines", "process_resident_memory_bytes", "promhttp_metric_handler_requests_total"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Fatalf("/metrics (%d) lacks %q", code, want)
		}
	}
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := get(t, base+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("/debug/pprof/ %d", code)
	}
	if code, _ := get(t, base+"/debug/pprof/goroutine?debug=1"); code != 200 {
		t.Fatalf("goroutine profile %d", code)
	}
	failing.Store(true)
	poll.Until(t, 5*time.Second, 10*time.Millisecond, func() (bool, string) {
		code, body := get(t, base+"/readyz")
		_, metrics := get(t, base+"/metrics")
		return code == 503 && strings.Contains(metrics, `loans_ready{check="eventstore"} 0`) &&
			strings.Contains(metrics, `loans_ready{check="process"} 0`), "still ready: " + body
	})
}

func TestTraceParent_RoundTrip(t *testing.T) {
	exporter := tracetest.NewInMemoryExporter()
	tr, err := telemetry.SetupTracing(context.Background(), telemetry.TracingConfig{ServiceName: "test", Exporter: exporter,
		Sampler: sdktrace.AlwaysSample()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	if telemetry.TraceParent(context.Background()) != "" {
		t.Fatal("a context without a span has a traceparent")
	}
	ctx, span := telemetry.Tracer("test").Start(context.Background(), "command")
	tp := telemetry.TraceParent(ctx)
	span.End()
	sc := telemetry.SpanContextOf(tp)
	if !sc.IsValid() || sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != span.SpanContext().SpanID() {
		t.Fatalf("traceparent %q read back as %v", tp, sc)
	}
	_, child := telemetry.Tracer("test").Start(telemetry.ContextWithTraceParent(context.Background(), tp), "projection")
	child.End()
	if err := tr.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := exporter.GetSpans()
	if len(spans) != 2 || spans[1].Parent.SpanID() != span.SpanContext().SpanID() || spans[1].SpanContext.TraceID() != sc.TraceID() {
		t.Fatalf("spans %+v: the projection is not the command's child", spans)
	}
	if telemetry.SpanContextOf("garbage").IsValid() || telemetry.ContextWithTraceParent(context.Background(), "") != context.Background() {
		t.Fatal("a bad traceparent was read as valid")
	}
}

func TestLogHandler_AddsTraceAndCorrelation(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(telemetry.LogHandler(slog.NewJSONHandler(&buf, nil))).With("service", "x")
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	ctx := telemetry.WithCorrelationID(trace.ContextWithSpanContext(context.Background(), sc), "corr-1")
	log.InfoContext(ctx, "hello")
	log.Info("no context")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var first, second map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &first)
	_ = json.Unmarshal([]byte(lines[1]), &second)
	if first["trace_id"] != sc.TraceID().String() || first["span_id"] != sc.SpanID().String() || first["correlation_id"] != "corr-1" || first["service"] != "x" {
		t.Fatalf("line with context: %v", first)
	}
	if _, ok := second["trace_id"]; ok {
		t.Fatalf("line without context: %v", second)
	}
}
