// Package telemetrytest reads a process's metrics the way Prometheus does,
// for tests that check the counters against what they did, and records its
// spans for tests that check its traces.
package telemetrytest

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/loanflow/loans/platform/telemetry"
)

// Scrape GETs http://addr/metrics and returns its series, each named as
// exposed (name{label="value",…}, labels sorted by name), with its value.
func Scrape(tb testing.TB, addr string) map[string]float64 {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		tb.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: %d %v", addr, resp.StatusCode, err)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// Tracing installs tracing for the test: every span recorded (sampled at
// 100 %) into the returned in-memory exporter; flush exports what is
// buffered. When the test ends the provider shuts down and a no-op one is
// installed. OpenTelemetry binds tracers handed out earlier to the first
// provider a process installs: call it at most once per test binary that
// looks at spans from package-level tracers.
func Tracing(tb testing.TB) (spans *tracetest.InMemoryExporter, flush func()) {
	tb.Helper()
	exporter := tracetest.NewInMemoryExporter()
	tracing, err := telemetry.SetupTracing(context.Background(), telemetry.TracingConfig{ServiceName: tb.Name(), Exporter: exporter,
		Sampler: sdktrace.AlwaysSample()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = tracing.Shutdown(context.Background())
		otel.SetTracerProvider(noop.NewTracerProvider())
	})
	return exporter, func() {
		tb.Helper()
		if err := tracing.ForceFlush(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
}
