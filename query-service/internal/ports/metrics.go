package ports

import (
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/platform/telemetry"
)

// Outcomes of a query (loans_queries_total's outcome label).
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused" // the caller's doing: a bad argument, no such application, no right to see it
	OutcomeError   = "error"   // anything else: the read model away or behind, a deadline, a bug
)

// outcomeOfCode is the one table from a call's status code to its outcome;
// a code it lacks is an error.
var outcomeOfCode = map[codes.Code]string{
	codes.OK:                 OutcomeOK,
	codes.InvalidArgument:    OutcomeRefused,
	codes.NotFound:           OutcomeRefused,
	codes.PermissionDenied:   OutcomeRefused,
	codes.Unauthenticated:    OutcomeRefused,
	codes.FailedPrecondition: OutcomeRefused,
}

// Outcome is the outcome label of a call that returned err.
func Outcome(err error) string {
	if o, ok := outcomeOfCode[status.Code(err)]; ok {
		return o
	}
	return OutcomeError
}

// Metrics are the query service's own metrics (the names are its contract
// with the dashboards and alerts of deploy/): every query counted and
// timed by one interceptor, and the waits for consistency tokens.
type Metrics struct {
	service  string
	queries  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// ConsistencyWait is for query.Config.ConsistencyWait.
	ConsistencyWait prometheus.Histogram
}

// NewMetrics makes the metrics of service's queries, each query's series
// there from the start at zero (a rate over a series that appears with its
// first refusal misses that refusal).
func NewMetrics(service *grpc.ServiceDesc) *Metrics {
	m := &Metrics{
		service: "/" + service.ServiceName + "/",
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: telemetry.Namespace, Name: "queries_total",
			Help: "Queries answered, by query (the gRPC method: GetLoanApplication, …) and outcome: ok; refused (the caller's error: " +
				"InvalidArgument, NotFound, PermissionDenied, Unauthenticated, FailedPrecondition); error (any other code: " +
				"the read model unavailable or behind a consistency token, a deadline, an internal error). REST calls count as their gRPC method.",
		}, []string{"query", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Name: "query_duration_seconds",
			Help:    "Time to answer a query, whatever its outcome, from authentication to the answer (a wait for a consistency token included), in seconds.",
			Buckets: telemetry.LatencyBuckets,
		}, []string{"query"}),
		ConsistencyWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: telemetry.Namespace, Name: "consistency_wait_seconds",
			Help: "Time a query given a consistency token waited for the read model to reach it, whether it did or the query was " +
				"refused with READ_MODEL_BEHIND, in seconds; queries without a token are not observed.",
			Buckets: telemetry.LatencyBuckets,
		}),
	}
	for _, method := range service.Methods {
		m.duration.WithLabelValues(method.MethodName)
		for _, outcome := range []string{OutcomeOK, OutcomeRefused, OutcomeError} {
			m.queries.WithLabelValues(method.MethodName, outcome)
		}
	}
	return m
}

// Collectors are the metrics, for the process's registry.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.queries, m.duration, m.ConsistencyWait}
}

// UnaryServerInterceptor counts and times the service's queries (not the
// health checks). It must run before authentication, so that calls it
// refuses count as refused.
func (m *Metrics) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		name, ok := strings.CutPrefix(info.FullMethod, m.service)
		if !ok {
			return handler(ctx, req)
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		m.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
		m.queries.WithLabelValues(name, Outcome(err)).Inc()
		return resp, err
	}
}
