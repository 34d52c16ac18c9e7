package loanevents

import (
	"reflect"
	"testing"

	"google.golang.org/protobuf/proto"
)

// FuzzUnmarshal feeds stored payloads of any type and content, as any
// EventStoreDB tool could have written them. Whatever the input: no panic,
// and what decodes encodes back to the same message.
func FuzzUnmarshal(f *testing.F) {
	f.Add(TypeLoanRequested, []byte(`{"loanApplicationUuid":"0b6f3a52-6d4e-4c1e-9a8f-2f5d7c9e1a33","amount":"1200","duration":24,"applicant":"ada"}`))
	f.Add(TypeLoanDenied, []byte(`{"loanApplicationUuid":"x","reason":"no income","unknownField":[1,2,{}]}`))
	f.Add(TypeContractSigned, []byte(`{}`))
	f.Add(TypeLoanApproved, []byte(`{"amount":"9223372036854775808"}`))
	f.Add(TypeLoanReviewIssued, []byte(`{"duration":1e3}`))
	f.Add("NotALoanEvent", []byte(`{}`))
	f.Add(TypeLoanRequested, []byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, eventType string, data []byte) {
		e, err := Unmarshal(eventType, data)
		if err != nil {
			return
		}
		typ, again, err := Marshal(e)
		if err != nil || typ != eventType {
			t.Fatalf("a decoded %s does not encode back: %q, %v", eventType, typ, err)
		}
		back, err := Unmarshal(typ, again)
		if err != nil || !proto.Equal(back, e) {
			t.Fatalf("%s: %s decodes to %v, then %s to %v (%v)", eventType, data, e, again, back, err)
		}
	})
}

// FuzzUnmarshalMetadata feeds any user metadata: no panic, and what decodes
// encodes back to the same metadata.
func FuzzUnmarshalMetadata(f *testing.F) {
	f.Add([]byte(`{"command_id":"c","correlation_id":"k","causation_id":"z","actor":"ada","actor_roles":["applicant"],"occurred_at":"2026-11-25T10:00:00Z","schema_version":1}`))
	f.Add([]byte(`{"actor_roles":"applicant"}`))
	f.Add([]byte(`{"occurred_at":"yesterday"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`{"schema_version":1e400}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := UnmarshalMetadata(b)
		if err != nil {
			return
		}
		enc, err := MarshalMetadata(m)
		if err != nil {
			t.Fatalf("decoded metadata %+v does not encode: %v", m, err)
		}
		back, err := UnmarshalMetadata(enc)
		if err != nil || !reflect.DeepEqual(normalize(back), normalize(m)) {
			t.Fatalf("%s decodes to %+v, then %s to %+v (%v)", b, m, enc, back, err)
		}
	})
}

// normalize makes an empty and a missing role list equal (the encoding
// omits an empty one), and times comparable by instant.
func normalize(m Metadata) Metadata {
	if len(m.ActorRoles) == 0 {
		m.ActorRoles = nil
	}
	m.OccurredAt = m.OccurredAt.UTC()
	return m
}
