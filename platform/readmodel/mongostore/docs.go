package mongostore

import (
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/loanflow/loans/platform/readmodel"
)

// The documents as stored. Times are pairs (see the package comment): the
// date for people, the microseconds for the adapter; nil when unset.

type appDoc struct {
	ID                 string         `bson:"_id"`
	UUID               string         `bson:"loan_application_uuid"`
	Amount             int64          `bson:"amount"`
	Duration           int32          `bson:"duration"`
	Status             string         `bson:"status"`
	Applicant          string         `bson:"applicant"`
	RequestedAt        *bson.DateTime `bson:"requested_at"`
	RequestedAtUS      *int64         `bson:"requested_at_us"`
	SubmittedAt        *bson.DateTime `bson:"submitted_at"`
	SubmittedAtUS      *int64         `bson:"submitted_at_us"`
	ReviewIssuedAt     *bson.DateTime `bson:"review_issued_at"`
	ReviewIssuedAtUS   *int64         `bson:"review_issued_at_us"`
	DecidedAt          *bson.DateTime `bson:"decided_at"`
	DecidedAtUS        *int64         `bson:"decided_at_us"`
	ContractIssuedAt   *bson.DateTime `bson:"contract_issued_at"`
	ContractIssuedAtUS *int64         `bson:"contract_issued_at_us"`
	ConcludedAt        *bson.DateTime `bson:"concluded_at"`
	ConcludedAtUS      *int64         `bson:"concluded_at_us"`
	UpdatedAt          *bson.DateTime `bson:"updated_at"`
	UpdatedAtUS        *int64         `bson:"updated_at_us"`
	DenialReason       string         `bson:"denial_reason"`
	RejectionReason    string         `bson:"rejection_reason"`
	LastPosition       int64          `bson:"last_position"`
}

// historyDoc is keyed by position; position is also a field of its own, for
// analysts (generations written before it was added lack it until rebuilt).
type historyDoc struct {
	ID            int64          `bson:"_id"`
	Position      int64          `bson:"position"`
	ApplicationID string         `bson:"loan_application_uuid"`
	Stream        string         `bson:"stream"`
	Revision      int64          `bson:"revision"`
	EventType     string         `bson:"event_type"`
	OccurredAt    *bson.DateTime `bson:"occurred_at"`
	OccurredAtUS  *int64         `bson:"occurred_at_us"`
	Actor         string         `bson:"actor"`
	StatusAfter   string         `bson:"status_after"`
	// Payload is the event's JSON as text (readable in mongosh, and kept
	// byte for byte); binary only if it is not UTF-8.
	Payload       any    `bson:"payload"`
	CommandID     string `bson:"command_id"`
	CorrelationID string `bson:"correlation_id"`
	CausationID   string `bson:"causation_id"`
}

// dayDoc is a day's counters with the last position counted into them,
// keyed by the day, which is also a field of its own for analysts (as
// history's position is).
type dayDoc struct {
	ID                   string  `bson:"_id"`
	Day                  string  `bson:"day"`
	RequestedCount       int64   `bson:"requested_count"`
	RequestedAmount      int64   `bson:"requested_amount"`
	SubmittedCount       int64   `bson:"submitted_count"`
	ApprovedCount        int64   `bson:"approved_count"`
	ApprovedAmount       int64   `bson:"approved_amount"`
	DeniedCount          int64   `bson:"denied_count"`
	DeniedAmount         int64   `bson:"denied_amount"`
	SignedCount          int64   `bson:"signed_count"`
	SignedAmount         int64   `bson:"signed_amount"`
	RejectedCount        int64   `bson:"rejected_count"`
	RejectedAmount       int64   `bson:"rejected_amount"`
	Decisions            int64   `bson:"decisions"`
	DecisionSecondsTotal float64 `bson:"decision_seconds_total"`
	LastPosition         int64   `bson:"last_position"`
}

