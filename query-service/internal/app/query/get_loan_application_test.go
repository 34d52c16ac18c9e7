package query_test

import (
	"strings"
	"testing"

	"github.com/loanflow/loans/query-service/internal/app/query"
	"github.com/loanflow/loans/query-service/internal/fixture"
)

const (
	idA = "6a1d2e1c-4a0e-4c57-9c1e-8a0b7b0e8e11"
	idB = "0f8b3a52-5b7e-4c2e-9a51-3d4f1a2b3c4d"
)

func TestQueries_GetLoanApplication(t *testing.T) {
	reader := newFakeReader()
	b := fixture.New(0).Request(idA, 1200, 24, "ada", at(0)).Submit(idA, at(1))
	reader.apply(b.Batch())
	q := query.New(reader, query.Config{})

	t.Run("OK", func(t *testing.T) {
		got, err := q.GetLoanApplication(asOps(t.Context()), query.GetLoanApplication{ID: idA})
		if err != nil {
			t.Fatal(err)
		}
		if got != b.App(idA) {
			t.Fatalf("got %+v; want %+v", got, b.App(idA))
		}
	})
	t.Run("UUIDIsCanonicalised", func(t *testing.T) {
		got, err := q.GetLoanApplication(asOps(t.Context()), query.GetLoanApplication{ID: strings.ToUpper(idA)})
		if err != nil || got.ID != idA {
			t.Fatalf("got %+v, %v; want %s", got, err, idA)
		}
	})
	t.Run("LoanApplicationNotFound", func(t *testing.T) {
		_, err := q.GetLoanApplication(asOps(t.Context()), query.GetLoanApplication{ID: idB})
		refusedWith(t, err, query.KindNotFound, query.ReasonLoanApplicationNotFound)
	})
	for name, id := range map[string]string{"Empty": "", "NotAUUID": "loan-1", "NilUUID": "00000000-0000-0000-0000-000000000000"} {
		t.Run("LoanApplicationUUIDInvalid/"+name, func(t *testing.T) {
			_, err := q.GetLoanApplication(asOps(t.Context()), query.GetLoanApplication{ID: id})
			refusedWith(t, err, query.KindInvalidArgument, query.ReasonLoanApplicationUUIDInvalid)
		})
	}
}

func TestQueries_GetLoanApplicationHistory(t *testing.T) {
	reader := newFakeReader()
	b := fixture.New(0).Request(idA, 1200, 24, "ada", at(0)).Submit(idA, at(1)).Review(idA, at(2))
	batch := b.Batch()
	// Stored out of order: the query sorts by position.
	batch.History[0], batch.History[2] = batch.History[2], batch.History[0]
	reader.apply(batch)
	q := query.New(reader, query.Config{})

	t.Run("OldestFirst", func(t *testing.T) {
		got, err := q.GetLoanApplicationHistory(asOps(t.Context()), query.GetLoanApplicationHistory{ID: idA})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("%d entries; want 3", len(got))
		}
		for i, want := range []string{"LoanRequested", "LoanRequestSubmitted", "LoanReviewIssued"} {
			if got[i].EventType != want {
				t.Errorf("entry %d is %s; want %s", i, got[i].EventType, want)
			}
		}
	})
	t.Run("LoanApplicationNotFound", func(t *testing.T) {
		_, err := q.GetLoanApplicationHistory(asOps(t.Context()), query.GetLoanApplicationHistory{ID: idB})
		refusedWith(t, err, query.KindNotFound, query.ReasonLoanApplicationNotFound)
	})
	t.Run("LoanApplicationUUIDInvalid", func(t *testing.T) {
		_, err := q.GetLoanApplicationHistory(asOps(t.Context()), query.GetLoanApplicationHistory{ID: "x"})
		refusedWith(t, err, query.KindInvalidArgument, query.ReasonLoanApplicationUUIDInvalid)
	})
}
