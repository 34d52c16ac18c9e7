package query

import (
	"context"
	"errors"

	"github.com/loanflow/loans/platform/readmodel"
)

// A read model out of reach (a MongoDB failing over, a disk gone) is an
// outage: the queries answer READ_MODEL_UNAVAILABLE, which a client
// retries, not an internal error. Two things tell:
//   - the readiness check (CheckReadModel), run in the background by the
//     service: while it fails every query is refused at once, so that
//     during an outage a query neither waits out the driver's timeouts nor
//     holds a goroutine doing so;
//   - a read that fails other than by the call ending: the queries have
//     checked their arguments, so a failing read is the store failing.

// CheckReadModel is the read model's readiness check: its position, the
// cheapest read every adapter has, on the store itself (never refused by
// the gate it drives). While it fails, queries are refused; its first pass
// lets them through again.
func (q *Queries) CheckReadModel(ctx context.Context) error {
	_, err := q.store.Position(ctx)
	q.unreachable.Store(err != nil)
	return err
}

// guarded is the read model as the queries read it.
type guarded struct{ q *Queries }

func (g guarded) Position(ctx context.Context) (uint64, error) {
	if err := g.gate(); err != nil {
		return 0, err
	}
	p, err := g.q.store.Position(ctx)
	return p, outage(ctx, err)
}

func (g guarded) Get(ctx context.Context, id string) (readmodel.Application, error) {
	if err := g.gate(); err != nil {
		return readmodel.Application{}, err
	}
	ctx, span := g.q.readSpan(ctx, "get")
	a, err := g.q.store.Get(ctx, id)
	endSpan(span, err)
	return a, outage(ctx, err)
}

func (g guarded) List(ctx context.Context, f readmodel.Filter, p readmodel.Page) ([]readmodel.Application, string, error) {
	if err := g.gate(); err != nil {
		return nil, "", err
	}
	ctx, span := g.q.readSpan(ctx, "list")
	items, next, err := g.q.store.List(ctx, f, p)
	endSpan(span, err)
	return items, next, outage(ctx, err)
}

func (g guarded) History(ctx context.Context, id string) ([]readmodel.HistoryEntry, error) {
	if err := g.gate(); err != nil {
		return nil, err
	}
	ctx, span := g.q.readSpan(ctx, "history")
	h, err := g.q.store.History(ctx, id)
	endSpan(span, err)
	return h, outage(ctx, err)
}

func (g guarded) Stats(ctx context.Context, fromDay, toDay string) ([]readmodel.DailyStats, readmodel.Funnel, error) {
	if err := g.gate(); err != nil {
		return nil, readmodel.Funnel{}, err
	}
	ctx, span := g.q.readSpan(ctx, "stats")
	days, funnel, err := g.q.store.Stats(ctx, fromDay, toDay)
	endSpan(span, err)
	return days, funnel, outage(ctx, err)
}

// gate refuses while the last readiness check failed. The refusal has no
// cause: the check's failure is logged once, not once a query.
func (g guarded) gate() error {
	if g.q.unreachable.Load() {
		return unavailable(nil)
	}
	return nil
}

// outage turns a store failure into READ_MODEL_UNAVAILABLE, and leaves the
// answers the queries handle themselves (not found, a bad cursor) and the
// call ending (cancelled, or its deadline passed: the ports say which) as
// they are.
func outage(ctx context.Context, err error) error {
	switch {
	case err == nil, ctx.Err() != nil, errors.Is(err, readmodel.ErrNotFound), errors.Is(err, readmodel.ErrInvalidCursor):
		return err
	}
	return unavailable(err)
}

func unavailable(cause error) *Error {
	return &Error{
		Kind: KindUnavailable, Reason: ReasonReadModelUnavailable,
		Message: "the read model cannot be reached at the moment; retry later", Cause: cause,
	}
}