// funnelDoc is the funnel's counters with the last position counted into
// them.
type funnelDoc struct {
	ID             string `bson:"_id"`
	Requested      int64  `bson:"requested"`
	Submitted      int64  `bson:"submitted"`
	ReviewIssued   int64  `bson:"review_issued"`
	Approved       int64  `bson:"approved"`
	Denied         int64  `bson:"denied"`
	ContractIssued int64  `bson:"contract_issued"`
	Signed         int64  `bson:"signed"`
	Rejected       int64  `bson:"rejected"`
	LastPosition   int64  `bson:"last_position"`
}

type checkpointDoc struct {
	Generation int       `bson:"_id"`
	Position   int64     `bson:"position"`
	UpdatedAt  time.Time `bson:"updated_at"`
}

type parkedDoc struct {
	Position   int64          `bson:"_id"`
	Stream     string         `bson:"stream"`
	EventType  string         `bson:"event_type"`
	EventID    string         `bson:"event_id"`
	Error      string         `bson:"error"`
	ParkedAt   *bson.DateTime `bson:"parked_at"`
	ParkedAtUS *int64         `bson:"parked_at_us"`
}

// pos converts a position to BSON's int64.
func pos(p uint64) (int64, error) {
	if p > math.MaxInt64 {
		return 0, fmt.Errorf("position %d does not fit a BSON int64", p)
	}
	return int64(p), nil
}

