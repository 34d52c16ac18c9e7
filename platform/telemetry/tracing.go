package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Propagator is the W3C trace context, the one propagation format of the
// platform: gRPC and HTTP headers, RabbitMQ headers and event metadata.
var Propagator = propagation.TraceContext{}

// TracingConfig configures SetupTracing.
type TracingConfig struct {
	// ServiceName names the process in traces (OTEL_SERVICE_NAME wins).
	ServiceName string
	// Exporter receives the spans (tests pass an in-memory one). Nil: the
	// OTLP exporter when OTEL_EXPORTER_OTLP_ENDPOINT (or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, else tracing is off.
	Exporter sdktrace.SpanExporter
	// Sampler decides which traces are recorded (default: the parent's
	// decision, all roots; OTEL_TRACES_SAMPLER overrides it as the SDK
	// reads it).
	Sampler sdktrace.Sampler
	// Record makes spans be recorded (sampled) even with no exporter: for
	// measuring the cost of tracing itself.
	Record bool
}

// Tracing is the installed tracer provider; Shutdown flushes it.
type Tracing struct {
	provider *sdktrace.TracerProvider // nil: off
}

// Enabled tells whether spans are recorded.
func (t *Tracing) Enabled() bool { return t.provider != nil }

// SetupTracing installs the global tracer provider and the W3C propagator.
// With tracing off the propagator is still installed: a caller's trace
// context then travels through the process into the events' metadata
// unchanged, though the process records no spans of its own.
func SetupTracing(ctx context.Context, cfg TracingConfig) (*Tracing, error) {
	otel.SetTextMapPropagator(Propagator)
	exporter := cfg.Exporter
	if exporter == nil && otlpConfigured() {
		var err error
		if exporter, err = otlpExporter(ctx); err != nil {
			return nil, err
		}
	}
	if exporter == nil && !cfg.Record {
		return &Tracing{}, nil
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName(serviceName(cfg.ServiceName))))
	if err != nil {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if exporter != nil {
		opts = append(opts, sdktrace.WithBatcher(exporter))
	}
	if cfg.Sampler != nil {
		opts = append(opts, sdktrace.WithSampler(cfg.Sampler))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	otel.SetTracerProvider(tp)
	return &Tracing{provider: tp}, nil
}

// Shutdown exports the spans still buffered (bounded by ctx) and stops.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.provider == nil {
		return nil
	}
	return t.provider.Shutdown(ctx)
}

// ForceFlush exports the spans buffered so far (tests).
func (t *Tracing) ForceFlush(ctx context.Context) error {
	if t == nil || t.provider == nil {
		return nil
	}
	return t.provider.ForceFlush(ctx)
}

func serviceName(name string) string {
	if env := os.Getenv("OTEL_SERVICE_NAME"); env != "" {
		return env
	}
	return name
}

func otlpConfigured() bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// otlpExporter is the OTLP exporter the standard environment variables
// describe: gRPC when OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL says "grpc",
// else HTTP with protobuf (the specification's default).
func otlpExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	protocol := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch strings.ToLower(protocol) {
	case "grpc":
		return otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	}
	return nil, errors.New("telemetry: OTEL_EXPORTER_OTLP_PROTOCOL " + protocol + " is not supported (grpc or http/protobuf)")
}

// Tracer is the platform's tracer for a component ("esdbconn", "projector").
func Tracer(component string) trace.Tracer {
	return otel.Tracer("github.com/loanflow/loans/" + component)
}

// TraceParent is the W3C traceparent of ctx's span, "" when it has none:
// what an event's metadata records of the command that caused it.
func TraceParent(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	Propagator.Inject(ctx, carrier)
	return carrier["traceparent"]
}

// SpanContextOf reads a traceparent ("" or malformed: an invalid span
// context), for a link to the trace an event came from.
func SpanContextOf(traceParent string) trace.SpanContext {
	if traceParent == "" {
		return trace.SpanContext{}
	}
	ctx := Propagator.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceParent})
	return trace.SpanContextFromContext(ctx)
}

// ContextWithTraceParent is ctx continuing the trace of a traceparent: a
// span started from it is a child of the span that wrote the event.
func ContextWithTraceParent(ctx context.Context, traceParent string) context.Context {
	sc := SpanContextOf(traceParent)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
