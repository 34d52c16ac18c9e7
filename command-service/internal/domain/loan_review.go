package domain

import (
	"fmt"
	"strings"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// LoanReview is the lender's decision on a submitted application. Stream:
// LoanReviewStream. Statuses: none -> pending_review -> approved | denied.
type LoanReview struct {
	status Status
	terms  terms
}

// Status is where the review is in its lifecycle.
func (a LoanReview) Status() Status { return a.status }

// Applicant is who requested the loan under review.
func (a LoanReview) Applicant() string { return a.terms.applicant }

// Execute decides what IssueLoanReview, ApproveLoan and DenyLoan do to the
// review. Any other command is refused with COMMAND_NOT_HANDLED.
func (a LoanReview) Execute(cmd Command) ([]Event, error) {
	switch c := cmd.(type) {
	case IssueLoanReview:
		return a.issue(c)
	case ApproveLoan:
		return a.approve(c)
	case DenyLoan:
		return a.deny(c)
	default:
		return nil, notHandled(cmd, "LoanReview")
	}
}

// issue takes the terms as given: they were checked when the loan was
// requested, and the process manager copies them from LoanRequestSubmitted.
func (a LoanReview) issue(c IssueLoanReview) ([]Event, error) {
	if err := requireID(c.ApplicationID); err != nil {
		return nil, err
	}
	if a.status != StatusNone {
		return nil, refuse(KindAlreadyExists, ReasonLoanReviewAlreadyIssued,
			fmt.Sprintf("the review of loan application %s has already been issued", c.ApplicationID))
	}
	return []Event{&loansv1.LoanReviewIssued{
		LoanApplicationUuid: c.ApplicationID.String(),
		Amount:              c.Amount,
		Duration:            c.Duration,
		Applicant:           c.Applicant,
	}}, nil
}

// approve hands the terms on in the event, so that the contract is issued
// from it alone.
func (a LoanReview) approve(c ApproveLoan) ([]Event, error) {
	if err := requireID(c.ApplicationID); err != nil {
		return nil, err
	}
	if err := a.requirePending(c.ApplicationID.String()); err != nil {
		return nil, err
	}
	return []Event{&loansv1.LoanApproved{
		LoanApplicationUuid: c.ApplicationID.String(),
		Amount:              a.terms.amount,
		Duration:            a.terms.duration,
		Applicant:           a.terms.applicant,
	}}, nil
}

// deny checks the reason before the state: a blank reason is wrong whatever
// the state (see LoanRequest.request for the order of checks).
func (a LoanReview) deny(c DenyLoan) ([]Event, error) {
	if err := requireID(c.ApplicationID); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Reason) == "" {
		return nil, refuse(KindInvalidArgument, ReasonDenialReasonRequired,
			"a reason is required to deny a loan")
	}
	if err := checkReason(c.Reason); err != nil {
		return nil, err
	}
	if err := a.requirePending(c.ApplicationID.String()); err != nil {
		return nil, err
	}
	return []Event{&loansv1.LoanDenied{
		LoanApplicationUuid: c.ApplicationID.String(),
		Reason:              c.Reason,
	}}, nil
}

// requirePending allows a decision only while the review awaits one.
func (a LoanReview) requirePending(id string) error {
	switch a.status {
	case StatusPendingReview:
		return nil
	case StatusNone:
		// The review is issued asynchronously after submission, so "not found"
		// may also mean "not yet": the message says both.
		return refuse(KindNotFound, ReasonLoanReviewNotFound,
			fmt.Sprintf("loan application %s has no review yet: it is not submitted, or its review is being issued", id))
	default:
		return refuse(KindFailedPrecondition, ReasonLoanAlreadyDecided,
			fmt.Sprintf("loan application %s has already been %s", id, a.status))
	}
}

// Apply folds one event into the review. It never fails, so that any stored
// stream can be read; events of the other aggregates change nothing.
func (a LoanReview) Apply(e Event) LoanReview {
	if isNoEvent(e) {
		return a
	}
	switch e := e.(type) {
	case *loansv1.LoanReviewIssued:
		a.status = StatusPendingReview
		a.terms = terms{amount: e.GetAmount(), duration: e.GetDuration(), applicant: e.GetApplicant()}
	case *loansv1.LoanApproved:
		a.status = StatusApproved
	case *loansv1.LoanDenied:
		a.status = StatusDenied
	default:
		// Another aggregate's event: nothing to fold.
	}
	return a
}
