// Package projection folds loan events into the read model. It is pure: no
// I/O, no clock, no randomness. The projector (package projector) feeds it
// events from the event store and hands what it returns to a
// readmodel.Writer.
//
// One event gives three things (Project): the application after the event,
// the event's history entry and its contribution to the statistics. An
// event already applied to the application it is given (its position is not
// above the application's LastPosition) leaves the application as it is but
// still yields its history entry and contribution: the stores ignore those
// when they already hold them, and with a store without transactions they
// may be what a crash left unwritten.
package projection

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// Recorded is an event as read from the event store, still encoded.
type Recorded struct {
	ID       string
	Type     string
	Data     []byte // the payload (protojson)
	Metadata []byte // the user metadata (JSON)
	Stream   string
	Revision uint64
	Position uint64 // the $all commit position
	// Created is when the store recorded the event; it stands in for the
	// metadata's occurred_at when that is missing.
	Created time.Time
}

// Event is a decoded loan event.
type Event struct {
	ID            string
	Type          string
	ApplicationID string        // canonical form of the payload's loan_application_uuid
	Payload       proto.Message // one of the loansv1 event messages, matching Type
	Data          []byte        // the payload as stored, kept in the history
	Metadata      loanevents.Metadata
	Stream        string
	Revision      uint64
	Position      uint64
	// OccurredAt is the metadata's occurred_at (else the recorded time), in
	// UTC, truncated to the microsecond: what every store keeps (the
	// readmodeltest contract), so that what is computed from it (decision
	// times) is the same whether computed before or after a store.
	OccurredAt time.Time
}

// ErrUnknownType marks an event type this version does not read: skip it
// (events of types added later must not stop an older projector).
var ErrUnknownType = errors.New("projection: unknown event type")

// DecodeError is an event that cannot be projected whatever is retried: its
// payload or metadata does not decode, or it names no valid application.
// The projector parks such events.
type DecodeError struct {
	Position uint64
	Type     string
	Err      error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("projection: event %s at position %d: %v", e.Type, e.Position, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decode decodes a recorded event. It fails with ErrUnknownType for a type
// it does not read and with a *DecodeError for a loan event it cannot read.
func Decode(r Recorded) (Event, error) {
	if !loanevents.IsKnown(r.Type) {
		return Event{}, fmt.Errorf("%w %q", ErrUnknownType, r.Type)
	}
	fail := func(err error) (Event, error) {
		return Event{}, &DecodeError{Position: r.Position, Type: r.Type, Err: err}
	}
	payload, err := loanevents.Unmarshal(r.Type, r.Data)
	if err != nil {
		return fail(err)
	}
	md, err := loanevents.UnmarshalMetadata(r.Metadata)
	if err != nil {
		return fail(err)
	}
	id, err := applicationID(payload)
	if err != nil {
		return fail(err)
	}
	occurred := md.OccurredAt
	if occurred.IsZero() {
		occurred = r.Created
	}
	return Event{
		ID: r.ID, Type: r.Type, ApplicationID: id, Payload: payload, Data: r.Data, Metadata: md,
		Stream: r.Stream, Revision: r.Revision, Position: r.Position, OccurredAt: StoredTime(occurred),
	}, nil
}

// StoredTime is a time as the read model keeps it: UTC, to the microsecond.
func StoredTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// uuidCarrier is what every loan event has.
type uuidCarrier interface{ GetLoanApplicationUuid() string }

func applicationID(payload proto.Message) (string, error) {
	c, ok := payload.(uuidCarrier)
	if !ok {
		return "", fmt.Errorf("%T names no loan application", payload)
	}
	raw := c.GetLoanApplicationUuid()
	id, err := uuid.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("loan_application_uuid %q: %w", raw, err)
	}
	return id.String(), nil
}

// terms are the fields several events repeat.
type terms interface {
	GetAmount() int64
	GetDuration() int32
	GetApplicant() string
}

// Compile-time check that the events carrying terms still do.
var _ = []terms{(*loansv1.LoanRequested)(nil), (*loansv1.LoanRequestSubmitted)(nil), (*loansv1.LoanReviewIssued)(nil),
	(*loansv1.LoanApproved)(nil), (*loansv1.LoanContractIssued)(nil)}
