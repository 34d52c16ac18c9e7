package domain

import "github.com/google/uuid"

// Command is anything an aggregate may be asked to do. Commands carry the
// identity of the application they target, so that the application layer
// can load the right stream before asking the aggregate.
type Command interface {
	AggregateID() uuid.UUID
}

// RequestLoan opens an application (LoanRequest). Limits bound the terms;
// a zero bound means its default (see DefaultLimits).
type RequestLoan struct {
	ApplicationID uuid.UUID
	Amount        int64
	Duration      int32
	Applicant     string
	Limits        Limits
}

// SubmitLoanRequest submits an application for review (LoanRequest).
type SubmitLoanRequest struct {
	ApplicationID uuid.UUID
}

// IssueLoanReview opens the review of a submitted application (LoanReview).
// A process manager sends it after LoanRequestSubmitted, copying the terms,
// because an aggregate never reads another aggregate.
type IssueLoanReview struct {
	ApplicationID uuid.UUID
	Amount        int64
	Duration      int32
	Applicant     string
}

// ApproveLoan ends a pending review with approval (LoanReview).
type ApproveLoan struct {
	ApplicationID uuid.UUID
}

// DenyLoan ends a pending review with a denial (LoanReview). Reason is
// required: an applicant is owed an explanation.
type DenyLoan struct {
	ApplicationID uuid.UUID
	Reason        string
}

// IssueLoanContract opens the contract of an approved application
// (LoanContract). A process manager sends it after LoanApproved, copying the
// terms.
type IssueLoanContract struct {
	ApplicationID uuid.UUID
	Amount        int64
	Duration      int32
	Applicant     string
}

// SignContract ends a pending contract signed (LoanContract).
type SignContract struct {
	ApplicationID uuid.UUID
}

// RejectContract ends a pending contract rejected (LoanContract). Reason is
// optional: the applicant owes no explanation.
type RejectContract struct {
	ApplicationID uuid.UUID
	Reason        string
}

func (c RequestLoan) AggregateID() uuid.UUID       { return c.ApplicationID }
func (c SubmitLoanRequest) AggregateID() uuid.UUID { return c.ApplicationID }
func (c IssueLoanReview) AggregateID() uuid.UUID   { return c.ApplicationID }
func (c ApproveLoan) AggregateID() uuid.UUID       { return c.ApplicationID }
func (c DenyLoan) AggregateID() uuid.UUID          { return c.ApplicationID }
func (c IssueLoanContract) AggregateID() uuid.UUID { return c.ApplicationID }
func (c SignContract) AggregateID() uuid.UUID      { return c.ApplicationID }
func (c RejectContract) AggregateID() uuid.UUID    { return c.ApplicationID }
