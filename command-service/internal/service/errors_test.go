package service_test

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/loanflow/loans/command-service/internal/domain"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

func TestRequestLoan_Terms(t *testing.T) {
	e := newEnv(t, withoutProcessManagers())
	ctx := callCtx(t)

	for _, c := range []struct {
		rule     string
		amount   int64
		duration int32
		reason   string // empty: accepted
	}{
		{"an amount of 499 is too low", 499, 12, "AMOUNT_IS_TOO_LOW"},
		{"an amount of 500 is accepted", 500, 12, ""},
		{"a zero amount is too low", 0, 12, "AMOUNT_IS_TOO_LOW"},
		{"a negative amount is too low", -1_000, 12, "AMOUNT_IS_TOO_LOW"},
		{"a duration of 2 months is too low", 12_000, 2, "DURATION_IS_TOO_LOW"},
		{"a duration of 3 months is accepted", 12_000, 3, ""},
		{"an amount of 1,000,000 is accepted", 1_000_000, 12, ""},
		{"an amount above 1,000,000 is too high", 1_000_001, 12, "AMOUNT_IS_TOO_HIGH"},
		{"a duration of 360 months is accepted", 12_000, 360, ""},
		{"a duration above 360 months is too high", 12_000, 361, "DURATION_IS_TOO_HIGH"},
		{"the amount is checked before the duration", 499, 2, "AMOUNT_IS_TOO_LOW"},
	} {
		t.Run(c.rule, func(t *testing.T) {
			id := newID()
			r, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: c.amount, Duration: c.duration})
			if c.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				got := e.read(t, requestStream(id))
				requireTypes(t, requestStream(id), got, loanevents.TypeLoanRequested)
				requireResult(t, e.es, r.GetResult(), id, requestStream(id), got[0])
				return
			}
			requireRefusal(t, err, codes.InvalidArgument, c.reason)
			if got := e.read(t, requestStream(id)); len(got) != 0 {
				t.Fatalf("a refused request wrote %v", types(got))
			}
		})
	}
}

func TestRequestLoan_ConfiguredLimits(t *testing.T) {
	t.Run("both upper bounds configured", func(t *testing.T) {
		e := newEnv(t, withoutProcessManagers(), withLimits(domain.Limits{MaxAmount: 50_000, MaxDuration: 60}))
		ctx := callCtx(t)
		requireTerms(ctx, t, e, 50_000, 60, "")
		requireTerms(ctx, t, e, 50_001, 60, "AMOUNT_IS_TOO_HIGH")
		requireTerms(ctx, t, e, 50_000, 61, "DURATION_IS_TOO_HIGH")
		t.Run("the lower bounds stay", func(t *testing.T) {
			requireTerms(ctx, t, e, 499, 12, "AMOUNT_IS_TOO_LOW")
			requireTerms(ctx, t, e, 500, 2, "DURATION_IS_TOO_LOW")
		})
	})
	t.Run("an unset bound keeps its default", func(t *testing.T) {
		e := newEnv(t, withoutProcessManagers(), withLimits(domain.Limits{MaxAmount: 50_000}))
		ctx := callCtx(t)
		requireTerms(ctx, t, e, 50_001, 12, "AMOUNT_IS_TOO_HIGH")
		requireTerms(ctx, t, e, 50_000, 360, "")
		requireTerms(ctx, t, e, 50_000, 361, "DURATION_IS_TOO_HIGH")
	})
}

// requireTerms requests a new application with the terms: accepted when
// reason is empty, else refused with InvalidArgument and the reason.
func requireTerms(ctx context.Context, t *testing.T, e *env, amount int64, duration int32, reason string) {
	t.Helper()
	_, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: newID(), Amount: amount, Duration: duration})
	if reason == "" {
		if err != nil {
			t.Fatalf("amount %d, duration %d refused: %v", amount, duration, err)
		}
		return
	}
	requireRefusal(t, err, codes.InvalidArgument, reason)
}

// Every command names its application by UUID and may carry a command ID
// that is a UUID; anything else is refused before the event store is asked.
func TestCommands_Identifiers(t *testing.T) {
	e := newEnv(t, withoutProcessManagers())
	ctx := callCtx(t)
	known := newID()
	e.requestLoan(ctx, t, known)

	calls := []struct {
		name string
		call func(applicationUUID, commandID string) error
	}{
		{"RequestLoan", func(a, c string) error {
			_, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: a, CommandId: c, Amount: anyAmount, Duration: anyDuration})
			return err
		}},
		{"SubmitLoanRequest", func(a, c string) error {
			_, err := e.client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: a, CommandId: c})
			return err
		}},
		{"ApproveLoan", func(a, c string) error {
			_, err := e.client.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{LoanApplicationUuid: a, CommandId: c})
			return err
		}},
		{"DenyLoan", func(a, c string) error {
			_, err := e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: a, CommandId: c, Reason: "no"})
			return err
		}},
		{"SignContract", func(a, c string) error {
			_, err := e.client.SignContract(ctx, &loansv1.SignContractRequest{LoanApplicationUuid: a, CommandId: c})
			return err
		}},
		{"RejectContract", func(a, c string) error {
			_, err := e.client.RejectContract(ctx, &loansv1.RejectContractRequest{LoanApplicationUuid: a, CommandId: c})
			return err
		}},
	}
	for _, c := range calls {
		call := c.call
		t.Run(c.name, func(t *testing.T) {
			for _, bad := range []string{"", "not-a-uuid", "00000000-0000-0000-0000-000000000000", known + "x"} {
				requireRefusal(t, call(bad, ""), codes.InvalidArgument, "LOAN_APPLICATION_UUID_INVALID")
			}
			for _, bad := range []string{"42", "00000000-0000-0000-0000-000000000000"} {
				requireRefusal(t, call(known, bad), codes.InvalidArgument, "COMMAND_ID_INVALID")
			}
		})
	}
	requireTypes(t, requestStream(known), e.read(t, requestStream(known)), loanevents.TypeLoanRequested)
}

