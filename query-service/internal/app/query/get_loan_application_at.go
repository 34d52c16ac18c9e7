package query

import (
	"context"
	"fmt"
	"time"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/readmodel"
)

// GetLoanApplicationAt asks for an application as it was at a past moment.
type GetLoanApplicationAt struct {
	ID               string // loan_application_uuid
	At               time.Time
	ConsistencyToken uint64
}

// GetLoanApplicationAt folds the application's history up to At (the events
// that occurred at or before it) into the application as it was then, or
// answers LOAN_APPLICATION_NOT_FOUND if it had not been requested by then.
// An application the caller may not see is not found at any moment: that
// it was not requested yet would tell that it was, later.
func (q *Queries) GetLoanApplicationAt(ctx context.Context, qry GetLoanApplicationAt) (readmodel.Application, error) {
	g, err := authorize(ctx, NameGetLoanApplicationAt)
	if err != nil {
		return readmodel.Application{}, err
	}
	id, err := applicationID(qry.ID)
	if err != nil {
		return readmodel.Application{}, err
	}
	if qry.At.IsZero() {
		return readmodel.Application{}, invalid(ReasonAtRequired, "at, the moment to look at, is required")
	}
	if err := q.catchUp(ctx, qry.ConsistencyToken); err != nil {
		return readmodel.Application{}, err
	}
	if err := q.checkCovered(ctx, g, id); err != nil {
		return readmodel.Application{}, err
	}
	entries, err := q.history(ctx, id)
	if err != nil {
		return readmodel.Application{}, err
	}
	app, requested, err := foldUntil(id, entries, qry.At)
	if err != nil {
		return readmodel.Application{}, err
	}
	if !requested {
		return readmodel.Application{}, &Error{Kind: KindNotFound, Reason: ReasonLoanApplicationNotFound,
			Message: fmt.Sprintf("loan application %s was not requested yet at %s", quote(id), qry.At.UTC().Format(time.RFC3339Nano))}
	}
	return g.show(app), nil
}

// foldUntil replays the entries (in position order) that occurred at or
// before at, as the projection does: the terms come from LoanRequested, the
// status is each event's StatusAfter, each step's time is its event's
// occurred_at and the reasons come from the payloads. requested tells
// whether a LoanRequested was among them.
func foldUntil(id string, entries []readmodel.HistoryEntry, at time.Time) (app readmodel.Application, requested bool, err error) {
	app.ID = id
	for _, e := range entries {
		if e.OccurredAt.After(at) {
			continue
		}
		if !loanevents.IsKnown(e.EventType) {
			// An event type this code does not know yet: only its status.
			apply(&app, e)
			continue
		}
		payload, err := loanevents.Unmarshal(e.EventType, e.Payload)
		if err != nil {
			return readmodel.Application{}, false, fmt.Errorf("history of %s at position %d: %w", id, e.Position, err)
		}
		switch p := payload.(type) {
		case *loansv1.LoanRequested:
			requested = true
			app.Amount, app.Duration, app.Applicant = p.GetAmount(), p.GetDuration(), p.GetApplicant()
			app.RequestedAt = e.OccurredAt
		case *loansv1.LoanRequestSubmitted:
			app.SubmittedAt = e.OccurredAt
		case *loansv1.LoanReviewIssued:
			app.ReviewIssuedAt = e.OccurredAt
		case *loansv1.LoanApproved:
			app.DecidedAt = e.OccurredAt
		case *loansv1.LoanDenied:
			app.DecidedAt = e.OccurredAt
			app.DenialReason = p.GetReason()
		case *loansv1.LoanContractIssued:
			app.ContractIssuedAt = e.OccurredAt
		case *loansv1.ContractSigned:
			app.ConcludedAt = e.OccurredAt
		case *loansv1.ContractRejected:
			app.ConcludedAt = e.OccurredAt
			app.RejectionReason = p.GetReason()
		}
		apply(&app, e)
	}
	return app, requested, nil
}

// apply records what every event changes: status, last update, position.
func apply(app *readmodel.Application, e readmodel.HistoryEntry) {
	if e.StatusAfter != "" {
		app.Status = e.StatusAfter
	}
	app.UpdatedAt = e.OccurredAt
	app.LastPosition = e.Position
}
