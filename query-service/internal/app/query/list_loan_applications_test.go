package query_test

import (
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/app/query"
)

func TestQueries_ListLoanApplications(t *testing.T) {
	reader := newFakeReader()
	q := query.New(reader, query.Config{})
	list := func(t *testing.T, qry query.ListLoanApplications) error {
		t.Helper()
		_, err := q.ListLoanApplications(asOps(t.Context()), qry)
		return err
	}

	t.Run("PageSize", func(t *testing.T) {
		for _, c := range []struct{ asked, used int }{{0, 20}, {1, 1}, {100, 100}, {101, 100}, {1 << 30, 100}} {
			if err := list(t, query.ListLoanApplications{PageSize: c.asked}); err != nil {
				t.Fatal(err)
			}
			if reader.lastPage.Size != c.used {
				t.Errorf("page_size %d read pages of %d; want %d", c.asked, reader.lastPage.Size, c.used)
			}
		}
	})
	t.Run("PageSizeInvalid", func(t *testing.T) {
		refusedWith(t, list(t, query.ListLoanApplications{PageSize: -1}), query.KindInvalidArgument, query.ReasonPageSizeInvalid)
	})
	t.Run("FilterOrderAndCursorReachTheStore", func(t *testing.T) {
		f := readmodel.Filter{Statuses: []readmodel.Status{readmodel.StatusApproved}, Applicant: "ada", MinAmount: 5, MaxAmount: 5,
			RequestedAfter: at(0), RequestedBefore: at(0)}
		if err := list(t, query.ListLoanApplications{Filter: f, Order: readmodel.OrderAmountAsc, PageToken: "c1"}); err != nil {
			t.Fatal(err)
		}
		if reader.lastFilter.Applicant != "ada" || reader.lastFilter.MinAmount != 5 || len(reader.lastFilter.Statuses) != 1 ||
			reader.lastPage.Order != readmodel.OrderAmountAsc || reader.lastPage.Cursor != "c1" {
			t.Fatalf("the store got %+v, %+v", reader.lastFilter, reader.lastPage)
		}
	})
	t.Run("PageTokenInvalid", func(t *testing.T) {
		refusedWith(t, list(t, query.ListLoanApplications{PageToken: "bad"}), query.KindInvalidArgument, query.ReasonPageTokenInvalid)
	})
	t.Run("AmountRangeInvalid", func(t *testing.T) {
		for _, f := range []readmodel.Filter{{MinAmount: 10, MaxAmount: 9}, {MinAmount: -1}, {MaxAmount: -1}} {
			refusedWith(t, list(t, query.ListLoanApplications{Filter: f}), query.KindInvalidArgument, query.ReasonAmountRangeInvalid)
		}
		if err := list(t, query.ListLoanApplications{Filter: readmodel.Filter{MinAmount: 10}}); err != nil {
			t.Fatalf("min_amount alone (max 0: unbounded): %v", err)
		}
	})
	t.Run("RequestedRangeInvalid", func(t *testing.T) {
		f := readmodel.Filter{RequestedAfter: at(1), RequestedBefore: at(0)}
		refusedWith(t, list(t, query.ListLoanApplications{Filter: f}), query.KindInvalidArgument, query.ReasonRequestedRangeInvalid)
	})
	t.Run("StatusInvalid", func(t *testing.T) {
		f := readmodel.Filter{Statuses: []readmodel.Status{"approved", "lost"}}
		refusedWith(t, list(t, query.ListLoanApplications{Filter: f}), query.KindInvalidArgument, query.ReasonStatusInvalid)
	})
	t.Run("OrderInvalid", func(t *testing.T) {
		refusedWith(t, list(t, query.ListLoanApplications{Order: 99}), query.KindInvalidArgument, query.ReasonOrderInvalid)
	})
}
