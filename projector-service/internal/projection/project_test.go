package projection_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

func TestProject_LoanRequested(t *testing.T) {
	t.Run("OpensTheApplication", func(t *testing.T) {
		r := when(t, readmodel.Application{}, requested)
		wantEqual(t, "application", r.Application, readmodel.Application{
			ID: appID, Amount: 1200, Duration: 24, Status: readmodel.StatusPendingSubmission, Applicant: "ada",
			RequestedAt: at(0), UpdatedAt: at(0), LastPosition: 10,
		})
		wantEqual(t, "changed", r.Changed, true)
		wantEqual(t, "contribution", r.Contribution, readmodel.Contribution{Position: 10,
			Daily:  readmodel.DailyStats{Day: "2026-11-20", RequestedCount: 1, RequestedAmount: 1200},
			Funnel: readmodel.Funnel{Requested: 1}})
	})
	t.Run("HistoryEntryKeepsPayloadAndMetadata", func(t *testing.T) {
		rec := requested.recorded(t)
		r := when(t, readmodel.Application{}, requested)
		h := r.History
		if !bytes.Equal(h.Payload, rec.Data) {
			t.Errorf("history payload %s, want the stored %s", h.Payload, rec.Data)
		}
		h.Payload = nil
		wantEqual(t, "history", h, readmodel.HistoryEntry{
			ApplicationID: appID, Position: 10, Stream: "loanRequest-" + appID, Revision: 3, EventType: "LoanRequested",
			OccurredAt: at(0), Actor: "ada", StatusAfter: readmodel.StatusPendingSubmission,
			CommandID: "cmd-LoanRequested", CorrelationID: "corr-1", CausationID: "cause-LoanRequested",
		})
	})
}

func TestProject_LoanRequestSubmitted(t *testing.T) {
	r := when(t, given(t, requested), submitted)
	want := given(t, requested)
	want.Status, want.SubmittedAt, want.UpdatedAt, want.LastPosition = readmodel.StatusSubmitted, at(1), at(1), 20
	wantEqual(t, "application", r.Application, want)
	wantEqual(t, "history status", r.History.StatusAfter, readmodel.StatusSubmitted)
	wantEqual(t, "contribution", r.Contribution, readmodel.Contribution{Position: 20,
		Daily: readmodel.DailyStats{Day: "2026-11-20", SubmittedCount: 1}, Funnel: readmodel.Funnel{Submitted: 1}})
}

func TestProject_LoanReviewIssued(t *testing.T) {
	r := when(t, given(t, requested, submitted), reviewed)
	wantEqual(t, "status", r.Application.Status, readmodel.StatusPendingReview)
	wantEqual(t, "review issued at", r.Application.ReviewIssuedAt, at(2))
	wantEqual(t, "contribution", r.Contribution, readmodel.Contribution{Position: 30,
		Daily: readmodel.DailyStats{Day: "2026-11-20"}, Funnel: readmodel.Funnel{ReviewIssued: 1}})
}

func TestProject_LoanApproved(t *testing.T) {
	t.Run("CountsAmountAndDecisionTime", func(t *testing.T) {
		r := when(t, given(t, requested, submitted, reviewed), approved)
		wantEqual(t, "status", r.Application.Status, readmodel.StatusApproved)
		wantEqual(t, "decided at", r.Application.DecidedAt, at(5))
		// Submitted at minute 1, decided at minute 5: 240 s.
		wantEqual(t, "contribution", r.Contribution, readmodel.Contribution{Position: 40,
			Daily:  readmodel.DailyStats{Day: "2026-11-20", ApprovedCount: 1, ApprovedAmount: 1200, Decisions: 1, DecisionSecondsTotal: 240},
			Funnel: readmodel.Funnel{Approved: 1}})
	})
	t.Run("WithoutItsEarlierEventsProjectsWhatItCarries", func(t *testing.T) {
		r := when(t, readmodel.Application{}, approved)
		wantEqual(t, "application", r.Application, readmodel.Application{
			ID: appID, Amount: 1200, Duration: 24, Status: readmodel.StatusApproved, Applicant: "ada",
			DecidedAt: at(5), UpdatedAt: at(5), LastPosition: 40,
		})
		// No submission time: counted as approved, not in the mean decision time.
		wantEqual(t, "daily", r.Contribution.Daily, readmodel.DailyStats{Day: "2026-11-20", ApprovedCount: 1, ApprovedAmount: 1200})
	})
}

func TestProject_LoanDenied(t *testing.T) {
	t.Run("KeepsTheReasonAndCountsTheAmountApplied", func(t *testing.T) {
		r := when(t, given(t, requested, submitted, reviewed), denied)
		wantEqual(t, "status", r.Application.Status, readmodel.StatusDenied)
		wantEqual(t, "denial reason", r.Application.DenialReason, "income too low")
		wantEqual(t, "decided at", r.Application.DecidedAt, at(5))
		wantEqual(t, "contribution", r.Contribution, readmodel.Contribution{Position: 40,
			Daily:  readmodel.DailyStats{Day: "2026-11-20", DeniedCount: 1, DeniedAmount: 1200, Decisions: 1, DecisionSecondsTotal: 240},
			Funnel: readmodel.Funnel{Denied: 1}})
	})
	t.Run("WithoutItsEarlierEventsHasNoAmount", func(t *testing.T) {
		r := when(t, readmodel.Application{}, denied)
		wantEqual(t, "application", r.Application, readmodel.Application{ID: appID, Status: readmodel.StatusDenied,
			DecidedAt: at(5), UpdatedAt: at(5), DenialReason: "income too low", LastPosition: 40})
		wantEqual(t, "daily", r.Contribution.Daily, readmodel.DailyStats{Day: "2026-11-20", DeniedCount: 1})
	})
}

