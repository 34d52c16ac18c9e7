package projection_test

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

const appID = "6a1d2e1c-4a0e-4c57-9c1e-8a0b7b0e8e11"

var t0 = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

// at is t0 plus some minutes.
func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// ev is one event of the test's application: its payload, when it occurred
// and its $all position.
type ev struct {
	payload  proto.Message
	minutes  int
	position uint64
}

func (e ev) recorded(t testing.TB) projection.Recorded {
	t.Helper()
	typ, data, err := loanevents.Marshal(e.payload)
	if err != nil {
		t.Fatal(err)
	}
	md, err := loanevents.MarshalMetadata(loanevents.Metadata{
		CommandID: "cmd-" + typ, CorrelationID: "corr-1", CausationID: "cause-" + typ, Actor: "ada",
		OccurredAt: at(e.minutes), SchemaVersion: loanevents.SchemaVersion,
	})
	if err != nil {
		t.Fatal(err)
	}
	return projection.Recorded{ID: "id-" + typ, Type: typ, Data: data, Metadata: md, Stream: "loanRequest-" + appID,
		Revision: 3, Position: e.position, Created: at(e.minutes + 1)}
}

func (e ev) decoded(t testing.TB) projection.Event {
	t.Helper()
	d, err := projection.Decode(e.recorded(t))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return d
}

// given folds events onto no application.
func given(t testing.TB, events ...ev) readmodel.Application {
	t.Helper()
	var app readmodel.Application
	for _, e := range events {
		r, err := projection.Project(app, e.decoded(t))
		if err != nil {
			t.Fatalf("given: %v", err)
		}
		app = r.Application
	}
	return app
}

// when projects one event onto app.
func when(t *testing.T, app readmodel.Application, e ev) projection.Result {
	t.Helper()
	r, err := projection.Project(app, e.decoded(t))
	if err != nil {
		t.Fatalf("when: %v", err)
	}
	return r
}

// The lifecycle's events, one a minute apart, at positions 10, 20, ...
var (
	requested = ev{&loansv1.LoanRequested{LoanApplicationUuid: appID, Amount: 1200, Duration: 24, Applicant: "ada"}, 0, 10}
	submitted = ev{&loansv1.LoanRequestSubmitted{LoanApplicationUuid: appID, Amount: 1200, Duration: 24, Applicant: "ada"}, 1, 20}
	reviewed  = ev{&loansv1.LoanReviewIssued{LoanApplicationUuid: appID, Amount: 1200, Duration: 24, Applicant: "ada"}, 2, 30}
	approved  = ev{&loansv1.LoanApproved{LoanApplicationUuid: appID, Amount: 1200, Duration: 24, Applicant: "ada"}, 5, 40}
	denied    = ev{&loansv1.LoanDenied{LoanApplicationUuid: appID, Reason: "income too low"}, 5, 40}
	issued    = ev{&loansv1.LoanContractIssued{LoanApplicationUuid: appID, Amount: 1200, Duration: 24, Applicant: "ada"}, 6, 50}
	signed    = ev{&loansv1.ContractSigned{LoanApplicationUuid: appID}, 8, 60}
	rejected  = ev{&loansv1.ContractRejected{LoanApplicationUuid: appID, Reason: "changed my mind"}, 8, 60}
)

func wantEqual[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}