func TestDenyLoan_ReasonRequired(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	id := e.pendingReview(ctx, t)
	before := e.read(t, reviewStream(id))

	for _, reason := range []string{"", "   "} {
		_, err := e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, Reason: reason})
		requireRefusal(t, err, codes.InvalidArgument, "DENIAL_REASON_REQUIRED")
	}
	t.Run("whatever the state", func(t *testing.T) {
		_, err := e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: newID()})
		requireRefusal(t, err, codes.InvalidArgument, "DENIAL_REASON_REQUIRED")
	})
	e.requireUnchanged(t, reviewStream(id), before)
}

// Each command that does not fit the application's state is refused with the
// code of that state and appends nothing.
func TestCommands_OutOfOrder(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)

	t.Run("a second RequestLoan finds the loan already requested", func(t *testing.T) {
		id := newID()
		e.requestLoan(ctx, t, id)
		before := e.read(t, requestStream(id))
		_, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: 600, Duration: 4})
		requireRefusal(t, err, codes.AlreadyExists, "LOAN_ALREADY_REQUESTED")
		e.requireUnchanged(t, requestStream(id), before)
	})
	t.Run("submitting an unknown application finds no loan request", func(t *testing.T) {
		id := newID()
		_, err := e.client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.NotFound, "LOAN_REQUEST_NOT_FOUND")
		e.requireUnchanged(t, requestStream(id), nil)
	})
	t.Run("submitting twice finds the request already submitted", func(t *testing.T) {
		id := newID()
		e.requestLoan(ctx, t, id)
		e.submit(ctx, t, id)
		before := e.read(t, requestStream(id))
		_, err := e.client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "LOAN_REQUEST_ALREADY_SUBMITTED")
		e.requireUnchanged(t, requestStream(id), before)
	})
	t.Run("approving before submission finds no review", func(t *testing.T) {
		id := newID()
		e.requestLoan(ctx, t, id)
		_, err := e.client.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.NotFound, "LOAN_REVIEW_NOT_FOUND")
		_, err = e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, Reason: "no"})
		requireRefusal(t, err, codes.NotFound, "LOAN_REVIEW_NOT_FOUND")
		e.requireUnchanged(t, reviewStream(id), nil)
	})
	t.Run("approving after a denial finds the loan already decided", func(t *testing.T) {
		id := e.pendingReview(ctx, t)
		e.deny(ctx, t, id)
		before := e.read(t, reviewStream(id))
		_, err := e.client.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "LOAN_ALREADY_DECIDED")
		_, err = e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, Reason: "again"})
		requireRefusal(t, err, codes.FailedPrecondition, "LOAN_ALREADY_DECIDED")
		e.requireUnchanged(t, reviewStream(id), before)
	})
	t.Run("denying after an approval finds the loan already decided", func(t *testing.T) {
		id := e.pendingReview(ctx, t)
		e.approve(ctx, t, id)
		before := e.read(t, reviewStream(id))
		_, err := e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, Reason: "changed my mind"})
		requireRefusal(t, err, codes.FailedPrecondition, "LOAN_ALREADY_DECIDED")
		e.requireUnchanged(t, reviewStream(id), before)
	})
	t.Run("signing before approval finds no contract", func(t *testing.T) {
		id := e.pendingReview(ctx, t)
		_, err := e.client.SignContract(ctx, &loansv1.SignContractRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.NotFound, "LOAN_CONTRACT_NOT_FOUND")
		_, err = e.client.RejectContract(ctx, &loansv1.RejectContractRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.NotFound, "LOAN_CONTRACT_NOT_FOUND")
		e.requireUnchanged(t, contractStream(id), nil)
	})
	t.Run("signing twice finds the contract already concluded", func(t *testing.T) {
		id := e.pendingSignature(ctx, t)
		e.sign(ctx, t, id)
		before := e.read(t, contractStream(id))
		_, err := e.client.SignContract(ctx, &loansv1.SignContractRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "CONTRACT_ALREADY_CONCLUDED")
		e.requireUnchanged(t, contractStream(id), before)
	})
	t.Run("rejecting after signing finds the contract already concluded", func(t *testing.T) {
		id := e.pendingSignature(ctx, t)
		e.sign(ctx, t, id)
		before := e.read(t, contractStream(id))
		_, err := e.client.RejectContract(ctx, &loansv1.RejectContractRequest{LoanApplicationUuid: id, Reason: "too late"})
		requireRefusal(t, err, codes.FailedPrecondition, "CONTRACT_ALREADY_CONCLUDED")
		e.requireUnchanged(t, contractStream(id), before)
	})
	t.Run("signing after a rejection finds the contract already concluded", func(t *testing.T) {
		id := e.pendingSignature(ctx, t)
		if _, err := e.client.RejectContract(ctx, &loansv1.RejectContractRequest{LoanApplicationUuid: id}); err != nil {
			t.Fatalf("RejectContract without a reason: %v", err)
		}
		before := e.read(t, contractStream(id))
		_, err := e.client.SignContract(ctx, &loansv1.SignContractRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "CONTRACT_ALREADY_CONCLUDED")
		e.requireUnchanged(t, contractStream(id), before)
	})
}
