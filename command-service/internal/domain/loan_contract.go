package domain

import (
	"fmt"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// LoanContract is the contract offered for an approved application, until
// the applicant concludes it. Stream: LoanContractStream.
// Statuses: none -> pending_signature -> signed | rejected.
type LoanContract struct {
	status    Status
	applicant string // who alone may sign or reject it
}

// Status is where the contract is in its lifecycle.
func (a LoanContract) Status() Status { return a.status }

// Applicant is who requested the loan contracted.
func (a LoanContract) Applicant() string { return a.applicant }

// Execute decides what IssueLoanContract, SignContract and RejectContract do
// to the contract. Any other command is refused with COMMAND_NOT_HANDLED.
func (a LoanContract) Execute(cmd Command) ([]Event, error) {
	switch c := cmd.(type) {
	case IssueLoanContract:
		return a.issue(c)
	case SignContract:
		return a.sign(c)
	case RejectContract:
		return a.reject(c)
	default:
		return nil, notHandled(cmd, "LoanContract")
	}
}

// issue takes the terms as given: the process manager copies them from
// LoanApproved.
func (a LoanContract) issue(c IssueLoanContract) ([]Event, error) {
	if err := requireID(c.ApplicationID); err != nil {
		return nil, err
	}
	if a.status != StatusNone {
		return nil, refuse(KindAlreadyExists, ReasonLoanContractAlreadyIssued,
			fmt.Sprintf("the contract of loan application %s has already been issued", c.ApplicationID))
	}
	return []Event{&loansv1.LoanContractIssued{
		LoanApplicationUuid: c.ApplicationID.String(),
		Amount:              c.Amount,
		Duration:            c.Duration,
		Applicant:           c.Applicant,
	}}, nil
}

func (a LoanContract) sign(c SignContract) ([]Event, error) {
	if err := requireID(c.ApplicationID); err != nil {
		return nil, err
	}
	if err := a.requirePending(c.ApplicationID.String()); err != nil {
		return nil, err
	}
	return []Event{&loansv1.ContractSigned{LoanApplicationUuid: c.ApplicationID.String()}}, nil
}

// reject takes an empty reason: the applicant owes no explanation.
func (a LoanContract) reject(c RejectContract) ([]Event, error) {
	if err := requireID(c.ApplicationID); err != nil {
		return nil, err
	}
	if err := checkReason(c.Reason); err != nil {
		return nil, err
	}
	if err := a.requirePending(c.ApplicationID.String()); err != nil {
		return nil, err
	}
	return []Event{&loansv1.ContractRejected{
		LoanApplicationUuid: c.ApplicationID.String(),
		Reason:              c.Reason,
	}}, nil
}

// requirePending allows a conclusion only while the contract awaits one.
func (a LoanContract) requirePending(id string) error {
	switch a.status {
	case StatusPendingSignature:
		return nil
	case StatusNone:
		// Issued asynchronously after approval, so this may also mean "not yet".
		return refuse(KindNotFound, ReasonLoanContractNotFound,
			fmt.Sprintf("loan application %s has no contract yet: it is not approved, or its contract is being issued", id))
	default:
		return refuse(KindFailedPrecondition, ReasonContractAlreadyConcluded,
			fmt.Sprintf("the contract of loan application %s has already been %s", id, a.status))
	}
}

// Apply folds one event into the contract. It never fails, so that any stored
// stream can be read; events of the other aggregates change nothing.
func (a LoanContract) Apply(e Event) LoanContract {
	if isNoEvent(e) {
		return a
	}
	switch e := e.(type) {
	case *loansv1.LoanContractIssued:
		a.status = StatusPendingSignature
		a.applicant = e.GetApplicant()
	case *loansv1.ContractSigned:
		a.status = StatusSigned
	case *loansv1.ContractRejected:
		a.status = StatusRejected
	default:
		// Another aggregate's event: nothing to fold.
	}
	return a
}
