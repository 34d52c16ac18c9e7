package query

import (
	"context"
	"errors"

	"github.com/loanflow/loans/platform/readmodel"
)

// GetLoanApplication asks for one application's current state.
type GetLoanApplication struct {
	ID               string // loan_application_uuid
	ConsistencyToken uint64
}

// GetLoanApplication returns the application, or LOAN_APPLICATION_NOT_FOUND
// (also for an application the caller may not see: see ScopeOwn).
func (q *Queries) GetLoanApplication(ctx context.Context, qry GetLoanApplication) (readmodel.Application, error) {
	g, err := authorize(ctx, NameGetLoanApplication)
	if err != nil {
		return readmodel.Application{}, err
	}
	id, err := applicationID(qry.ID)
	if err != nil {
		return readmodel.Application{}, err
	}
	if err := q.catchUp(ctx, qry.ConsistencyToken); err != nil {
		return readmodel.Application{}, err
	}
	app, err := q.reader.Get(ctx, id)
	switch {
	case errors.Is(err, readmodel.ErrNotFound), err == nil && !g.covers(app.Applicant):
		return readmodel.Application{}, notFound(id)
	case err != nil:
		return readmodel.Application{}, err
	}
	return g.show(app), nil
}
