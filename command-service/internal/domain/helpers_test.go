package domain

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// The application every test is about, and the terms it asks for.
var (
	appID     = uuid.MustParse("0b6f3a52-6d4e-4c1e-9a8f-2f5d7c9e1a33")
	appUUID   = appID.String()
	amount    = int64(12_000)
	duration  = int32(24)
	applicant = "ada@example.com"
)

// Events of the application, as the aggregates emit them.
var (
	loanRequested        = &loansv1.LoanRequested{LoanApplicationUuid: appUUID, Amount: amount, Duration: duration, Applicant: applicant}
	loanRequestSubmitted = &loansv1.LoanRequestSubmitted{LoanApplicationUuid: appUUID, Amount: amount, Duration: duration, Applicant: applicant}
	loanReviewIssued     = &loansv1.LoanReviewIssued{LoanApplicationUuid: appUUID, Amount: amount, Duration: duration, Applicant: applicant}
	loanApproved         = &loansv1.LoanApproved{LoanApplicationUuid: appUUID, Amount: amount, Duration: duration, Applicant: applicant}
	loanDenied           = &loansv1.LoanDenied{LoanApplicationUuid: appUUID, Reason: "income too low"}
	loanContractIssued   = &loansv1.LoanContractIssued{LoanApplicationUuid: appUUID, Amount: amount, Duration: duration, Applicant: applicant}
	contractSigned       = &loansv1.ContractSigned{LoanApplicationUuid: appUUID}
	contractRejected     = &loansv1.ContractRejected{LoanApplicationUuid: appUUID, Reason: "found a better offer"}
)

// allEvents is one event of every type, for checking that foreign events are ignored.
func allEvents() []Event {
	return []Event{
		loanRequested, loanRequestSubmitted,
		loanReviewIssued, loanApproved, loanDenied,
		loanContractIssued, contractSigned, contractRejected,
	}
}

// replay folds the given events into the zero aggregate, as the application
// layer does with a loaded stream.
func replay[A Aggregate[A]](given []Event) A {
	var a A
	for _, e := range given {
		a = a.Apply(e)
	}
	return a
}

// assertEvents: given these past events, when this command, then exactly these events.
func assertEvents[A Aggregate[A]](t *testing.T, given []Event, when Command, then []Event) {
	t.Helper()
	got, err := replay[A](given).Execute(when)
	if err != nil {
		t.Fatalf("Execute(%T) refused: %v; want %d event(s)", when, err, len(then))
	}
	if len(got) != len(then) {
		t.Fatalf("Execute(%T) = %d event(s) %v; want %d %v", when, len(got), got, len(then), then)
	}
	for i := range then {
		if !proto.Equal(got[i], then[i]) {
			t.Errorf("event %d = %T{%v}; want %T{%v}", i, got[i], got[i], then[i], then[i])
		}
	}
}

// assertError: given these past events, when this command, then it is refused
// with this kind and reason, a message, and no event. It returns the error
// for checks on the message.
func assertError[A Aggregate[A]](t *testing.T, given []Event, when Command, kind Kind, reason Reason) *Error {
	t.Helper()
	got, err := replay[A](given).Execute(when)
	if err == nil {
		t.Fatalf("Execute(%T) = %v; want refusal %s", when, got, reason)
	}
	if got != nil {
		t.Errorf("Execute(%T) refused but returned events %v", when, got)
	}
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("Execute(%T) error %T(%v); want *domain.Error", when, err, err)
	}
	if de.Reason != reason || de.Kind != kind {
		t.Fatalf("Execute(%T) refused with %v %s (%q); want %v %s", when, de.Kind, de.Reason, de.Message, kind, reason)
	}
	if de.Message == "" {
		t.Errorf("Execute(%T) refused with %s and no message", when, reason)
	}
	return de
}

// assertMessage checks the sentence a human reads.
func assertMessage(t *testing.T, err *Error, want string) {
	t.Helper()
	if err.Message != want {
		t.Errorf("message = %q; want %q", err.Message, want)
	}
}