func TestProject_LoanContractIssued(t *testing.T) {
	r := when(t, given(t, requested, submitted, reviewed, approved), issued)
	wantEqual(t, "status", r.Application.Status, readmodel.StatusPendingSignature)
	wantEqual(t, "contract issued at", r.Application.ContractIssuedAt, at(6))
	wantEqual(t, "contribution", r.Contribution, readmodel.Contribution{Position: 50,
		Daily: readmodel.DailyStats{Day: "2026-11-20"}, Funnel: readmodel.Funnel{ContractIssued: 1}})
}

func TestProject_ContractSigned(t *testing.T) {
	r := when(t, given(t, requested, submitted, reviewed, approved, issued), signed)
	wantEqual(t, "application", r.Application, readmodel.Application{
		ID: appID, Amount: 1200, Duration: 24, Status: readmodel.StatusSigned, Applicant: "ada",
		RequestedAt: at(0), SubmittedAt: at(1), ReviewIssuedAt: at(2), DecidedAt: at(5), ContractIssuedAt: at(6),
		ConcludedAt: at(8), UpdatedAt: at(8), LastPosition: 60,
	})
	wantEqual(t, "contribution", r.Contribution, readmodel.Contribution{Position: 60,
		Daily: readmodel.DailyStats{Day: "2026-11-20", SignedCount: 1, SignedAmount: 1200}, Funnel: readmodel.Funnel{Signed: 1}})
}

func TestProject_ContractRejected(t *testing.T) {
	r := when(t, given(t, requested, submitted, reviewed, approved, issued), rejected)
	wantEqual(t, "status", r.Application.Status, readmodel.StatusRejected)
	wantEqual(t, "rejection reason", r.Application.RejectionReason, "changed my mind")
	wantEqual(t, "concluded at", r.Application.ConcludedAt, at(8))
	wantEqual(t, "contribution", r.Contribution, readmodel.Contribution{Position: 60,
		Daily: readmodel.DailyStats{Day: "2026-11-20", RejectedCount: 1, RejectedAmount: 1200}, Funnel: readmodel.Funnel{Rejected: 1}})
}

func TestProject_Edges(t *testing.T) {
	t.Run("AlreadyAppliedEventLeavesTheApplication", func(t *testing.T) {
		app := given(t, requested, submitted, reviewed, approved)
		r := when(t, app, submitted) // position 20, applied up to 40
		wantEqual(t, "changed", r.Changed, false)
		wantEqual(t, "application", r.Application, app)
		// Its history entry and contribution are still given: the store
		// keeps them once.
		wantEqual(t, "history status", r.History.StatusAfter, readmodel.StatusSubmitted)
		wantEqual(t, "contribution position", r.Contribution.Position, uint64(20))
	})
	t.Run("SamePositionIsAlreadyApplied", func(t *testing.T) {
		app := given(t, requested, submitted)
		wantEqual(t, "changed", when(t, app, submitted).Changed, false)
	})
	t.Run("LaterTermsDoNotEraseEarlierOnes", func(t *testing.T) {
		app := given(t, requested)
		r := when(t, app, ev{&loansv1.LoanRequestSubmitted{LoanApplicationUuid: appID}, 1, 20})
		wantEqual(t, "amount", r.Application.Amount, int64(1200))
		wantEqual(t, "applicant", r.Application.Applicant, "ada")
	})
	t.Run("TermsOfALaterEventFillWhatIsMissing", func(t *testing.T) {
		r := when(t, given(t, ev{&loansv1.LoanRequestSubmitted{LoanApplicationUuid: appID}, 1, 20}), reviewed)
		wantEqual(t, "amount", r.Application.Amount, int64(1200))
		wantEqual(t, "duration", r.Application.Duration, int32(24))
		wantEqual(t, "requested at", r.Application.RequestedAt, time.Time{})
	})
	t.Run("DayIsTheUTCDayOfOccurredAt", func(t *testing.T) {
		e := requested.decoded(t)
		e.OccurredAt = time.Date(2026, 11, 20, 23, 30, 0, 0, time.FixedZone("EST", -5*3600)).UTC()
		r, err := projection.Project(readmodel.Application{}, e)
		if err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "day", r.Contribution.Daily.Day, "2026-11-21")
	})
	t.Run("PayloadNotMatchingItsTypeFails", func(t *testing.T) {
		e := requested.decoded(t)
		e.Type = loanevents.TypeLoanApproved
		if _, err := projection.Project(readmodel.Application{}, e); err == nil {
			t.Error("want an error")
		}
	})
	t.Run("UnknownTypeFails", func(t *testing.T) {
		e := requested.decoded(t)
		e.Type = "LoanRefinanced"
		if _, err := projection.Project(readmodel.Application{}, e); !errors.Is(err, projection.ErrUnknownType) {
			t.Errorf("got %v, want ErrUnknownType", err)
		}
	})
	t.Run("EventOfAnotherApplicationFails", func(t *testing.T) {
		other := readmodel.Application{ID: "11111111-1111-1111-1111-111111111111", LastPosition: 1}
		if _, err := projection.Project(other, requested.decoded(t)); err == nil {
			t.Error("want an error")
		}
	})
}

func TestStatusAfter_EveryLoanEventType(t *testing.T) {
	for _, typ := range loanevents.Types() {
		if _, ok := projection.StatusAfter(typ); !ok {
			t.Errorf("no status after %s", typ)
		}
	}
}
