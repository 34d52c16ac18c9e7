package domain

import (
	"fmt"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// LoanRequest is an application as the applicant writes it, until it is
// submitted for review. Stream: LoanRequestStream.
// Statuses: none -> pending_submission -> submitted.
type LoanRequest struct {
	status Status
	terms  terms
}

// Status is where the request is in its lifecycle.
func (a LoanRequest) Status() Status { return a.status }

// Applicant is who requested the loan.
func (a LoanRequest) Applicant() string { return a.terms.applicant }

// Execute decides what RequestLoan and SubmitLoanRequest do to the request.
// Any other command is refused with COMMAND_NOT_HANDLED.
func (a LoanRequest) Execute(cmd Command) ([]Event, error) {
	switch c := cmd.(type) {
	case RequestLoan:
		return a.request(c)
	case SubmitLoanRequest:
		return a.submit(c)
	default:
		return nil, notHandled(cmd, "LoanRequest")
	}
}

// request checks the command's own arguments before the state, in this order:
// application UUID, amount, duration; then whether the application exists.
// Arguments first because they are wrong whatever the state (gRPC's line
// between INVALID_ARGUMENT and the state codes); amount before duration so
// that the answer is the same every time when both are wrong.
func (a LoanRequest) request(c RequestLoan) ([]Event, error) {
	if err := requireID(c.ApplicationID); err != nil {
		return nil, err
	}
	limits := c.Limits.orDefault()
	if err := checkAmount(c.Amount, limits.MaxAmount); err != nil {
		return nil, err
	}
	if err := checkDuration(c.Duration, limits.MaxDuration); err != nil {
		return nil, err
	}
	if err := checkApplicant(c.Applicant); err != nil {
		return nil, err
	}
	if a.status != StatusNone {
		return nil, refuse(KindAlreadyExists, ReasonLoanAlreadyRequested,
			fmt.Sprintf("loan application %s has already been requested", c.ApplicationID))
	}
	return []Event{&loansv1.LoanRequested{
		LoanApplicationUuid: c.ApplicationID.String(),
		Amount:              c.Amount,
		Duration:            c.Duration,
		Applicant:           c.Applicant,
	}}, nil
}

// checkApplicant: every application has an owner, who alone may act on it.
func checkApplicant(applicant string) error {
	switch {
	case applicant == "":
		return refuse(KindInvalidArgument, ReasonApplicantRequired, "an application needs an applicant")
	case len(applicant) > MaxApplicantLength:
		return refuse(KindInvalidArgument, ReasonApplicantTooLong,
			fmt.Sprintf("the applicant has %d bytes; at most %d are allowed", len(applicant), MaxApplicantLength))
	}
	return nil
}

func checkAmount(amount, maxAmount int64) error {
	if amount < MinAmount {
		return refuse(KindInvalidArgument, ReasonAmountIsTooLow,
			fmt.Sprintf("amount %d is below the minimum of %d", amount, MinAmount))
	}
	if amount > maxAmount {
		return refuse(KindInvalidArgument, ReasonAmountIsTooHigh,
			fmt.Sprintf("amount %d is above the maximum of %d", amount, maxAmount))
	}
	return nil
}

func checkDuration(duration, maxDuration int32) error {
	if duration < MinDuration {
		return refuse(KindInvalidArgument, ReasonDurationIsTooLow,
			fmt.Sprintf("duration of %d months is below the minimum of %d months", duration, MinDuration))
	}
	if duration > maxDuration {
		return refuse(KindInvalidArgument, ReasonDurationIsTooHigh,
			fmt.Sprintf("duration of %d months is above the maximum of %d months", duration, maxDuration))
	}
	return nil
}

// submit hands the terms on in the event, so that the review is issued from
// it alone.
func (a LoanRequest) submit(c SubmitLoanRequest) ([]Event, error) {
	if err := requireID(c.ApplicationID); err != nil {
		return nil, err
	}
	switch a.status {
	case StatusNone:
		return nil, refuse(KindNotFound, ReasonLoanRequestNotFound,
			fmt.Sprintf("loan application %s has not been requested", c.ApplicationID))
	case StatusPendingSubmission:
		return []Event{&loansv1.LoanRequestSubmitted{
			LoanApplicationUuid: c.ApplicationID.String(),
			Amount:              a.terms.amount,
			Duration:            a.terms.duration,
			Applicant:           a.terms.applicant,
		}}, nil
	default:
		return nil, refuse(KindFailedPrecondition, ReasonLoanRequestAlreadySubmitted,
			fmt.Sprintf("loan application %s has already been submitted", c.ApplicationID))
	}
}

// Apply folds one event into the request. It never fails, so that any stored
// stream can be read; events of the other aggregates change nothing.
func (a LoanRequest) Apply(e Event) LoanRequest {
	if isNoEvent(e) {
		return a
	}
	switch e := e.(type) {
	case *loansv1.LoanRequested:
		a.status = StatusPendingSubmission
		a.terms = terms{amount: e.GetAmount(), duration: e.GetDuration(), applicant: e.GetApplicant()}
	case *loansv1.LoanRequestSubmitted:
		a.status = StatusSubmitted
	default:
		// Another aggregate's event: nothing to fold.
	}
	return a
}
