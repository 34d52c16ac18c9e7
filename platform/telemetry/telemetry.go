// Package telemetry is what every process tells about itself: Prometheus
// metrics (a registry with the Go runtime's and the process's collectors,
// readiness as loans_ready), the admin listener that serves them with the
// probes and pprof, OpenTelemetry tracing (exported over OTLP when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, off otherwise), the W3C trace
// context events carry in their metadata, and a slog handler that puts the
// trace and correlation IDs on every log line that has them.
//
// Each service declares its own metrics (the names are its contract with
// dashboards and alerts: deploy/monitoring) and registers them here.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/loanflow/loans/platform/health"
)

// Namespace prefixes the platform's own metrics: loans_commands_total.
const Namespace = "loans"

// NewRegistry is a process's registry: the Go runtime's metrics (go_*) and
// the process's (process_*: CPU, memory, file descriptors) already in it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// LatencyBuckets are the histogram buckets of the platform's durations, in
// seconds: from a cached read (half a millisecond) to a call at its
// deadline.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// readiness exports a process's readiness as loans_ready{check}: 1 while
// the check passes, 0 while it fails; check="process" is the whole (0 while
// shutting down too).
type readiness struct {
	r    *health.Readiness
	desc *prometheus.Desc
}

// RegisterReadiness exports r's checks as loans_ready{check}.
func RegisterReadiness(reg prometheus.Registerer, r *health.Readiness) error {
	return reg.Register(&readiness{r: r, desc: prometheus.NewDesc(Namespace+"_ready",
		"Whether the process (check=\"process\") and each of its readiness checks pass: 1 yes, 0 no.", []string{"check"}, nil)})
}

func (c *readiness) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *readiness) Collect(ch chan<- prometheus.Metric) {
	rep := c.r.Report()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, boolValue(rep.Ready()), "process")
	for _, check := range rep.Checks {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, boolValue(check.OK), check.Name)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// NewProcessRegistry is a process's registry (NewRegistry) with its
// readiness (loans_ready) and its own collectors registered in it.
func NewProcessRegistry(r *health.Readiness, collectors ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := NewRegistry()
	if err := RegisterReadiness(reg, r); err != nil {
		return nil, err
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}
