package publisher_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
	"github.com/loanflow/loans/publisher-service/internal/publishertest"
)

// wait bounds every wait of these tests.
const wait = 30 * time.Second

// t0 is when generated applications start being requested.
var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

// env is an event store, the broker, and an exchange and a queue of the
// test's own.
type env struct {
	es       *eventstoretest.Server
	client   *esdb.Client   // the test's own: appends, reads
	conn     *esdbconn.Conn // the publisher's
	url      string
	exchange string
	queue    *publishertest.Queue
}

func newEnv(t *testing.T) *env {
	t.Helper()
	url := rabbittest.URL(t)
	es := eventstoretest.Start(t, eventstore.Config{})
	e := &env{es: es, client: es.Client(t), conn: esdbconntest.Dial(t, es.ConnectionString), url: url, exchange: rabbittest.Name("loans.events-test")}
	e.queue = publishertest.Bind(t, url, e.exchange)
	return e
}

// config is a publisher's on the env, with short backoffs.
func (e *env) config(t *testing.T) publisher.Config {
	return publisher.Config{EventStore: e.conn, AMQPURL: e.url, Exchange: e.exchange, Logger: testLogger(t),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, CheckpointInterval: 20 * time.Millisecond}
}

// testLogger logs warnings and errors to the test's output (everything
// with -v).
func testLogger(t *testing.T) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

// quiet drops the logs of a test whose failures are its point.
var quiet = slog.New(slog.DiscardHandler)

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// running is a publisher's Run in the background.
type running struct {
	p       *publisher.Publisher
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func start(t *testing.T, cfg publisher.Config) *running {
	t.Helper()
	p, err := publisher.New(cfg)
	if err != nil {
		t.Fatalf("publisher.New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop ends Run as SIGTERM does and checks it returned nil in time.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.stopped {
		return
	}
	r.stopped = true
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(wait):
		t.Fatalf("Run did not return within %v of its context ending", wait)
	}
}

// waitCheckpoint waits until the publisher has saved a checkpoint at or
// after commit.
func waitCheckpoint(t *testing.T, p *publisher.Publisher, commit uint64) {
	t.Helper()
	poll.Until(t, wait, 10*time.Millisecond, func() (bool, string) {
		st := p.Stats()
		return st.Checkpoint.Commit >= commit, fmt.Sprintf("checkpoint at %d, want %d or more", st.Checkpoint.Commit, commit)
	})
}
