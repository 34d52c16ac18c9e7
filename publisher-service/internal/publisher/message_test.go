package publisher_test

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
)

const app = "6a1d2e1c-4a0e-4c57-9c1e-8a0b7b0e8e11"

var (
	eventID = uuid.MustParse("0b9a63a5-8d4e-4f43-a0a9-3c2d7e1f0a11")
	created = time.Date(2026, 11, 30, 9, 15, 42, 123456700, time.UTC)
)

// approved is a LoanApproved as the command service stores it.
func approved(t *testing.T) publisher.Recorded {
	t.Helper()
	typ, data, err := loanevents.Marshal(&loansv1.LoanApproved{LoanApplicationUuid: app, Amount: 1200, Duration: 24, Applicant: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	md, err := loanevents.MarshalMetadata(loanevents.Metadata{CommandID: "cmd-1", CorrelationID: "corr-1", CausationID: "cause-1",
		Actor: "lena", OccurredAt: created, SchemaVersion: loanevents.SchemaVersion})
	if err != nil {
		t.Fatal(err)
	}
	return publisher.Recorded{ID: eventID, Type: typ, Stream: "loanReview-" + app, Revision: 1,
		Position: publisher.Position{Commit: 4242, Prepare: 4241}, Created: created, Data: data, Metadata: md}
}

func TestMap(t *testing.T) {
	t.Run("ALoanEventIsAPersistentJSONMessageRoutedByItsType", func(t *testing.T) {
		rec := approved(t)
		got, err := publisher.Map(rec)
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		want := publisher.Message{
			RoutingKey: "loans.v1.LoanApproved",
			Publishing: amqp.Publishing{
				Headers: amqp.Table{
					"loan_application_uuid": app,
					"stream":                "loanReview-" + app,
					"stream_revision":       int64(1),
					"commit_position":       int64(4242),
					"prepare_position":      int64(4241),
					"correlation_id":        "corr-1",
					"causation_id":          "cause-1",
					"schema_version":        int64(1),
					"recorded_at":           "2026-11-30T09:15:42.1234567Z",
				},
				ContentType:  "application/json",
				DeliveryMode: amqp.Persistent,
				MessageId:    eventID.String(),
				Timestamp:    created,
				Type:         "LoanApproved",
				AppId:        "publisher-service",
				Body:         rec.Data,
			},
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Map =\n%#v\nwant\n%#v", got, want)
		}
		if err := got.Publishing.Headers.Validate(); err != nil {
			t.Errorf("headers are not a valid AMQP table: %v", err)
		}
	})

	t.Run("TheCommandsTraceContextTravelsAsTheTraceparentHeader", func(t *testing.T) {
		rec := approved(t)
		const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		md, err := loanevents.UnmarshalMetadata(rec.Metadata)
		if err != nil {
			t.Fatal(err)
		}
		md.TraceParent = tp
		if rec.Metadata, err = loanevents.MarshalMetadata(md); err != nil {
			t.Fatal(err)
		}
		got, err := publisher.Map(rec)
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		if h := got.Publishing.Headers[publisher.HeaderTraceParent]; h != tp {
			t.Errorf("traceparent header %#v, want %s", h, tp)
		}
		// Untraced commands: no header (the first subtest's message has none).
	})

	t.Run("TheBodyIsTheStoredPayloadByteForByte", func(t *testing.T) {
		rec := approved(t)
		// Stored by a newer writer: a field this code does not know, spaced
		// as protojson may space it.
		rec.Data = []byte(`{"loanApplicationUuid": "` + app + `", "amount": "1200", "riskScore": 7}`)
		got, err := publisher.Map(rec)
		if err != nil {
			t.Fatalf("Map: %v", err)
		}
		if string(got.Publishing.Body) != string(rec.Data) {
			t.Errorf("body %s, want the stored %s", got.Publishing.Body, rec.Data)
		}
		if _, ok := got.Publishing.Headers[publisher.HeaderDecodeError]; ok {
			t.Errorf("decode_error set on an event that decodes: %v", got.Publishing.Headers)
		}
	})

	t.Run("APayloadThatDoesNotDecodeIsPublishedAsStoredAndMarked", func(t *testing.T) {
		rec := approved(t)
		rec.Data = []byte(`{"loanApplicationUuid": 12`)
		got, err := publisher.Map(rec)
		if err == nil {
			t.Fatal("Map of a broken payload: no error")
		}
		h := got.Publishing.Headers
		if reason, _ := h[publisher.HeaderDecodeError].(string); !strings.Contains(reason, "decode LoanApproved") {
			t.Errorf("decode_error = %q, want the decoding error", reason)
		}
		if h[publisher.HeaderApplication] != app {
			t.Errorf("loan_application_uuid = %v, want %s (from the stream's name)", h[publisher.HeaderApplication], app)
		}
		if string(got.Publishing.Body) != string(rec.Data) || got.RoutingKey != "loans.v1.LoanApproved" || got.Publishing.MessageId != eventID.String() {
			t.Errorf("a poison event's message lost its body, key or ID: %+v", got)
		}
		if h[publisher.HeaderCorrelationID] != "corr-1" {
			t.Errorf("correlation_id = %v: the metadata decodes, it should be there", h[publisher.HeaderCorrelationID])
		}
	})

	t.Run("MetadataThatDoesNotDecodeIsMarkedAndLeavesItsHeadersOut", func(t *testing.T) {
		rec := approved(t)
		rec.Metadata = []byte(`not json`)
		got, err := publisher.Map(rec)
		if err == nil {
			t.Fatal("Map of broken metadata: no error")
		}
		h := got.Publishing.Headers
		if _, ok := h[publisher.HeaderDecodeError]; !ok {
			t.Error("no decode_error header")
		}
		for _, name := range []string{publisher.HeaderCorrelationID, publisher.HeaderCausationID, publisher.HeaderSchemaVersion} {
			if v, ok := h[name]; ok {
				t.Errorf("%s = %v from metadata that does not decode", name, v)
			}
		}
		if h[publisher.HeaderApplication] != app {
			t.Errorf("loan_application_uuid = %v, want %s (the payload decodes)", h[publisher.HeaderApplication], app)
		}
	})

	t.Run("NoApplicationHeaderWhenNeitherPayloadNorStreamNameHasOne", func(t *testing.T) {
		rec := approved(t)
		rec.Data, rec.Stream = []byte(`[]`), "imported"
		got, _ := publisher.Map(rec)
		if v, ok := got.Publishing.Headers[publisher.HeaderApplication]; ok {
			t.Errorf("loan_application_uuid = %v, want none", v)
		}
	})

	t.Run("PositionsBeyondInt64GoAsDecimalStrings", func(t *testing.T) {
		rec := approved(t)
		rec.Position = publisher.Position{Commit: math.MaxUint64, Prepare: math.MaxInt64}
		got, _ := publisher.Map(rec)
		h := got.Publishing.Headers
		if h[publisher.HeaderCommitPosition] != "18446744073709551615" || h[publisher.HeaderPreparePosition] != int64(math.MaxInt64) {
			t.Errorf("commit_position %#v, prepare_position %#v", h[publisher.HeaderCommitPosition], h[publisher.HeaderPreparePosition])
		}
	})

	t.Run("EveryLoanEventTypeHasItsRoutingKey", func(t *testing.T) {
		for _, typ := range loanevents.Types() {
			rec := approved(t)
			rec.Type = typ
			rec.Data = []byte(`{"loanApplicationUuid":"` + app + `"}`)
			got, err := publisher.Map(rec)
			if err != nil {
				t.Errorf("%s: %v", typ, err)
			}
			if got.RoutingKey != "loans.v1."+typ || got.Publishing.Type != typ {
				t.Errorf("%s: routing key %q, type %q", typ, got.RoutingKey, got.Publishing.Type)
			}
		}
	})
}
