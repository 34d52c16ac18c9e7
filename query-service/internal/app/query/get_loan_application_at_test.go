package query_test

import (
	"testing"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/app/query"
	"github.com/loanflow/loans/query-service/internal/fixture"
)

func TestQueries_GetLoanApplicationAt(t *testing.T) {
	reader := newFakeReader()
	b := fixture.New(100).
		Request(idA, 1200, 24, "ada", at(0)).
		Submit(idA, at(time.Minute)).
		Review(idA, at(2*time.Minute)).
		Approve(idA, at(time.Hour)).
		IssueContract(idA, at(time.Hour+time.Second)).
		Reject(idA, "changed my mind", at(48*time.Hour)).
		Request(idB, 500, 6, "bob", at(time.Minute)).
		Submit(idB, at(2*time.Minute)).
		Review(idB, at(3*time.Minute)).
		Deny(idB, "income too low", at(4*time.Minute))
	reader.apply(b.Batch())
	q := query.New(reader, query.Config{})
	asOf := func(t *testing.T, id string, when time.Time) readmodel.Application {
		t.Helper()
		got, err := q.GetLoanApplicationAt(asOps(t.Context()), query.GetLoanApplicationAt{ID: id, At: when})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("BeforeTheRequest", func(t *testing.T) {
		_, err := q.GetLoanApplicationAt(asOps(t.Context()), query.GetLoanApplicationAt{ID: idA, At: at(-time.Nanosecond)})
		refusedWith(t, err, query.KindNotFound, query.ReasonLoanApplicationNotFound)
	})
	t.Run("AtTheRequest", func(t *testing.T) {
		got := asOf(t, idA, at(0))
		want := readmodel.Application{ID: idA, Amount: 1200, Duration: 24, Applicant: "ada", Status: readmodel.StatusPendingSubmission,
			RequestedAt: at(0), UpdatedAt: at(0), LastPosition: 110}
		if got != want {
			t.Fatalf("got %+v; want %+v", got, want)
		}
	})
	t.Run("BetweenReviewAndDecision", func(t *testing.T) {
		got := asOf(t, idA, at(30*time.Minute))
		want := readmodel.Application{ID: idA, Amount: 1200, Duration: 24, Applicant: "ada", Status: readmodel.StatusPendingReview,
			RequestedAt: at(0), SubmittedAt: at(time.Minute), ReviewIssuedAt: at(2 * time.Minute),
			UpdatedAt: at(2 * time.Minute), LastPosition: 130}
		if got != want {
			t.Fatalf("got %+v; want %+v", got, want)
		}
	})
	t.Run("AfterTheConclusionIsTheCurrentState", func(t *testing.T) {
		if got, want := asOf(t, idA, at(1000*time.Hour)), b.App(idA); got != want {
			t.Fatalf("got %+v; want %+v", got, want)
		}
		if got := asOf(t, idA, at(48*time.Hour)); got.Status != readmodel.StatusRejected || got.RejectionReason != "changed my mind" {
			t.Fatalf("got %+v; want rejected, with its reason", got)
		}
	})
	t.Run("DeniedWithItsReason", func(t *testing.T) {
		if got, want := asOf(t, idB, at(4*time.Minute)), b.App(idB); got != want {
			t.Fatalf("got %+v; want %+v", got, want)
		}
		if got := asOf(t, idB, at(4*time.Minute-time.Nanosecond)); got.DenialReason != "" || !got.DecidedAt.IsZero() {
			t.Fatalf("got %+v; want no decision yet", got)
		}
	})
	t.Run("AtRequired", func(t *testing.T) {
		_, err := q.GetLoanApplicationAt(asOps(t.Context()), query.GetLoanApplicationAt{ID: idA})
		refusedWith(t, err, query.KindInvalidArgument, query.ReasonAtRequired)
	})
	t.Run("LoanApplicationNotFound", func(t *testing.T) {
		_, err := q.GetLoanApplicationAt(asOps(t.Context()), query.GetLoanApplicationAt{ID: "11111111-2222-4333-8444-555555555555", At: at(time.Hour)})
		refusedWith(t, err, query.KindNotFound, query.ReasonLoanApplicationNotFound)
	})
	t.Run("LoanApplicationUUIDInvalid", func(t *testing.T) {
		_, err := q.GetLoanApplicationAt(asOps(t.Context()), query.GetLoanApplicationAt{ID: "nope", At: at(time.Hour)})
		refusedWith(t, err, query.KindInvalidArgument, query.ReasonLoanApplicationUUIDInvalid)
	})
}
