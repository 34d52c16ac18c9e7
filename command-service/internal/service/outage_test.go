package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	devstore "github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/loanevents"
)

// ---- an event store that can be stopped and started again ----

// restartableStore is an embedded event store on disk that a test stops and
// starts again (an event store restart), behind a proxy that keeps its
// address across restarts.
type restartableStore struct {
	t      *testing.T
	dir    string
	proxy  *esdbconntest.Proxy
	srv    *devstore.Server
	served chan error
}

func newRestartableStore(t *testing.T) *restartableStore {
	s := &restartableStore{t: t, dir: t.TempDir()}
	s.start()
	t.Cleanup(func() {
		if s.srv != nil {
			s.stop()
		}
	})
	return s
}

func (s *restartableStore) connectionString() string { return s.proxy.ConnectionString() }

// start opens the store on its directory and a new loopback port, and
// points the proxy at it.
func (s *restartableStore) start() {
	s.t.Helper()
	srv, err := devstore.New(devstore.Config{Dir: s.dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		s.t.Fatalf("open the event store: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatalf("listen: %v", err)
	}
	if s.proxy == nil {
		s.proxy = esdbconntest.NewProxy(s.t, lis.Addr().String())
	}
	s.proxy.SetTarget(lis.Addr().String())
	s.srv, s.served = srv, make(chan error, 1)
	go func() { s.served <- srv.Serve(lis) }()
}

func (s *restartableStore) stop() {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.t.Errorf("stop the event store: %v", err)
	}
	if err := <-s.served; err != nil {
		s.t.Errorf("serve the event store: %v", err)
	}
	s.srv = nil
}

// ---- the service's log, recorded ----

// logRecorder records what the service logs at warning level and above
// (and shows it in the test's output too).
type logRecorder struct {
	inner slog.Handler
	mu    *sync.Mutex
	lines *[]string
	level *[]slog.Level
}

func newLogRecorder(t *testing.T) (*logRecorder, *slog.Logger) {
	r := &logRecorder{inner: testLogger(t).Handler(), mu: &sync.Mutex{}, lines: new([]string), level: new([]slog.Level)}
	return r, slog.New(r)
}

func (r *logRecorder) Enabled(ctx context.Context, l slog.Level) bool { return r.inner.Enabled(ctx, l) }

func (r *logRecorder) Handle(ctx context.Context, rec slog.Record) error {
	var b strings.Builder
	b.WriteString(rec.Message)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	*r.lines = append(*r.lines, rec.Level.String()+" "+b.String())
	*r.level = append(*r.level, rec.Level)
	r.mu.Unlock()
	return r.inner.Handle(ctx, rec)
}

func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	c.inner = r.inner.WithAttrs(attrs)
	return &c
}

func (r *logRecorder) WithGroup(name string) slog.Handler {
	c := *r
	c.inner = r.inner.WithGroup(name)
	return &c
}

// errors returns the lines logged at error level.
func (r *logRecorder) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for i, l := range *r.level {
		if l >= slog.LevelError {
			out = append(out, (*r.lines)[i])
		}
	}
	return out
}

// ---- the tests ----

// An event store restart is an outage the service rides out: while the
// store is away, commands are answered "unavailable, retry"; once it is back,
// the same commands go through and the process managers resume.
func TestService_EventStoreRestart_CommandsResume(t *testing.T) {
	t.Parallel() // mostly waiting: it overlaps with the other waiting test
	store := newRestartableStore(t)
	svc := startService(t, store.connectionString())
	client := loansv1.NewLoanCommandServiceClient(dial(t, svc.GRPCAddr()))
	ctx := callCtx(t)

	before := newID()
	if _, err := client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: before, Amount: anyAmount, Duration: anyDuration}); err != nil {
		t.Fatalf("RequestLoan before the outage: %v", err)
	}

	store.stop()
	id, cmd := newID(), newID()
	request := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := client.RequestLoan(ctx, &loansv1.RequestLoanRequest{CommandId: cmd, LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration})
		return err
	}
	// The outage lasts 1.5 s, longer than the client's own discovery of the
	// store on its defaults (about a second); every call meanwhile is
	// answered "retry" by its deadline.
	outage := time.Now()
	for calls := 0; time.Since(outage) < 1500*time.Millisecond; calls++ {
		start := time.Now()
		err := request(300 * time.Millisecond)
		if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
			t.Fatalf("call %d during the outage: %v; want Unavailable (EVENT_STORE_UNAVAILABLE) or DeadlineExceeded", calls, err)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("call %d during the outage took %v; want its 300 ms deadline", calls, took)
		}
	}

	store.start()
	var last error
	eventually(t, 10*time.Second, func() (bool, string) {
		last = request(2 * time.Second)
		return last == nil, fmt.Sprintf("the event store is back, but RequestLoan still fails: %v", last)
	})
	if _, err := client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatalf("SubmitLoanRequest after the outage: %v", err)
	}
	es := eventstoretest.Connect(t, store.connectionString())
	awaitEventIn(t, es, reviewStream(id), loanevents.TypeLoanReviewIssued)
}

