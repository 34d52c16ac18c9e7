package domain

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

func issueLoanContract() IssueLoanContract {
	return IssueLoanContract{ApplicationID: appID, Amount: amount, Duration: duration, Applicant: applicant}
}

func TestLoanContract_Execute(t *testing.T) {
	type A = LoanContract
	var (
		pending  = []Event{loanContractIssued}
		signed   = []Event{loanContractIssued, contractSigned}
		rejected = []Event{loanContractIssued, contractRejected}
		sign     = SignContract{ApplicationID: appID}
		reject   = RejectContract{ApplicationID: appID, Reason: "found a better offer"}
	)

	// IssueLoanContract.
	t.Run("Issue", func(t *testing.T) {
		assertEvents[A](t, nil, issueLoanContract(), []Event{loanContractIssued})
	})
	t.Run("LoanContractAlreadyIssued", func(t *testing.T) {
		for _, given := range [][]Event{pending, signed, rejected} {
			err := assertError[A](t, given, issueLoanContract(), KindAlreadyExists, ReasonLoanContractAlreadyIssued)
			assertMessage(t, err, "the contract of loan application "+appUUID+" has already been issued")
		}
	})
	t.Run("IssueLoanApplicationUUIDRequired", func(t *testing.T) {
		c := issueLoanContract()
		c.ApplicationID = uuid.Nil
		assertError[A](t, nil, c, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
	})

	// SignContract.
	t.Run("Sign", func(t *testing.T) {
		assertEvents[A](t, pending, sign, []Event{contractSigned})
	})
	t.Run("SignLoanContractNotFound", func(t *testing.T) {
		err := assertError[A](t, nil, sign, KindNotFound, ReasonLoanContractNotFound)
		assertMessage(t, err, "loan application "+appUUID+" has no contract yet: it is not approved, or its contract is being issued")
	})
	t.Run("SignContractAlreadyConcluded", func(t *testing.T) {
		err := assertError[A](t, signed, sign, KindFailedPrecondition, ReasonContractAlreadyConcluded)
		assertMessage(t, err, "the contract of loan application "+appUUID+" has already been signed")
		err = assertError[A](t, rejected, sign, KindFailedPrecondition, ReasonContractAlreadyConcluded)
		assertMessage(t, err, "the contract of loan application "+appUUID+" has already been rejected")
	})
	t.Run("SignLoanApplicationUUIDRequired", func(t *testing.T) {
		assertError[A](t, pending, SignContract{}, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
	})

	// RejectContract.
	t.Run("Reject", func(t *testing.T) {
		assertEvents[A](t, pending, reject, []Event{contractRejected})
	})
	t.Run("RejectWithoutReason", func(t *testing.T) {
		// The applicant owes no explanation.
		assertEvents[A](t, pending, RejectContract{ApplicationID: appID},
			[]Event{&loansv1.ContractRejected{LoanApplicationUuid: appUUID}})
	})
	t.Run("RejectionReasonTooLong", func(t *testing.T) {
		long := strings.Repeat("x", MaxReasonLength+1)
		assertError[A](t, pending, RejectContract{ApplicationID: appID, Reason: long}, KindInvalidArgument, ReasonReasonTooLong)
	})
	t.Run("ApplicantIsTheRequester", func(t *testing.T) {
		if got := replay[A](pending).Applicant(); got != applicant {
			t.Errorf("Applicant() = %q; want %q", got, applicant)
		}
		if got := replay[A](nil).Applicant(); got != "" {
			t.Errorf("Applicant() before the contract = %q; want empty", got)
		}
	})
	t.Run("RejectLoanContractNotFound", func(t *testing.T) {
		assertError[A](t, nil, reject, KindNotFound, ReasonLoanContractNotFound)
	})
	t.Run("RejectContractAlreadyConcluded", func(t *testing.T) {
		assertError[A](t, signed, reject, KindFailedPrecondition, ReasonContractAlreadyConcluded)
		assertError[A](t, rejected, reject, KindFailedPrecondition, ReasonContractAlreadyConcluded)
	})
	t.Run("RejectLoanApplicationUUIDRequired", func(t *testing.T) {
		assertError[A](t, pending, RejectContract{}, KindInvalidArgument, ReasonLoanApplicationUUIDRequired)
	})
}

func TestLoanContract_Apply(t *testing.T) {
	t.Run("Lifecycle", func(t *testing.T) {
		for _, tc := range []struct {
			given []Event
			want  Status
		}{
			{nil, StatusNone},
			{[]Event{loanContractIssued}, StatusPendingSignature},
			{[]Event{loanContractIssued, contractSigned}, StatusSigned},
			{[]Event{loanContractIssued, contractRejected}, StatusRejected},
		} {
			if got := replay[LoanContract](tc.given).Status(); got != tc.want {
				t.Errorf("Status() after %v = %q; want %q", tc.given, got, tc.want)
			}
		}
	})
	t.Run("IgnoresForeignEvents", func(t *testing.T) {
		foreign := append(allEvents()[:5], nil, (*loansv1.LoanContractIssued)(nil), &loansv1.CommandResult{})
		for _, s := range []LoanContract{replay[LoanContract](nil), replay[LoanContract]([]Event{loanContractIssued})} {
			for _, e := range foreign {
				if got := s.Apply(e); got != s {
					t.Errorf("Apply(%T) changed %+v into %+v", e, s, got)
				}
			}
		}
	})
}
