package sqlitestore

import (
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// zeroMicros is the zero time.Time in microseconds since the Unix epoch:
// how an unset requested_at or updated_at (NOT NULL sort keys) is stored.
var zeroMicros = time.Time{}.UnixMicro()

// micros is a time as stored in a sort-key column.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return zeroMicros
	}
	return t.UnixMicro() // truncates toward the past, like time.Truncate
}

// nullMicros is a time as stored in a nullable column: NULL when unset.
func nullMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// ceilMicros is the first stored time not before t: a filter bound in
// microseconds ("stored >= t" is "stored >= ceilMicros(t)", and
// "stored < t" is "stored < ceilMicros(t)").
func ceilMicros(t time.Time) int64 {
	m := t.UnixMicro()
	if time.UnixMicro(m).Before(t) {
		m++
	}
	return m
}

func fromMicros(m int64) time.Time {
	if m == zeroMicros {
		return time.Time{}
	}
	return time.UnixMicro(m).UTC()
}

func fromNullMicros(m sql.NullInt64) time.Time {
	if !m.Valid {
		return time.Time{}
	}
	return fromMicros(m.Int64)
}

// pos is a position as stored (INTEGER is signed).
func pos(p uint64) (int64, error) {
	if p > math.MaxInt64 {
		return 0, fmt.Errorf("sqlitestore: position %d is beyond 2^63-1", p)
	}
	return int64(p), nil
}

type scanner interface{ Scan(dst ...any) error }

// appArgs appends an application's columns, in appColumns order.
func appArgs(args []any, a readmodel.Application) []any {
	return append(args, a.ID, a.Amount, a.Duration, string(a.Status), a.Applicant, micros(a.RequestedAt),
		nullMicros(a.SubmittedAt), nullMicros(a.ReviewIssuedAt), nullMicros(a.DecidedAt),
		nullMicros(a.ContractIssuedAt), nullMicros(a.ConcludedAt), micros(a.UpdatedAt), a.DenialReason,
		a.RejectionReason, int64(a.LastPosition))
}

func scanApp(r scanner) (readmodel.Application, error) {
	var a readmodel.Application
	var status string
	var requested, updated, lastPos int64
	var submitted, review, decided, contract, concluded sql.NullInt64
	err := r.Scan(&a.ID, &a.Amount, &a.Duration, &status, &a.Applicant, &requested, &submitted, &review,
		&decided, &contract, &concluded, &updated, &a.DenialReason, &a.RejectionReason, &lastPos)
	if err != nil {
		return a, err
	}
	a.Status = readmodel.Status(status)
	a.RequestedAt, a.UpdatedAt = fromMicros(requested), fromMicros(updated)
	a.SubmittedAt, a.ReviewIssuedAt = fromNullMicros(submitted), fromNullMicros(review)
	a.DecidedAt, a.ContractIssuedAt = fromNullMicros(decided), fromNullMicros(contract)
	a.ConcludedAt = fromNullMicros(concluded)
	a.LastPosition = uint64(lastPos)
	return a, nil
}

// historyArgs appends a history entry's columns, in historyColumns order.
func historyArgs(args []any, e readmodel.HistoryEntry) []any {
	var payload any
	if e.Payload != nil {
		payload = string(e.Payload)
	}
	return append(args, int64(e.Position), e.ApplicationID, e.Stream, int64(e.Revision), e.EventType,
		nullMicros(e.OccurredAt), e.Actor, string(e.StatusAfter), payload, e.CommandID, e.CorrelationID,
		e.CausationID)
}

func scanHistory(r scanner) (readmodel.HistoryEntry, error) {
	var e readmodel.HistoryEntry
	var position, revision int64
	var occurred sql.NullInt64
	var status string
	var payload sql.NullString
	err := r.Scan(&position, &e.ApplicationID, &e.Stream, &revision, &e.EventType, &occurred, &e.Actor,
		&status, &payload, &e.CommandID, &e.CorrelationID, &e.CausationID)
	if err != nil {
		return e, err
	}
	e.Position, e.Revision = uint64(position), uint64(revision)
	e.OccurredAt = fromNullMicros(occurred)
	e.StatusAfter = readmodel.Status(status)
	if payload.Valid {
		e.Payload = []byte(payload.String)
	}
	return e, nil
}

// dailyArgs appends a day's counters, in dailyColumns order.
func dailyArgs(args []any, d readmodel.DailyStats) []any {
	return append(args, d.RequestedCount, d.RequestedAmount, d.SubmittedCount, d.ApprovedCount, d.ApprovedAmount,
		d.DeniedCount, d.DeniedAmount, d.SignedCount, d.SignedAmount, d.RejectedCount, d.RejectedAmount,
		d.Decisions, d.DecisionSecondsTotal)
}

func scanDay(r scanner) (readmodel.DailyStats, error) {
	var d readmodel.DailyStats
	err := r.Scan(&d.Day, &d.RequestedCount, &d.RequestedAmount, &d.SubmittedCount, &d.ApprovedCount,
		&d.ApprovedAmount, &d.DeniedCount, &d.DeniedAmount, &d.SignedCount, &d.SignedAmount, &d.RejectedCount,
		&d.RejectedAmount, &d.Decisions, &d.DecisionSecondsTotal)
	return d, err
}

func funnelArgs(args []any, f readmodel.Funnel) []any {
	return append(args, f.Requested, f.Submitted, f.ReviewIssued, f.Approved, f.Denied, f.ContractIssued,
		f.Signed, f.Rejected)
}

func scanFunnel(r scanner) (readmodel.Funnel, error) {
	var f readmodel.Funnel
	err := r.Scan(&f.Requested, &f.Submitted, &f.ReviewIssued, &f.Approved, &f.Denied, &f.ContractIssued,
		&f.Signed, &f.Rejected)
	return f, err
}
