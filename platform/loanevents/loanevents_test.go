package loanevents

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

func TestMarshal_RoundTrip(t *testing.T) {
	for _, e := range []proto.Message{
		&loansv1.LoanRequested{LoanApplicationUuid: "0b3c", Amount: 1000, Duration: 12, Applicant: "ada"},
		&loansv1.LoanDenied{LoanApplicationUuid: "0b3c", Reason: "income too low"},
		&loansv1.ContractSigned{LoanApplicationUuid: "0b3c"},
	} {
		typ, data, err := Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(typ, data)
		if err != nil || !proto.Equal(got, e) {
			t.Fatalf("%s: got %v, %v; want %v", typ, got, err, e)
		}
	}
	t.Run("UnknownFieldsIgnored", func(t *testing.T) {
		got, err := Unmarshal(TypeLoanDenied, []byte(`{"loanApplicationUuid":"x","reason":"r","addedLater":1}`))
		if err != nil || got.(*loansv1.LoanDenied).GetReason() != "r" {
			t.Fatalf("got %v, %v", got, err)
		}
	})
	t.Run("ErrUnknownType", func(t *testing.T) {
		if _, err := Unmarshal("Nope", []byte(`{}`)); err == nil {
			t.Fatal("an unknown type must fail")
		}
		if _, _, err := Marshal(&emptypb.Empty{}); err == nil {
			t.Fatal("a message that is not a loan event must fail")
		}
	})
}

func TestTypes_AllKnown(t *testing.T) {
	for _, typ := range Types() {
		if !IsKnown(typ) {
			t.Fatalf("%s listed but unknown", typ)
		}
	}
	if len(Types()) != len(factories) {
		t.Fatalf("Types lists %d of %d types", len(Types()), len(factories))
	}
}

func TestMetadata_RoundTrip(t *testing.T) {
	m := Metadata{CommandID: "c", CommandType: "ApproveLoan", CommandDigest: "d", CorrelationID: "k", CausationID: "z",
		Actor: "lena", ActorRoles: []string{"applicant", "loan_officer"}, ActorIssuer: "https://issuer.example",
		OccurredAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), SchemaVersion: SchemaVersion}
	b, err := MarshalMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalMetadata(b)
	if err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("got %+v, %v", got, err)
	}
}