// timePair is how a time is stored: nil, nil when unset.
func timePair(t time.Time) (*bson.DateTime, *int64) {
	if t.IsZero() {
		return nil, nil
	}
	us := t.UnixMicro()
	d := bson.DateTime(floorDiv(us, 1000))
	return &d, &us
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// timeOf reads a stored time back from its microseconds.
func timeOf(us *int64) time.Time {
	if us == nil {
		return time.Time{}
	}
	return time.UnixMicro(*us).UTC()
}

func toAppDoc(a readmodel.Application) (appDoc, error) {
	lp, err := pos(a.LastPosition)
	if err != nil {
		return appDoc{}, err
	}
	d := appDoc{
		ID: a.ID, UUID: a.ID, Amount: a.Amount, Duration: a.Duration, Status: string(a.Status),
		Applicant: a.Applicant, DenialReason: a.DenialReason, RejectionReason: a.RejectionReason,
		LastPosition: lp,
	}
	d.RequestedAt, d.RequestedAtUS = timePair(a.RequestedAt)
	d.SubmittedAt, d.SubmittedAtUS = timePair(a.SubmittedAt)
	d.ReviewIssuedAt, d.ReviewIssuedAtUS = timePair(a.ReviewIssuedAt)
	d.DecidedAt, d.DecidedAtUS = timePair(a.DecidedAt)
	d.ContractIssuedAt, d.ContractIssuedAtUS = timePair(a.ContractIssuedAt)
	d.ConcludedAt, d.ConcludedAtUS = timePair(a.ConcludedAt)
	d.UpdatedAt, d.UpdatedAtUS = timePair(a.UpdatedAt)
	return d, nil
}

func (d appDoc) app() readmodel.Application {
	return readmodel.Application{
		ID: d.ID, Amount: d.Amount, Duration: d.Duration, Status: readmodel.Status(d.Status),
		Applicant:        d.Applicant,
		RequestedAt:      timeOf(d.RequestedAtUS),
		SubmittedAt:      timeOf(d.SubmittedAtUS),
		ReviewIssuedAt:   timeOf(d.ReviewIssuedAtUS),
		DecidedAt:        timeOf(d.DecidedAtUS),
		ContractIssuedAt: timeOf(d.ContractIssuedAtUS),
		ConcludedAt:      timeOf(d.ConcludedAtUS),
		UpdatedAt:        timeOf(d.UpdatedAtUS),
		DenialReason:     d.DenialReason, RejectionReason: d.RejectionReason,
		LastPosition: uint64(d.LastPosition),
	}
}

func toHistoryDoc(e readmodel.HistoryEntry) (historyDoc, error) {
	p, err := pos(e.Position)
	if err != nil {
		return historyDoc{}, err
	}
	if e.Revision > math.MaxInt64 {
		return historyDoc{}, fmt.Errorf("revision %d does not fit a BSON int64", e.Revision)
	}
	d := historyDoc{
		ID: p, Position: p, ApplicationID: e.ApplicationID, Stream: e.Stream, Revision: int64(e.Revision),
		EventType: e.EventType, Actor: e.Actor, StatusAfter: string(e.StatusAfter),
		CommandID: e.CommandID, CorrelationID: e.CorrelationID, CausationID: e.CausationID,
	}
	d.OccurredAt, d.OccurredAtUS = timePair(e.OccurredAt)
	if utf8.Valid(e.Payload) {
		d.Payload = string(e.Payload)
	} else {
		d.Payload = bson.Binary{Data: e.Payload}
	}
	return d, nil
}

func (d historyDoc) entry() readmodel.HistoryEntry {
	e := readmodel.HistoryEntry{
		ApplicationID: d.ApplicationID, Position: uint64(d.ID), Stream: d.Stream,
		Revision: uint64(d.Revision), EventType: d.EventType, OccurredAt: timeOf(d.OccurredAtUS),
		Actor: d.Actor, StatusAfter: readmodel.Status(d.StatusAfter),
		CommandID: d.CommandID, CorrelationID: d.CorrelationID, CausationID: d.CausationID,
	}
	switch p := d.Payload.(type) {
	case string:
		e.Payload = []byte(p)
	case bson.Binary:
		e.Payload = p.Data
	}
	return e
}

func (d dayDoc) stats() readmodel.DailyStats {
	return readmodel.DailyStats{
		Day:            d.ID,
		RequestedCount: d.RequestedCount, RequestedAmount: d.RequestedAmount, SubmittedCount: d.SubmittedCount,
		ApprovedCount: d.ApprovedCount, ApprovedAmount: d.ApprovedAmount,
		DeniedCount: d.DeniedCount, DeniedAmount: d.DeniedAmount,
		SignedCount: d.SignedCount, SignedAmount: d.SignedAmount,
		RejectedCount: d.RejectedCount, RejectedAmount: d.RejectedAmount,
		Decisions: d.Decisions, DecisionSecondsTotal: d.DecisionSecondsTotal,
	}
}

func toDayDoc(s readmodel.DailyStats, last int64) dayDoc {
	return dayDoc{
		ID:             s.Day,
		Day:            s.Day,
		RequestedCount: s.RequestedCount, RequestedAmount: s.RequestedAmount, SubmittedCount: s.SubmittedCount,
		ApprovedCount: s.ApprovedCount, ApprovedAmount: s.ApprovedAmount,
		DeniedCount: s.DeniedCount, DeniedAmount: s.DeniedAmount,
		SignedCount: s.SignedCount, SignedAmount: s.SignedAmount,
		RejectedCount: s.RejectedCount, RejectedAmount: s.RejectedAmount,
		Decisions: s.Decisions, DecisionSecondsTotal: s.DecisionSecondsTotal,
		LastPosition: last,
	}
}

func (d funnelDoc) funnel() readmodel.Funnel {
	return readmodel.Funnel{
		Requested: d.Requested, Submitted: d.Submitted, ReviewIssued: d.ReviewIssued, Approved: d.Approved,
		Denied: d.Denied, ContractIssued: d.ContractIssued, Signed: d.Signed, Rejected: d.Rejected,
	}
}

func toFunnelDoc(f readmodel.Funnel, last int64) funnelDoc {
	return funnelDoc{
		ID:        funnelID,
		Requested: f.Requested, Submitted: f.Submitted, ReviewIssued: f.ReviewIssued, Approved: f.Approved,
		Denied: f.Denied, ContractIssued: f.ContractIssued, Signed: f.Signed, Rejected: f.Rejected,
		LastPosition: last,
	}
}
