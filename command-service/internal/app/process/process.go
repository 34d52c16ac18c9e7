// Package process holds the process managers: policies that turn an event
// into the next command of the loan's lifecycle, and the Runner that hands
// them their events from the event store (a Log). The commands they issue get
// IDs derived from the causing event, so an event delivered twice (after a
// crash, a restart, a resubscription) yields the same command, which the
// command path answers with its first result instead of deciding again.
//
// An event a manager cannot handle for good (it does not decode, or its
// command is refused) is parked in the Log, where operators see it and replay
// it (Replay) once its cause is fixed: it is never dropped. Failures of the
// moment (the event store away) are tried again until they pass.
package process

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/domain"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/telemetry"
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
	// Name identifies the manager, its checkpoint and its parked events;
	// never rename one.
	Name string
	// EventTypes are the events it reacts to.
	EventTypes []string
	// Handle reacts to one event. An error means "not handled": a refusal
	// (see Refused) parks the event, any other failure is tried again.
	Handle func(ctx context.Context, e Event) error
}

// ErrUnhandleable: the event cannot be handled as it stands (its payload
// does not decode, or it names no valid application); handling it again
// cannot change that.
var ErrUnhandleable = errors.New("the event cannot be handled")

// The identities the process managers act under: services' own identities,
// which no token can carry (see auth.Service), allowed only the commands the
// policy grants to the system role.
var (
	reviewer   = auth.Service("process-manager/loanReview")
	contractor = auth.Service("process-manager/loanContract")
)

// Managers returns the loan process managers on the command use cases.
func Managers(c *command.Commands) []Manager {
	return []Manager{
		{
			Name:       "loanReview",
			EventTypes: []string{loanevents.TypeLoanRequestSubmitted},
			Handle: func(ctx context.Context, e Event) error {
				submitted, ok := e.Payload.(*loansv1.LoanRequestSubmitted)
				if !ok {
					return fmt.Errorf("%w: a %s is not a LoanRequestSubmitted", ErrUnhandleable, e.Type)
				}
				id, err := uuid.Parse(submitted.GetLoanApplicationUuid())
				if err != nil {
					return fmt.Errorf("%w: it names no valid application: %w", ErrUnhandleable, err)
				}
				_, err = c.IssueLoanReview(ctx, domain.IssueLoanReview{ApplicationID: id, Amount: submitted.GetAmount(),
					Duration: submitted.GetDuration(), Applicant: submitted.GetApplicant()}, follow(ctx, e, "IssueLoanReview", reviewer))
				return err
			},
		},
		{
			Name:       "loanContract",
			EventTypes: []string{loanevents.TypeLoanApproved},
			Handle: func(ctx context.Context, e Event) error {
				approved, ok := e.Payload.(*loansv1.LoanApproved)
				if !ok {
					return fmt.Errorf("%w: a %s is not a LoanApproved", ErrUnhandleable, e.Type)
				}
				id, err := uuid.Parse(approved.GetLoanApplicationUuid())
				if err != nil {
					return fmt.Errorf("%w: it names no valid application: %w", ErrUnhandleable, err)
				}
				_, err = c.IssueLoanContract(ctx, domain.IssueLoanContract{ApplicationID: id, Amount: approved.GetAmount(),
					Duration: approved.GetDuration(), Applicant: approved.GetApplicant()}, follow(ctx, e, "IssueLoanContract", contractor))
				return err
			},
		},
	}
}

// follow is the metadata of a command caused by an event. Its trace context
// is the handling's span (Runner starts it as a child of the event's), so
// the follow-up command joins the trace of the command that caused it.
func follow(ctx context.Context, e Event, commandName string, actor auth.Principal) command.Meta {
	correlation := e.Metadata.CorrelationID
	if correlation == "" {
		correlation = e.ID.String()
	}
	return command.Meta{
		CommandID:     command.DerivedCommandID(e.ID, commandName),
		CorrelationID: correlation,
		CausationID:   e.ID.String(),
		Principal:     actor,
		TraceParent:   telemetry.TraceParent(ctx),
	}
}

// Refused tells the failures that handling the event again cannot change:
// the event is unhandleable, or the command path refused the command (a
// domain refusal, an authorization refusal, a command ID reused). They are
// parked at once.
func Refused(err error) bool {
	var (
		derr   *domain.Error
		access *command.AccessError
	)
	return errors.Is(err, ErrUnhandleable) || errors.As(err, &derr) || errors.As(err, &access) ||
		errors.Is(err, command.ErrCommandIDReused)
}

// transient tells the failures of the moment: the event store did not
// answer, the application kept changing, the attempt ran out of time. They
// are tried again for as long as it takes, and never parked.
func transient(err error) bool {
	return errors.Is(err, command.ErrStoreUnavailable) || errors.Is(err, command.ErrRetriesExhausted) ||
		errors.Is(err, context.DeadlineExceeded)
}
