package query_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/app/query"
)

// fakeReader is a readmodel.Reader in memory, enough for the use cases'
// own rules; the service tests run them on the real SQLite store.
type fakeReader struct {
	mu            sync.Mutex
	position      uint64
	positionErr   error
	positionCalls int
	apps          map[string]readmodel.Application
	history       map[string][]readmodel.HistoryEntry
	days          map[string]readmodel.DailyStats
	funnel        readmodel.Funnel
	lastFilter    readmodel.Filter
	lastPage      readmodel.Page
	listCalls     int
	statsRange    [2]string
}

func newFakeReader() *fakeReader {
	return &fakeReader{apps: map[string]readmodel.Application{}, history: map[string][]readmodel.HistoryEntry{}, days: map[string]readmodel.DailyStats{}}
}

// apply stores a batch as a store would (without idempotence checks).
func (f *fakeReader) apply(b readmodel.Batch) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range b.Applications {
		f.apps[a.ID] = a
	}
	for _, e := range b.History {
		f.history[e.ApplicationID] = append(f.history[e.ApplicationID], e)
	}
	for _, c := range b.Contributions {
		d := f.days[c.Daily.Day]
		d.Day = c.Daily.Day
		d.Add(c.Daily)
		f.days[c.Daily.Day] = d
		f.funnel.Add(c.Funnel)
	}
	f.position = max(f.position, b.Checkpoint)
}

func (f *fakeReader) setPosition(p uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.position = p
}

func (f *fakeReader) Position(ctx context.Context) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.positionCalls++
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return f.position, f.positionErr
}

func (f *fakeReader) Get(_ context.Context, id string) (readmodel.Application, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[id]
	if !ok {
		return readmodel.Application{}, readmodel.ErrNotFound
	}
	return a, nil
}

// List records what it was asked; "bad" is the one invalid cursor. It
// answers the applications of the filter's applicant (all when empty) in
// one page, by ID: the stores' contract suite pins the rest.
func (f *fakeReader) List(_ context.Context, fl readmodel.Filter, p readmodel.Page) ([]readmodel.Application, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastFilter, f.lastPage = fl, p
	f.listCalls++
	if p.Cursor == "bad" {
		return nil, "", readmodel.ErrInvalidCursor
	}
	var out []readmodel.Application
	for _, a := range f.apps {
		if fl.Applicant == "" || a.Applicant == fl.Applicant {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(a, b readmodel.Application) int { return cmp.Compare(a.ID, b.ID) })
	return out, "", nil
}

func (f *fakeReader) History(_ context.Context, id string) ([]readmodel.HistoryEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]readmodel.HistoryEntry(nil), f.history[id]...), nil
}

func (f *fakeReader) Stats(_ context.Context, from, to string) ([]readmodel.DailyStats, readmodel.Funnel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statsRange = [2]string{from, to}
	var out []readmodel.DailyStats
	for day := range f.days {
		if day >= from && day <= to {
			out = append(out, f.days[day])
		}
	}
	return out, f.funnel, nil
}

// as is ctx carrying a verified caller, as platform/auth's interceptor
// leaves it.
func as(ctx context.Context, subject string, roles ...auth.Role) context.Context {
	return auth.NewContext(ctx, auth.NewPrincipal(subject, "https://issuer.test", roles...))
}

// asOps is ctx carrying an ops caller, whom the policy lets run every query
// over everything: the tests of each query's own rules call as ops.
func asOps(ctx context.Context) context.Context { return as(ctx, "olga", auth.RoleOps) }

// refusedWith checks that err is a refusal of this kind and reason.
func refusedWith(t *testing.T, err error, kind query.Kind, reason query.Reason) *query.Error {
	t.Helper()
	var qerr *query.Error
	if !errors.As(err, &qerr) {
		t.Fatalf("error %v; want a refusal %s", err, reason)
	}
	if qerr.Kind != kind || qerr.Reason != reason {
		t.Fatalf("refusal %v (kind %d); want %s (kind %d)", qerr, qerr.Kind, reason, kind)
	}
	return qerr
}

// t0 is the moment the fixtures' stories start: a Monday, in UTC.
var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }
