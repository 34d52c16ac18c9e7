// Package process holds the process managers: policies that turn an event
// into the next command of the loan's lifecycle. The commands they issue get
// IDs derived from the causing event, so an event delivered twice (after a
// crash, a restart, a resubscription) yields the same command, which the
// command path answers with its first result instead of deciding again.
package process

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/domain"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/loanevents"
)

// Event is an event delivered to a process manager.
type Event struct {
	ID       uuid.UUID
	Type     string
	Payload  domain.Event
	Metadata loanevents.Metadata
	Position uint64
}

// Manager reacts to some event types.
type Manager struct {
	// Name identifies the manager and its checkpoint; never rename one.
	Name string
	// EventTypes are the events it reacts to.
	EventTypes []string
	// Handle reacts to one event. An error means "not handled, try again";
	// refusals by the domain are not errors (they are logged).
	Handle func(ctx context.Context, e Event) error
}

// The identities the process managers act under: services' own identities,
// which no token can carry (see auth.Service), allowed only the commands the
// policy grants to the system role.
var (
	reviewer   = auth.Service("process-manager/loanReview")
	contractor = auth.Service("process-manager/loanContract")
)

// Managers returns the loan process managers on the command use cases.
func Managers(c *command.Commands, logger *slog.Logger) []Manager {
	return []Manager{
		{
			Name:       "loanReview",
			EventTypes: []string{loanevents.TypeLoanRequestSubmitted},
			Handle: func(ctx context.Context, e Event) error {
				submitted, ok := e.Payload.(*loansv1.LoanRequestSubmitted)
				if !ok {
					return nil
				}
				id, err := uuid.Parse(submitted.GetLoanApplicationUuid())
				if err != nil {
					logger.Error("process manager: event names no valid application", "manager", "loanReview", "event_id", e.ID, "error", err)
					return nil
				}
				_, err = c.IssueLoanReview(ctx, domain.IssueLoanReview{ApplicationID: id, Amount: submitted.GetAmount(),
					Duration: submitted.GetDuration(), Applicant: submitted.GetApplicant()}, follow(e, "IssueLoanReview", reviewer))
				return refusalsLogged(logger, "loanReview", e, err)
			},
		},
		{
			Name:       "loanContract",
			EventTypes: []string{loanevents.TypeLoanApproved},
			Handle: func(ctx context.Context, e Event) error {
				approved, ok := e.Payload.(*loansv1.LoanApproved)
				if !ok {
					return nil
				}
				id, err := uuid.Parse(approved.GetLoanApplicationUuid())
				if err != nil {
					logger.Error("process manager: event names no valid application", "manager", "loanContract", "event_id", e.ID, "error", err)
					return nil
				}
				_, err = c.IssueLoanContract(ctx, domain.IssueLoanContract{ApplicationID: id, Amount: approved.GetAmount(),
					Duration: approved.GetDuration(), Applicant: approved.GetApplicant()}, follow(e, "IssueLoanContract", contractor))
				return refusalsLogged(logger, "loanContract", e, err)
			},
		},
	}
}

// follow is the metadata of a command caused by an event.
func follow(e Event, commandName string, actor auth.Principal) command.Meta {
	correlation := e.Metadata.CorrelationID
	if correlation == "" {
		correlation = e.ID.String()
	}
	return command.Meta{
		CommandID:     command.DerivedCommandID(e.ID, commandName),
		CorrelationID: correlation,
		CausationID:   e.ID.String(),
		Principal:     actor,
		TraceParent:   e.Metadata.TraceParent,
	}
}

// refusalsLogged lets a domain refusal pass (issuing again cannot change
// it) and returns every other error for a retry.
func refusalsLogged(logger *slog.Logger, manager string, e Event, err error) error {
	if err == nil {
		return nil
	}
	if derr, ok := err.(*domain.Error); ok {
		logger.Warn("process manager: command refused", "manager", manager, "event_id", e.ID, "reason", derr.Reason, "error", derr.Message)
		return nil
	}
	return fmt.Errorf("process manager %s, event %s: %w", manager, e.ID, err)
}
