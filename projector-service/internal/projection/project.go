package projection

import (
	"fmt"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/readmodel"
)

// Result is what one event changes in the read model.
type Result struct {
	// Application is the application after the event (the one given, as
	// it was, when the event had already been applied to it).
	Application readmodel.Application
	// Changed tells whether Application differs from the one given.
	Changed      bool
	History      readmodel.HistoryEntry
	Contribution readmodel.Contribution
}

// StatusAfter is the status an application is in after an event of this
// type; ok is false for a type that is not a loan event.
func StatusAfter(eventType string) (s readmodel.Status, ok bool) {
	switch eventType {
	case loanevents.TypeLoanRequested:
		return readmodel.StatusPendingSubmission, true
	case loanevents.TypeLoanRequestSubmitted:
		return readmodel.StatusSubmitted, true
	case loanevents.TypeLoanReviewIssued:
		return readmodel.StatusPendingReview, true
	case loanevents.TypeLoanApproved:
		return readmodel.StatusApproved, true
	case loanevents.TypeLoanDenied:
		return readmodel.StatusDenied, true
	case loanevents.TypeLoanContractIssued:
		return readmodel.StatusPendingSignature, true
	case loanevents.TypeContractSigned:
		return readmodel.StatusSigned, true
	case loanevents.TypeContractRejected:
		return readmodel.StatusRejected, true
	}
	return "", false
}

// Project folds one event into its application. app is the stored
// application (zero when there is none yet). Events whose earlier events are
// missing (an application without its LoanRequested, say) still project
// what they carry. The error only reports an Event that Decode would not
// have produced (a payload that does not match its type).
func Project(app readmodel.Application, e Event) (Result, error) {
	status, ok := StatusAfter(e.Type)
	if !ok {
		return Result{}, fmt.Errorf("%w %q", ErrUnknownType, e.Type)
	}
	if app.ID != "" && app.ID != e.ApplicationID {
		return Result{}, fmt.Errorf("projection: event for application %s given application %s", e.ApplicationID, app.ID)
	}
	applied := app.ID != "" && app.LastPosition >= e.Position

	next := app
	next.ID = e.ApplicationID
	next.Status = status
	next.UpdatedAt = e.OccurredAt
	next.LastPosition = e.Position
	c := readmodel.Contribution{Position: e.Position, Daily: readmodel.DailyStats{Day: Day(e)}}
	d, f := &c.Daily, &c.Funnel

	switch p := e.Payload.(type) {
	case *loansv1.LoanRequested:
		if e.Type != loanevents.TypeLoanRequested {
			return mismatch(e)
		}
		setTerms(&next, p)
		next.RequestedAt = e.OccurredAt
		d.RequestedCount, d.RequestedAmount = 1, p.GetAmount()
		f.Requested = 1
	case *loansv1.LoanRequestSubmitted:
		if e.Type != loanevents.TypeLoanRequestSubmitted {
			return mismatch(e)
		}
		setTerms(&next, p)
		next.SubmittedAt = e.OccurredAt
		d.SubmittedCount = 1
		f.Submitted = 1
	case *loansv1.LoanReviewIssued:
		if e.Type != loanevents.TypeLoanReviewIssued {
			return mismatch(e)
		}
		setTerms(&next, p)
		next.ReviewIssuedAt = e.OccurredAt
		f.ReviewIssued = 1
	case *loansv1.LoanApproved:
		if e.Type != loanevents.TypeLoanApproved {
			return mismatch(e)
		}
		setTerms(&next, p)
		next.DecidedAt = e.OccurredAt
		d.ApprovedCount, d.ApprovedAmount = 1, next.Amount
		decision(d, app, e)
		f.Approved = 1
	case *loansv1.LoanDenied:
		if e.Type != loanevents.TypeLoanDenied {
			return mismatch(e)
		}
		next.DecidedAt = e.OccurredAt
		next.DenialReason = p.GetReason()
		d.DeniedCount, d.DeniedAmount = 1, next.Amount
		decision(d, app, e)
		f.Denied = 1
	case *loansv1.LoanContractIssued:
		if e.Type != loanevents.TypeLoanContractIssued {
			return mismatch(e)
		}
		setTerms(&next, p)
		next.ContractIssuedAt = e.OccurredAt
		f.ContractIssued = 1
	case *loansv1.ContractSigned:
		if e.Type != loanevents.TypeContractSigned {
			return mismatch(e)
		}
		next.ConcludedAt = e.OccurredAt
		d.SignedCount, d.SignedAmount = 1, next.Amount
		f.Signed = 1
	case *loansv1.ContractRejected:
		if e.Type != loanevents.TypeContractRejected {
			return mismatch(e)
		}
		next.ConcludedAt = e.OccurredAt
		next.RejectionReason = p.GetReason()
		d.RejectedCount, d.RejectedAmount = 1, next.Amount
		f.Rejected = 1
	default:
		return mismatch(e)
	}

	r := Result{Application: next, Changed: true, History: historyEntry(e, status), Contribution: c}
	if applied {
		r.Application, r.Changed = app, false
	}
	return r, nil
}

// Day is the UTC day an event counts into.
func Day(e Event) string { return e.OccurredAt.UTC().Format("2006-01-02") }

func mismatch(e Event) (Result, error) {
	return Result{}, fmt.Errorf("projection: event type %s carries a %T payload", e.Type, e.Payload)
}

// setTerms takes the terms an event carries; zero values are "not carried"
// (proto3), so they never erase what an earlier event said.
func setTerms(app *readmodel.Application, t terms) {
	if v := t.GetAmount(); v != 0 {
		app.Amount = v
	}
	if v := t.GetDuration(); v != 0 {
		app.Duration = v
	}
	if v := t.GetApplicant(); v != "" {
		app.Applicant = v
	}
}

// decision counts a decision into the day: the time from submission to
// decision feeds the mean decision time, so a decision whose submission is
// unknown (its events missing) is counted in ApprovedCount or DeniedCount
// only, not in Decisions.
func decision(d *readmodel.DailyStats, before readmodel.Application, e Event) {
	if before.SubmittedAt.IsZero() {
		return
	}
	d.Decisions = 1
	d.DecisionSecondsTotal = e.OccurredAt.Sub(before.SubmittedAt).Seconds()
}

func historyEntry(e Event, status readmodel.Status) readmodel.HistoryEntry {
	return readmodel.HistoryEntry{
		ApplicationID: e.ApplicationID,
		Position:      e.Position,
		Stream:        e.Stream,
		Revision:      e.Revision,
		EventType:     e.Type,
		OccurredAt:    e.OccurredAt,
		Actor:         e.Metadata.Actor,
		StatusAfter:   status,
		Payload:       e.Data,
		CommandID:     e.Metadata.CommandID,
		CorrelationID: e.Metadata.CorrelationID,
		CausationID:   e.Metadata.CausationID,
	}
}
