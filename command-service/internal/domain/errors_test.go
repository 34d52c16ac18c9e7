package domain

import (
	"errors"
	"fmt"
	"testing"
)

func TestError_Error(t *testing.T) {
	t.Run("ReasonAndMessage", func(t *testing.T) {
		err := error(&Error{Kind: KindInvalidArgument, Reason: ReasonAmountIsTooLow, Message: "amount 499 is below the minimum of 500"})
		if got, want := err.Error(), "AMOUNT_IS_TOO_LOW: amount 499 is below the minimum of 500"; got != want {
			t.Errorf("Error() = %q; want %q", got, want)
		}
	})
	t.Run("Nil", func(t *testing.T) {
		if got := (*Error)(nil).Error(); got != "<nil>" {
			t.Errorf("Error() on nil = %q", got)
		}
	})
	t.Run("FoundThroughWrapping", func(t *testing.T) {
		_, err := LoanRequest{}.Execute(SubmitLoanRequest{ApplicationID: appID})
		var de *Error
		if !errors.As(fmt.Errorf("handling command: %w", err), &de) || de.Reason != ReasonLoanRequestNotFound {
			t.Errorf("errors.As through a wrap = %v", de)
		}
	})
	t.Run("ZeroKindIsNone", func(t *testing.T) {
		// A zero Kind must not pass for a real one.
		for _, k := range []Kind{KindInvalidArgument, KindFailedPrecondition, KindAlreadyExists, KindNotFound} {
			if k == 0 {
				t.Errorf("kind %d is the zero value", k)
			}
		}
	})
}

// TestReasons_AreStable pins the strings clients branch on.
func TestReasons_AreStable(t *testing.T) {
	for got, want := range map[Reason]string{
		ReasonLoanApplicationUUIDRequired: "LOAN_APPLICATION_UUID_REQUIRED",
		ReasonCommandNotHandled:           "COMMAND_NOT_HANDLED",
		ReasonAmountIsTooLow:              "AMOUNT_IS_TOO_LOW",
		ReasonAmountIsTooHigh:             "AMOUNT_IS_TOO_HIGH",
		ReasonDurationIsTooLow:            "DURATION_IS_TOO_LOW",
		ReasonDurationIsTooHigh:           "DURATION_IS_TOO_HIGH",
		ReasonLoanAlreadyRequested:        "LOAN_ALREADY_REQUESTED",
		ReasonLoanRequestNotFound:         "LOAN_REQUEST_NOT_FOUND",
		ReasonLoanRequestAlreadySubmitted: "LOAN_REQUEST_ALREADY_SUBMITTED",
		ReasonLoanReviewAlreadyIssued:     "LOAN_REVIEW_ALREADY_ISSUED",
		ReasonLoanReviewNotFound:          "LOAN_REVIEW_NOT_FOUND",
		ReasonLoanAlreadyDecided:          "LOAN_ALREADY_DECIDED",
		ReasonDenialReasonRequired:        "DENIAL_REASON_REQUIRED",
		ReasonLoanContractAlreadyIssued:   "LOAN_CONTRACT_ALREADY_ISSUED",
		ReasonLoanContractNotFound:        "LOAN_CONTRACT_NOT_FOUND",
		ReasonContractAlreadyConcluded:    "CONTRACT_ALREADY_CONCLUDED",
	} {
		if string(got) != want {
			t.Errorf("reason %q; want %q", got, want)
		}
	}
}

// TestStatus_IsStable pins the strings projections and APIs show.
func TestStatus_IsStable(t *testing.T) {
	for got, want := range map[Status]string{
		StatusNone:              "",
		StatusPendingSubmission: "pending_submission",
		StatusSubmitted:         "submitted",
		StatusPendingReview:     "pending_review",
		StatusApproved:          "approved",
		StatusDenied:            "denied",
		StatusPendingSignature:  "pending_signature",
		StatusSigned:            "signed",
		StatusRejected:          "rejected",
	} {
		if string(got) != want {
			t.Errorf("status %q; want %q", got, want)
		}
	}
}
