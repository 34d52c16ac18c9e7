package query

import (
	"context"
	"errors"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// ListLoanApplications asks for one page of applications.
type ListLoanApplications struct {
	Filter readmodel.Filter
	Order  readmodel.Order
	// PageSize: 0 means readmodel.DefaultPageSize; above
	// readmodel.MaxPageSize it is lowered to it; negative is refused.
	PageSize int
	// PageToken is the NextPageToken of the previous page (empty: first).
	PageToken        string
	ConsistencyToken uint64
}

// LoanApplicationsPage is one page of a list.
type LoanApplicationsPage struct {
	Items []readmodel.Application
	// NextPageToken continues the list; empty on the last page.
	NextPageToken string
}

// ListLoanApplications returns one page of the applications the caller may
// see (see Scope). The page token is the store's cursor: pages stay stable
// while applications are added or changed.
func (q *Queries) ListLoanApplications(ctx context.Context, qry ListLoanApplications) (LoanApplicationsPage, error) {
	g, err := authorize(ctx, NameListLoanApplications)
	if err != nil {
		return LoanApplicationsPage{}, err
	}
	filter, empty, err := g.filter(qry.Filter)
	if err != nil {
		return LoanApplicationsPage{}, err
	}
	if err := checkFilter(filter); err != nil {
		return LoanApplicationsPage{}, err
	}
	if qry.Order < readmodel.OrderRequestedAtDesc || qry.Order > readmodel.OrderUpdatedAtDesc {
		return LoanApplicationsPage{}, Invalid(ReasonOrderInvalid, "unknown order %d", qry.Order)
	}
	size := qry.PageSize
	switch {
	case size < 0:
		return LoanApplicationsPage{}, Invalid(ReasonPageSizeInvalid, "page_size must not be negative, got %d", size)
	case size == 0:
		size = readmodel.DefaultPageSize
	case size > readmodel.MaxPageSize:
		size = readmodel.MaxPageSize
	}
	if err := q.catchUp(ctx, qry.ConsistencyToken); err != nil {
		return LoanApplicationsPage{}, err
	}
	if empty {
		return LoanApplicationsPage{Items: []readmodel.Application{}}, nil
	}
	items, next, err := q.reader.List(ctx, filter, readmodel.Page{Order: qry.Order, Size: size, Cursor: qry.PageToken})
	if errors.Is(err, readmodel.ErrInvalidCursor) {
		return LoanApplicationsPage{}, invalid(ReasonPageTokenInvalid,
			"page_token is not a next_page_token of this list: "+quote(qry.PageToken))
	}
	if err != nil {
		return LoanApplicationsPage{}, err
	}
	for i := range items {
		items[i] = g.show(items[i])
	}
	return LoanApplicationsPage{Items: items, NextPageToken: next}, nil
}

func checkFilter(f readmodel.Filter) error {
	for _, s := range f.Statuses {
		if !knownStatus(s) {
			return Invalid(ReasonStatusInvalid, "unknown status %q", s)
		}
	}
	if f.MinAmount < 0 || f.MaxAmount < 0 {
		return Invalid(ReasonAmountRangeInvalid, "min_amount and max_amount must not be negative, got %d and %d", f.MinAmount, f.MaxAmount)
	}
	if f.MaxAmount > 0 && f.MinAmount > f.MaxAmount {
		return Invalid(ReasonAmountRangeInvalid, "min_amount %d is above max_amount %d", f.MinAmount, f.MaxAmount)
	}
	if !f.RequestedAfter.IsZero() && !f.RequestedBefore.IsZero() && f.RequestedAfter.After(f.RequestedBefore) {
		return Invalid(ReasonRequestedRangeInvalid, "requested_after %s is later than requested_before %s",
			f.RequestedAfter.UTC().Format(time.RFC3339Nano), f.RequestedBefore.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// knownStatus tells whether s is one of the read model's statuses.
func knownStatus(s readmodel.Status) bool {
	switch s {
	case readmodel.StatusPendingSubmission, readmodel.StatusSubmitted, readmodel.StatusPendingReview,
		readmodel.StatusApproved, readmodel.StatusDenied, readmodel.StatusPendingSignature,
		readmodel.StatusSigned, readmodel.StatusRejected:
		return true
	}
	return false
}
