package domain

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

func issueLoanReview() IssueLoanReview {
	return IssueLoanReview{ApplicationID: appID, Amount: amount, Duration: duration, Applicant: applicant}
}

func TestLoanReview_Execute(t *testing.T) {
	type A = LoanReview
	var (
		pending  = []Event{loanReviewIssued}
		approved = []Event{loanReviewIssued, loanApproved}
		denied   = []Event{loanReviewIssued, loanDenied}
		approve  = ApproveLoan{ApplicationID: appID}
		deny     = DenyLoan{ApplicationID: appID, Reason: "income too low"}
	)

	// IssueLoanReview.
	t.Run("Issue", func(t *testing.T) {
		assertEvents[A](t, nil, issueLoanReview(), []Event{loanReviewIssued})
	})
	t.Run("LoanReviewAlreadyIssued", func(t *testing.T) {
		for _, given := range [][]Event{pending, approved, denied} {
			err := assertError[A](t, given, issueLoanReview(), KindAlreadyExists, ReasonLoanReviewAlreadyIssued)
			assertMessage(t, err, "the review of loan application "+appUUID+" has already been issued")
		}
	})
	t.Run("IssueLoanApplicationUUIDRequired", func(t *testing.T) {
		c := issueLoanReview()
		c.ApplicationID = uuid.Nil
		assertError[A](t, nil, c, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
	})

	// ApproveLoan.
	t.Run("Approve", func(t *testing.T) {
		assertEvents[A](t, pending, approve, []Event{loanApproved})
	})
	t.Run("ApproveCarriesReviewedTerms", func(t *testing.T) {
		// The contract is issued from LoanApproved alone.
		issued := &loansv1.LoanReviewIssued{LoanApplicationUuid: appUUID, Amount: 777, Duration: 7, Applicant: "bob"}
		want := &loansv1.LoanApproved{LoanApplicationUuid: appUUID, Amount: 777, Duration: 7, Applicant: "bob"}
		assertEvents[A](t, []Event{issued}, approve, []Event{want})
	})
	t.Run("ApproveLoanReviewNotFound", func(t *testing.T) {
		err := assertError[A](t, nil, approve, KindNotFound, ReasonLoanReviewNotFound)
		assertMessage(t, err, "loan application "+appUUID+" has no review yet: it is not submitted, or its review is being issued")
	})
	t.Run("ApproveLoanAlreadyDecided", func(t *testing.T) {
		err := assertError[A](t, approved, approve, KindFailedPrecondition, ReasonLoanAlreadyDecided)
		assertMessage(t, err, "loan application "+appUUID+" has already been approved")
		err = assertError[A](t, denied, approve, KindFailedPrecondition, ReasonLoanAlreadyDecided)
		assertMessage(t, err, "loan application "+appUUID+" has already been denied")
	})
	t.Run("ApproveLoanApplicationUUIDRequired", func(t *testing.T) {
		assertError[A](t, nil, ApproveLoan{}, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
	})

	// DenyLoan.
	t.Run("Deny", func(t *testing.T) {
		assertEvents[A](t, pending, deny, []Event{loanDenied})
	})
	t.Run("DenialReasonRequired", func(t *testing.T) {
		for _, reason := range []string{"", " ", "\t\n"} {
			err := assertError[A](t, pending, DenyLoan{ApplicationID: appID, Reason: reason}, KindInvalidArgument, ReasonDenialReasonRequired)
			assertMessage(t, err, "a reason is required to deny a loan")
		}
	})
	t.Run("DenialReasonTooLong", func(t *testing.T) {
		long := strings.Repeat("é", MaxReasonLength+1) // counted in characters, not bytes
		err := assertError[A](t, pending, DenyLoan{ApplicationID: appID, Reason: long}, KindInvalidArgument, ReasonReasonTooLong)
		assertMessage(t, err, "the reason has 1001 characters; at most 1000 are kept")
		assertEvents[A](t, pending, DenyLoan{ApplicationID: appID, Reason: long[len("é"):]},
			[]Event{&loansv1.LoanDenied{LoanApplicationUuid: appUUID, Reason: long[len("é"):]}})
	})
	t.Run("DenialReasonIsReportedBeforeState", func(t *testing.T) {
		// A blank reason is wrong whatever the state.
		for _, given := range [][]Event{nil, approved, denied} {
			assertError[A](t, given, DenyLoan{ApplicationID: appID}, KindInvalidArgument, ReasonDenialReasonRequired)
		}
	})
	t.Run("DenyLoanReviewNotFound", func(t *testing.T) {
		assertError[A](t, nil, deny, KindNotFound, ReasonLoanReviewNotFound)
	})
	t.Run("DenyLoanAlreadyDecided", func(t *testing.T) {
		assertError[A](t, approved, deny, KindFailedPrecondition, ReasonLoanAlreadyDecided)
		assertError[A](t, denied, deny, KindFailedPrecondition, ReasonLoanAlreadyDecided)
	})
	t.Run("DenyLoanApplicationUUIDRequired", func(t *testing.T) {
		assertError[A](t, nil, DenyLoan{Reason: "x"}, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
	})
}

func TestLoanReview_Apply(t *testing.T) {
	t.Run("Lifecycle", func(t *testing.T) {
		for _, tc := range []struct {
			given []Event
			want  Status
		}{
			{nil, StatusNone},
			{[]Event{loanReviewIssued}, StatusPendingReview},
			{[]Event{loanReviewIssued, loanApproved}, StatusApproved},
			{[]Event{loanReviewIssued, loanDenied}, StatusDenied},
		} {
			if got := replay[LoanReview](tc.given).Status(); got != tc.want {
				t.Errorf("Status() after %v = %q; want %q", tc.given, got, tc.want)
			}
		}
	})
	t.Run("IgnoresForeignEvents", func(t *testing.T) {
		foreign := []Event{loanRequested, loanRequestSubmitted, loanContractIssued, contractSigned, contractRejected,
			nil, (*loansv1.LoanReviewIssued)(nil), &loansv1.CommandResult{}}
		for _, s := range []LoanReview{replay[LoanReview](nil), replay[LoanReview]([]Event{loanReviewIssued})} {
			for _, e := range foreign {
				if got := s.Apply(e); got != s {
					t.Errorf("Apply(%T) changed %+v into %+v", e, s, got)
				}
			}
		}
	})
}
