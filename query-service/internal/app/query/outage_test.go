package query_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/app/query"
	"github.com/loanflow/loans/query-service/internal/fixture"
)

// severable is a read model whose link the test cuts: every read then
// fails with down (or the call's own error once the call has ended, as a
// driver answers). It counts the reads that reached it.
type severable struct {
	*fakeReader
	mu    sync.Mutex
	down  error
	reads int
}

func (s *severable) cut(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = err
}

func (s *severable) read(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.down
}

func (s *severable) readsSoFar() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

func (s *severable) Position(ctx context.Context) (uint64, error) {
	if err := s.read(ctx); err != nil {
		return 0, err
	}
	return s.fakeReader.Position(ctx)
}

func (s *severable) Get(ctx context.Context, id string) (readmodel.Application, error) {
	if err := s.read(ctx); err != nil {
		return readmodel.Application{}, err
	}
	return s.fakeReader.Get(ctx, id)
}

func (s *severable) List(ctx context.Context, f readmodel.Filter, p readmodel.Page) ([]readmodel.Application, string, error) {
	if err := s.read(ctx); err != nil {
		return nil, "", err
	}
	return s.fakeReader.List(ctx, f, p)
}

func (s *severable) History(ctx context.Context, id string) ([]readmodel.HistoryEntry, error) {
	if err := s.read(ctx); err != nil {
		return nil, err
	}
	return s.fakeReader.History(ctx, id)
}

func (s *severable) Stats(ctx context.Context, from, to string) ([]readmodel.DailyStats, readmodel.Funnel, error) {
	if err := s.read(ctx); err != nil {
		return nil, readmodel.Funnel{}, err
	}
	return s.fakeReader.Stats(ctx, from, to)
}

// everyQuery runs each query once, as ops, and returns their errors.
func everyQuery(ctx context.Context, q *query.Queries) map[string]error {
	ctx = asOps(ctx)
	errs := map[string]error{}
	_, errs["GetLoanApplication"] = q.GetLoanApplication(ctx, query.GetLoanApplication{ID: idA})
	_, errs["GetLoanApplicationWithToken"] = q.GetLoanApplication(ctx, query.GetLoanApplication{ID: idA, ConsistencyToken: 1})
	_, errs["GetLoanApplicationHistory"] = q.GetLoanApplicationHistory(ctx, query.GetLoanApplicationHistory{ID: idA})
	_, errs["GetLoanApplicationAt"] = q.GetLoanApplicationAt(ctx, query.GetLoanApplicationAt{ID: idA, At: at(1)})
	_, errs["ListLoanApplications"] = q.ListLoanApplications(ctx, query.ListLoanApplications{})
	_, errs["GetLoanStatistics"] = q.GetLoanStatistics(ctx, query.GetLoanStatistics{})
	return errs
}

func TestQueries_ReadModelOutage(t *testing.T) {
	newQueries := func() (*query.Queries, *severable) {
		store := &severable{fakeReader: newFakeReader()}
		store.apply(fixture.New(0).Request(idA, 1200, 24, "ada", at(0)).Batch())
		return query.New(store, query.Config{}), store
	}
	refused := errors.New("dial tcp 10.0.0.7:27017: connection refused")

	t.Run("AFailingReadIsAnOutage", func(t *testing.T) {
		q, store := newQueries()
		store.cut(refused)
		for name, err := range everyQuery(t.Context(), q) {
			t.Run(name, func(t *testing.T) {
				refusedWith(t, err, query.KindUnavailable, query.ReasonReadModelUnavailable)
				if !errors.Is(err, refused) {
					t.Errorf("error %v does not keep the store's error for the logs", err)
				}
			})
		}
	})
	t.Run("TheCallEndingIsNotAnOutage", func(t *testing.T) {
		q, store := newQueries()
		store.cut(refused)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		for name, err := range everyQuery(ctx, q) {
			if !errors.Is(err, context.Canceled) || errors.As(err, new(*query.Error)) {
				t.Errorf("%s: %v; want the call's own end, not a refusal", name, err)
			}
		}
	})
	t.Run("AFailingCheckRefusesAtOnce", func(t *testing.T) {
		q, store := newQueries()
		store.cut(refused)
		if err := q.CheckReadModel(t.Context()); !errors.Is(err, refused) {
			t.Fatalf("check: %v; want the store's error", err)
		}
		// The store is back, but until the check says so the queries do
		// not touch it.
		store.cut(nil)
		before := store.readsSoFar()
		for name, err := range everyQuery(t.Context(), q) {
			qerr := refusedWith(t, err, query.KindUnavailable, query.ReasonReadModelUnavailable)
			if qerr.Cause != nil {
				t.Errorf("%s: cause %v; want none (the check's failure is logged once, not per query)", name, qerr.Cause)
			}
		}
		if reads := store.readsSoFar() - before; reads != 0 {
			t.Errorf("%d reads reached the store while the check failed", reads)
		}
		if err := q.CheckReadModel(t.Context()); err != nil {
			t.Fatalf("check: %v", err)
		}
		for name, err := range everyQuery(t.Context(), q) {
			if err != nil {
				t.Errorf("%s once the check passes again: %v", name, err)
			}
		}
	})
	t.Run("NotFoundIsAnAnswer", func(t *testing.T) {
		q, _ := newQueries()
		_, err := q.GetLoanApplication(asOps(t.Context()), query.GetLoanApplication{ID: idB})
		refusedWith(t, err, query.KindNotFound, query.ReasonLoanApplicationNotFound)
	})
}