// Shutdown returns once its context ends, whatever the calls in flight do,
// even while the event store cannot be reached.
func TestShutdown_BoundedByItsContext(t *testing.T) {
	t.Parallel()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	unreachable := "esdb://" + lis.Addr().String() + "?tls=false"
	_ = lis.Close() // nothing listens there now

	svc := startService(t, unreachable, withoutProcessManagers())
	client := loansv1.NewLoanCommandServiceClient(dial(t, svc.GRPCAddr()))
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			_, err := client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: newID(), Amount: anyAmount, Duration: anyDuration})
			if c := status.Code(err); c != codes.Unavailable && c != codes.DeadlineExceeded {
				t.Errorf("with the event store unreachable: %v; want Unavailable or DeadlineExceeded", err)
			}
		})
	}
	wg.Wait()

	// One call is still inside the event store client, waiting for a store
	// that never comes: Shutdown gives up on it at its deadline and says so.
	start := time.Now()
	err = svc.stop(2 * time.Second)
	took := time.Since(start)
	if !errors.Is(err, esdbconn.ErrCallsStillRunning) || took > 3*time.Second {
		t.Fatalf("Shutdown with a 2 s context returned after %v: %v; want esdbconn.ErrCallsStillRunning at its deadline", took, err)
	}
}

// A service given no deadline by its client bounds the call itself with
// Config.DefaultDeadline, and says so.
func TestCommands_DefaultDeadline(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	proxy := esdbconntest.NewProxy(t, store.Addr.String())
	svc := startService(t, proxy.ConnectionString(), withoutProcessManagers(), withDefaultDeadline(500*time.Millisecond))
	client := loansv1.NewLoanCommandServiceClient(dial(t, svc.GRPCAddr()))
	if _, err := client.RequestLoan(t.Context(), &loansv1.RequestLoanRequest{LoanApplicationUuid: newID(), Amount: anyAmount, Duration: anyDuration}); err != nil {
		t.Fatalf("RequestLoan with the store answering: %v", err)
	}

	proxy.Stall()
	start := time.Now()
	_, err := client.RequestLoan(t.Context(), &loansv1.RequestLoanRequest{LoanApplicationUuid: newID(), Amount: anyAmount, Duration: anyDuration})
	took := time.Since(start)
	proxy.Unstall()
	requireRefusal(t, err, codes.DeadlineExceeded, "DEADLINE_EXCEEDED")
	if took < 400*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the call ended after %v; want about the 500 ms default deadline", took)
	}
}

// A call its client gives up on is no internal error: the service logs no
// error for it.
func TestCommands_CancelledByTheClient_NotAnInternalError(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	proxy := esdbconntest.NewProxy(t, store.Addr.String())
	logs, logger := newLogRecorder(t)
	svc := startService(t, proxy.ConnectionString(), withoutProcessManagers(), withLogger(logger))
	client := loansv1.NewLoanCommandServiceClient(dial(t, svc.GRPCAddr()))
	if _, err := client.RequestLoan(t.Context(), &loansv1.RequestLoanRequest{LoanApplicationUuid: newID(), Amount: anyAmount, Duration: anyDuration}); err != nil {
		t.Fatalf("RequestLoan with the store answering: %v", err)
	}

	proxy.Stall()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: newID(), Amount: anyAmount, Duration: anyDuration})
		done <- err
	}()
	// Once the append is held on its way to the store, the client gives up.
	eventually(t, 10*time.Second, func() (bool, string) { return proxy.Held() > 0, "the append never reached the store" })
	cancel()
	if err := <-done; status.Code(err) != codes.Canceled {
		t.Fatalf("the cancelled call ended with %v; want Canceled", err)
	}
	proxy.Unstall()
	// A graceful stop waits for the call's handler to return.
	if err := svc.stop(10 * time.Second); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	for _, line := range logs.errors() {
		if strings.Contains(line, "internal error") {
			t.Fatalf("the service logged an internal error for a cancelled call: %s", line)
		}
	}
}

// A graceful shutdown is no failure: the service logs no error while it stops.
func TestShutdown_LogsNoErrors(t *testing.T) {
	logs, logger := newLogRecorder(t)
	store := eventstoretest.Start(t, devstore.Config{})
	svc := startService(t, store.ConnectionString, withLogger(logger))
	client := loansv1.NewLoanCommandServiceClient(dial(t, svc.GRPCAddr()))
	ctx := callCtx(t)
	id := newID()
	if _, err := client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatal(err)
	}
	awaitEventIn(t, store.Client(t), reviewStream(id), loanevents.TypeLoanReviewIssued)

	if err := svc.stop(10 * time.Second); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if errs := logs.errors(); len(errs) > 0 {
		t.Fatalf("a graceful shutdown logged %d errors:\n%s", len(errs), strings.Join(errs, "\n"))
	}
}
