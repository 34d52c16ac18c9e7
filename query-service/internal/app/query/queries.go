// Package query holds the query service's use cases, one query a file. Each
// first holds its caller (the auth.Principal in its context) against the
// policy (policy.go): applicants see their own applications, loan officers
// all of them, analysts the statistics and lists without who applied, ops
// everything. It then reads the read model through readmodel.Reader, after
// waiting, when the caller asks, until the read model has caught up with a
// consistency token (consistency.go). A read model out of reach is an
// outage the caller may retry, READ_MODEL_UNAVAILABLE (outage.go).
package query

import (
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/telemetry"
)

// Queries answers the read side's questions.
type Queries struct {
	// reader is store behind the outage gate (outage.go): what the queries
	// read through.
	reader readmodel.Reader
	store  readmodel.Reader
	// unreachable is set while CheckReadModel fails.
	unreachable     atomic.Bool
	now             func() time.Time
	pollInterval    time.Duration
	maxPollInterval time.Duration
	consistencyWait Observer
	tracer          trace.Tracer
}

// Config tunes Queries.
type Config struct {
	// Now is the clock (the default statistics range ends today); default
	// time.Now.
	Now func() time.Time
	// PollInterval is the first wait between two looks at the read model's
	// position while a consistency token is not reached yet; it doubles up
	// to MaxPollInterval. Defaults 5 ms and 50 ms.
	PollInterval, MaxPollInterval time.Duration
	// ConsistencyWait, when set, is told how long each wait for a
	// consistency token took, in seconds, whatever its outcome (queries
	// without a token wait for nothing and are not told).
	ConsistencyWait Observer
}

// Observer takes measurements: a prometheus.Histogram, say.
type Observer interface{ Observe(float64) }

// New returns the queries on a read model.
func New(reader readmodel.Reader, cfg Config) *Queries {
	q := &Queries{store: reader, now: cfg.Now, pollInterval: cfg.PollInterval, maxPollInterval: cfg.MaxPollInterval,
		consistencyWait: cfg.ConsistencyWait, tracer: telemetry.Tracer("query-service")}
	q.reader = guarded{q}
	if q.now == nil {
		q.now = time.Now
	}
	if q.pollInterval <= 0 {
		q.pollInterval = 5 * time.Millisecond
	}
	if q.maxPollInterval <= 0 {
		q.maxPollInterval = 50 * time.Millisecond
	}
	q.maxPollInterval = max(q.maxPollInterval, q.pollInterval)
	return q
}

// applicationID checks a loan_application_uuid and returns it in the
// canonical form the read model keys applications by.
func applicationID(s string) (string, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return "", invalid(ReasonLoanApplicationUUIDInvalid, "loan_application_uuid must be a UUID, got "+quote(s))
	}
	return id.String(), nil
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}
