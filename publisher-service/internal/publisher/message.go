package publisher

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/loanflow/loans/platform/loanevents"
)

// The message contract (docs/EVENTS.md). Consumers bind to these names:
// never rename one.
const (
	// DefaultExchange is the durable topic exchange the events go to.
	DefaultExchange = "loans.events"
	// RoutingKeyPrefix precedes the event type in every routing key
	// ("loans.v1.LoanApproved"); consumers bind "loans.v1.#" for all of them.
	RoutingKeyPrefix = "loans.v1."
	// AppID is every message's app_id property.
	AppID = "publisher-service"
)

// Header names.
const (
	HeaderApplication     = "loan_application_uuid"
	HeaderStream          = "stream"
	HeaderStreamRevision  = "stream_revision"
	HeaderCommitPosition  = "commit_position"
	HeaderPreparePosition = "prepare_position"
	HeaderCorrelationID   = "correlation_id"
	HeaderCausationID     = "causation_id"
	HeaderSchemaVersion   = "schema_version"
	// HeaderRecordedAt is when the event was recorded, to the nanosecond
	// (RFC 3339): the timestamp property holds whole seconds only.
	HeaderRecordedAt = "recorded_at"
	// HeaderDecodeError is set, to the reason, only on an event this
	// publisher could not decode: its body is the stored bytes as they are.
	HeaderDecodeError = "decode_error"
	// HeaderTraceParent is the W3C trace context of the command that caused
	// the event (its metadata's), when it was traced: a consumer continuing
	// it (a child span, or a link) joins the command's trace.
	HeaderTraceParent = "traceparent"
)

// Recorded is an event as the event store holds it.
type Recorded struct {
	ID       uuid.UUID
	Type     string
	Stream   string
	Revision uint64
	Position Position
	Created  time.Time
	Data     []byte
	Metadata []byte
}

// RecordedOf converts what the official client delivered.
func RecordedOf(e *esdb.RecordedEvent) Recorded {
	return Recorded{ID: e.EventID, Type: e.EventType, Stream: e.StreamID, Revision: e.EventNumber,
		Position: Position{Commit: e.Position.Commit, Prepare: e.Position.Prepare},
		Created:  e.CreatedDate, Data: e.Data, Metadata: e.UserMetadata}
}

// Message is one event as it is published.
type Message struct {
	RoutingKey string
	Publishing amqp.Publishing
}

// RoutingKey is the routing key of an event type.
func RoutingKey(eventType string) string { return RoutingKeyPrefix + eventType }

// Map makes the message of a loan event. The body is the stored payload,
// byte for byte (protobuf JSON already); the payload and the metadata are
// decoded only to check them and to fill the headers. When either does not
// decode, the message is still complete (the application UUID then comes
// from the stream's name, when it has one) and carries a decode_error
// header; the error says why as well.
func Map(rec Recorded) (Message, error) {
	headers := amqp.Table{
		HeaderStream:          rec.Stream,
		HeaderStreamRevision:  int64Header(rec.Revision),
		HeaderCommitPosition:  int64Header(rec.Position.Commit),
		HeaderPreparePosition: int64Header(rec.Position.Prepare),
		HeaderRecordedAt:      rec.Created.UTC().Format(time.RFC3339Nano),
	}
	var problems []error
	app := ""
	if payload, err := loanevents.Unmarshal(rec.Type, rec.Data); err != nil {
		problems = append(problems, err)
	} else {
		app = applicationOf(payload)
	}
	if app == "" {
		app = applicationOfStream(rec.Stream)
	}
	if app != "" {
		headers[HeaderApplication] = app
	}
	if md, err := loanevents.UnmarshalMetadata(rec.Metadata); err != nil {
		problems = append(problems, err)
	} else {
		headers[HeaderCorrelationID] = md.CorrelationID
		headers[HeaderCausationID] = md.CausationID
		headers[HeaderSchemaVersion] = int64(md.SchemaVersion)
		if md.TraceParent != "" {
			headers[HeaderTraceParent] = md.TraceParent
		}
	}
	err := errors.Join(problems...)
	if err != nil {
		headers[HeaderDecodeError] = err.Error()
	}
	return Message{
		RoutingKey: RoutingKey(rec.Type),
		Publishing: amqp.Publishing{
			Headers:      headers,
			ContentType:  loanevents.ContentType,
			DeliveryMode: amqp.Persistent,
			MessageId:    rec.ID.String(),
			Timestamp:    rec.Created.UTC(),
			Type:         rec.Type,
			AppId:        AppID,
			Body:         rec.Data,
		},
	}, err
}

// int64Header is a position or revision as an AMQP long-long; one beyond
// int64's range (more than 8 EiB of log: not seen in practice) goes as its
// decimal string rather than wrapped to a negative number.
func int64Header(v uint64) any {
	if v > math.MaxInt64 {
		return fmt.Sprint(v)
	}
	return int64(v)
}

// applicationOf reads the loan_application_uuid field every loan event
// has.
func applicationOf(payload proto.Message) string {
	m := payload.ProtoReflect()
	f := m.Descriptor().Fields().ByName("loan_application_uuid")
	if f == nil || f.Kind() != protoreflect.StringKind {
		return ""
	}
	return m.Get(f).String()
}

// applicationOfStream derives the application from an aggregate's stream
// name ("loanReview-<uuid>").
func applicationOfStream(stream string) string {
	_, rest, ok := strings.Cut(stream, "-")
	if !ok {
		return ""
	}
	id, err := uuid.Parse(rest)
	if err != nil {
		return ""
	}
	return id.String()
}
