package projection_test

import (
	"errors"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

// FuzzDecodeProject feeds the projector what any writer could have stored:
// any type, payload and metadata, one after another onto one application.
// Whatever the input: no panic; an event is decoded, or refused as of an
// unknown type or with a *DecodeError (which the projector parks); and a
// decoded event always projects.
func FuzzDecodeProject(f *testing.F) {
	id := "0b6f3a52-6d4e-4c1e-9a8f-2f5d7c9e1a33"
	f.Add(loanevents.TypeLoanRequested, []byte(`{"loanApplicationUuid":"`+id+`","amount":"1200","duration":24,"applicant":"ada"}`),
		[]byte(`{"actor":"ada","occurred_at":"2026-11-25T10:00:00Z"}`), loanevents.TypeLoanApproved, []byte(`{"loanApplicationUuid":"`+id+`"}`))
	f.Add(loanevents.TypeLoanDenied, []byte(`{"loanApplicationUuid":"`+id+`","reason":"x"}`), []byte(``),
		loanevents.TypeContractSigned, []byte(`{"loanApplicationUuid":"`+id+`"}`))
	f.Add(loanevents.TypeLoanRequested, []byte(`{"loanApplicationUuid":"nope"}`), []byte(`{"occurred_at":12}`), "Unknown", []byte(`{}`))
	f.Add(loanevents.TypeContractRejected, []byte(`{"loanApplicationUuid":"`+id+`"}`), []byte(`{"occurred_at":"0001-01-01T00:00:00Z"}`),
		loanevents.TypeLoanRequested, []byte(`{"loanApplicationUuid":"`+id+`","amount":"-5","duration":-1}`))
	f.Fuzz(func(t *testing.T, firstType string, firstData, metadata []byte, secondType string, secondData []byte) {
		var app readmodel.Application
		for i, r := range []projection.Recorded{
			{ID: "e1", Type: firstType, Data: firstData, Metadata: metadata, Stream: "s", Position: 10, Created: time.Unix(1_700_000_000, 0)},
			{ID: "e2", Type: secondType, Data: secondData, Metadata: metadata, Stream: "s", Revision: 1, Position: 20, Created: time.Unix(1_700_000_100, 0)},
		} {
			e, err := projection.Decode(r)
			var decodeErr *projection.DecodeError
			switch {
			case errors.Is(err, projection.ErrUnknownType), errors.As(err, &decodeErr):
				continue
			case err != nil:
				t.Fatalf("event %d: Decode refused with %v, neither an unknown type nor a DecodeError", i, err)
			}
			if app.ID != "" && app.ID != e.ApplicationID {
				continue // another application: Project is never given it
			}
			res, err := projection.Project(app, e)
			if err != nil {
				t.Fatalf("event %d (%s %s): a decoded event does not project: %v", i, r.Type, r.Data, err)
			}
			if res.Changed {
				app = res.Application
			}
		}
	})
}
