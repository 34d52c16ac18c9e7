package main

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/loanflow/loans/platform/telemetry"
)

// switchableTracing lets the bench turn tracing on and off between runs in
// one process: OpenTelemetry's global provider can be set only once for the
// tracers already handed out, so the bench installs this one, which
// forwards to whichever provider is current.
type switchableTracing struct {
	embedded.TracerProvider
	current atomic.Pointer[trace.TracerProvider]
	off     trace.TracerProvider
	on      *sdktrace.TracerProvider
}

// installSwitchableTracing installs the provider, off to begin with; "on"
// records every span (sampled at 100 %) and exports none.
func installSwitchableTracing() *switchableTracing {
	s := &switchableTracing{off: noop.NewTracerProvider(), on: sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))}
	s.set(false)
	otel.SetTracerProvider(s)
	otel.SetTextMapPropagator(telemetry.Propagator)
	return s
}

func (s *switchableTracing) set(on bool) {
	var p trace.TracerProvider = s.off
	if on {
		p = s.on
	}
	s.current.Store(&p)
}

func (s *switchableTracing) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return &switchableTracer{s: s, name: name, opts: opts}
}

type switchableTracer struct {
	embedded.Tracer
	s    *switchableTracing
	name string
	opts []trace.TracerOption
}

func (t *switchableTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return (*t.s.current.Load()).Tracer(t.name, t.opts...).Start(ctx, name, opts...)
}
