package projection_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

func TestDecode(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e := requested.decoded(t)
		wantEqual(t, "application", e.ApplicationID, appID)
		wantEqual(t, "occurred at", e.OccurredAt, at(0))
		wantEqual(t, "actor", e.Metadata.Actor, "ada")
		wantEqual(t, "position", e.Position, uint64(10))
	})
	t.Run("ErrUnknownType", func(t *testing.T) {
		rec := requested.recorded(t)
		rec.Type = "LoanRefinanced"
		if _, err := projection.Decode(rec); !errors.Is(err, projection.ErrUnknownType) {
			t.Errorf("got %v, want ErrUnknownType", err)
		}
	})
	t.Run("UndecodablePayload", func(t *testing.T) {
		rec := requested.recorded(t)
		rec.Data = []byte(`{"amount": "lots"`)
		wantDecodeError(t, rec)
	})
	t.Run("InvalidApplicationUUID", func(t *testing.T) {
		rec := requested.recorded(t)
		rec.Data = []byte(`{"loanApplicationUuid":"not-a-uuid","amount":"5"}`)
		wantDecodeError(t, rec)
	})
	t.Run("UndecodableMetadata", func(t *testing.T) {
		rec := requested.recorded(t)
		rec.Metadata = []byte(`{"occurred_at": 12`)
		wantDecodeError(t, rec)
	})
	t.Run("UnknownFieldsIgnored", func(t *testing.T) {
		rec := requested.recorded(t)
		rec.Data = []byte(`{"loanApplicationUuid":"` + appID + `","amount":"1200","creditScore":712,"collateral":{"kind":"car"}}`)
		rec.Metadata = []byte(`{"actor":"ada","occurred_at":"2026-11-20T09:00:00Z","tenant":"eu-1"}`)
		e, err := projection.Decode(rec)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		wantEqual(t, "amount", e.Payload.(interface{ GetAmount() int64 }).GetAmount(), int64(1200))
		wantEqual(t, "actor", e.Metadata.Actor, "ada")
	})
	t.Run("UUIDCanonicalised", func(t *testing.T) {
		rec := requested.recorded(t)
		rec.Data = []byte(`{"loanApplicationUuid":"` + strings.ToUpper(appID) + `"}`)
		e, err := projection.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "application", e.ApplicationID, appID)
	})
	t.Run("MissingOccurredAtTakesTheRecordedTime", func(t *testing.T) {
		rec := requested.recorded(t)
		rec.Metadata = nil
		e, err := projection.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "occurred at", e.OccurredAt, at(1))
	})
	t.Run("TimesKeptInUTCToTheMicrosecond", func(t *testing.T) {
		rec := requested.recorded(t)
		local := time.Date(2026, 11, 20, 10, 0, 0, 123456789, time.FixedZone("CET", 3600))
		md, _ := loanevents.MarshalMetadata(loanevents.Metadata{OccurredAt: local})
		rec.Metadata = md
		e, err := projection.Decode(rec)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "occurred at", e.OccurredAt, time.Date(2026, 11, 20, 9, 0, 0, 123456000, time.UTC))
		wantEqual(t, "location", e.OccurredAt.Location(), time.UTC)
	})
}

func wantDecodeError(t *testing.T, rec projection.Recorded) {
	t.Helper()
	_, err := projection.Decode(rec)
	var de *projection.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a *DecodeError", err)
	}
	wantEqual(t, "position", de.Position, rec.Position)
}
