package query

import (
	"context"
	"errors"
	"slices"

	"github.com/loanflow/loans/platform/readmodel"
)

// GetLoanApplicationHistory asks for every event of an application.
type GetLoanApplicationHistory struct {
	ID               string // loan_application_uuid
	ConsistencyToken uint64
}

// GetLoanApplicationHistory returns the application's events in the order
// they were appended ($all position), oldest first, or
// LOAN_APPLICATION_NOT_FOUND when it has none (or is not the caller's to
// see).
func (q *Queries) GetLoanApplicationHistory(ctx context.Context, qry GetLoanApplicationHistory) ([]readmodel.HistoryEntry, error) {
	g, err := authorize(ctx, NameGetLoanApplicationHistory)
	if err != nil {
		return nil, err
	}
	id, err := applicationID(qry.ID)
	if err != nil {
		return nil, err
	}
	if err := q.catchUp(ctx, qry.ConsistencyToken); err != nil {
		return nil, err
	}
	if err := q.checkCovered(ctx, g, id); err != nil {
		return nil, err
	}
	return q.history(ctx, id)
}

// history reads an application's history, sorted by position.
func (q *Queries) history(ctx context.Context, id string) ([]readmodel.HistoryEntry, error) {
	entries, err := q.reader.History(ctx, id)
	if errors.Is(err, readmodel.ErrNotFound) || (err == nil && len(entries) == 0) {
		return nil, notFound(id)
	}
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(entries, func(a, b readmodel.HistoryEntry) int {
		switch {
		case a.Position < b.Position:
			return -1
		case a.Position > b.Position:
			return 1
		}
		return 0
	})
	return entries, nil
}
