package projector_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
	"github.com/loanflow/loans/projector-service/internal/projector"
)

// wait bounds every wait of these tests.
const wait = 30 * time.Second

// t0 is when generated applications start being requested.
var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

type env struct {
	es     *eventstoretest.Server
	client *esdb.Client       // the test's own: appends, folds
	conn   *esdbconn.Conn     // the projector's
	path   string             // the SQLite file
	store  *sqlitestore.Store // what the projector writes through
	// reader is the query side: another *Store on the same file, as the
	// query service opens in its own process.
	reader *sqlitestore.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	es := eventstoretest.Start(t, eventstore.Config{})
	e := &env{es: es, client: es.Client(t), conn: esdbconntest.Dial(t, es.ConnectionString), path: filepath.Join(t.TempDir(), "readmodel.db")}
	e.store = openStore(t, e.path)
	e.reader = openStore(t, e.path)
	return e
}

func openStore(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("open read model: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testLogger logs to the test's output when -v and warnings always.
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fastOptions keep retries short.
func fastOptions() projector.Options {
	return projector.Options{RetryBackoff: 5 * time.Millisecond, WatchInterval: 50 * time.Millisecond, ResubscribeBackoffMax: 50 * time.Millisecond}
}

// running is a projector's Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func start(t *testing.T, p *projector.Projector) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not stop within %v", wait)
		}
	})
}

// faultyStore wraps a store and fails the calls fail says to fail.
type faultyStore struct {
	readmodel.Writer
	mu   sync.Mutex
	fail func(method string, b *readmodel.Batch) bool
	seen map[string]int
}

var errInjected = errors.New("injected store failure")

func (f *faultyStore) check(method string, b *readmodel.Batch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seen == nil {
		f.seen = map[string]int{}
	}
	f.seen[method]++
	if f.fail != nil && f.fail(method, b) {
		return errInjected
	}
	return nil
}

// calls is how many times method was called (failed or not).
func (f *faultyStore) calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[method]
}

func (f *faultyStore) setFail(fail func(method string, b *readmodel.Batch) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = fail
}

func (f *faultyStore) Apply(ctx context.Context, gen int, b readmodel.Batch) error {
	if err := f.check("Apply", &b); err != nil {
		return err
	}
	return f.Writer.Apply(ctx, gen, b)
}

func (f *faultyStore) Applications(ctx context.Context, gen int, ids []string) (map[string]readmodel.Application, error) {
	if err := f.check("Applications", nil); err != nil {
		return nil, err
	}
	return f.Writer.Applications(ctx, gen, ids)
}

func (f *faultyStore) Park(ctx context.Context, e readmodel.ParkedEvent) error {
	if err := f.check("Park", nil); err != nil {
		return err
	}
	return f.Writer.Park(ctx, e)
}

// eventually polls cond until it holds (see platform/poll).
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, timeout, 5*time.Millisecond, cond)
}

func hasPosition(b *readmodel.Batch, position uint64) bool {
	if b == nil {
		return false
	}
	for _, h := range b.History {
		if h.Position == position {
			return true
		}
	}
	return false
}

func parked(t *testing.T, w readmodel.Writer) []readmodel.ParkedEvent {
	t.Helper()
	p, err := w.Parked(context.Background())
	if err != nil {
		t.Fatalf("Parked: %v", err)
	}
	return p
}

func active(t *testing.T, w readmodel.Writer) int {
	t.Helper()
	g, err := w.ActiveGeneration(context.Background())
	if err != nil {
		t.Fatalf("ActiveGeneration: %v", err)
	}
	return g
}

func itoa(n int) string { return strconv.Itoa(n) }

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func fmtFunnel(f readmodel.Funnel) string { return fmt.Sprintf("%+v", f) }
