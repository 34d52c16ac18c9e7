package service_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	devstore "github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// fleet is the command service as its clients see it across restarts: one
// instance at a time (two while one replaces another), on one event store.
type fleet struct {
	t     *testing.T
	store string // connection string

	mu      sync.Mutex
	svc     *running
	client  loansv1.LoanCommandServiceClient
	closeFn func() error // closes the client's connection

	retries atomic.Int64 // calls that met a stopping instance and were sent again
}

func newFleet(t *testing.T, connectionString string) *fleet {
	f := &fleet{t: t, store: connectionString}
	f.svc, f.client, f.closeFn = f.start()
	return f
}

func (f *fleet) start() (*running, loansv1.LoanCommandServiceClient, func() error) {
	svc := startService(f.t, f.store)
	conn := dial(f.t, svc.GRPCAddr())
	return svc, loansv1.NewLoanCommandServiceClient(conn), conn.Close
}

func (f *fleet) current() loansv1.LoanCommandServiceClient {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.client
}

func (f *fleet) instance() *running {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.svc
}

// replace starts a new instance and sends the clients to it; the old one is
// stopped with stopTimeout for the calls in flight, before the new one
// starts (overlap false) or after (overlap true: a rolling deploy, where two
// instances' process managers run at once for a while).
func (f *fleet) replace(stopTimeout time.Duration, overlap bool) {
	f.t.Helper()
	old := f.instance()
	if !overlap {
		f.stop(old, stopTimeout)
	}
	svc, client, closeFn := f.start()
	f.mu.Lock()
	closeOld := f.closeFn
	f.svc, f.client, f.closeFn = svc, client, closeFn
	f.mu.Unlock()
	if overlap {
		f.stop(old, stopTimeout)
	}
	_ = closeOld()
}

func (f *fleet) stop(svc *running, timeout time.Duration) {
	f.t.Helper()
	start := time.Now()
	err := svc.stop(timeout)
	f.t.Logf("instance stopped in %v (shutdown allowed %v): %v", time.Since(start).Round(time.Millisecond), timeout, err)
	if err != nil && timeout >= time.Second {
		f.t.Errorf("graceful shutdown failed: %v", err)
	}
}

// do sends a command until an instance answers it. A call that meets an
// instance stopping (Unavailable, or cancelled with its connection) is sent
// again with the same command ID, after a short backoff, as a careful client
// does: the command service answers a repeated command with its first reply.
func (f *fleet) do(ctx context.Context, send func(context.Context, loansv1.LoanCommandServiceClient) (*loansv1.CommandResult, error)) (*loansv1.CommandResult, error) {
	var last error
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 10*time.Millisecond, 200*time.Millisecond
	r, err := backoff.Retry(ctx, func() (*loansv1.CommandResult, error) {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		r, err := send(attempt, f.current())
		switch status.Code(err) {
		case codes.OK:
			return r, nil
		case codes.Unavailable, codes.Canceled, codes.DeadlineExceeded:
			last = err
			f.retries.Add(1)
			return nil, err
		default:
			return nil, backoff.Permanent(err)
		}
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
	}
	return r, err
}

// application is one application driven through the fleet, with the command
// IDs it is sent with (fixed, so that a call sent again is the same command).
type application struct {
	id                                string
	requestCmd, submitCmd, approveCmd string
	submitted, approved               *loansv1.CommandResult
}

func newApplication() *application {
	return &application{id: newID(), requestCmd: newID(), submitCmd: newID(), approveCmd: newID()}
}

func (f *fleet) requestAndSubmit(ctx context.Context, a *application) error {
	_, err := f.do(ctx, func(ctx context.Context, c loansv1.LoanCommandServiceClient) (*loansv1.CommandResult, error) {
		r, err := c.RequestLoan(ctx, &loansv1.RequestLoanRequest{CommandId: a.requestCmd, LoanApplicationUuid: a.id, Amount: anyAmount, Duration: anyDuration})
		return r.GetResult(), err
	})
	if err != nil {
		return fmt.Errorf("RequestLoan %s: %w", a.id, err)
	}
	a.submitted, err = f.do(ctx, func(ctx context.Context, c loansv1.LoanCommandServiceClient) (*loansv1.CommandResult, error) {
		r, err := c.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{CommandId: a.submitCmd, LoanApplicationUuid: a.id})
		return r.GetResult(), err
	})
	if err != nil {
		return fmt.Errorf("SubmitLoanRequest %s: %w", a.id, err)
	}
	return nil
}

func (f *fleet) approve(ctx context.Context, a *application) error {
	var err error
	a.approved, err = f.do(ctx, func(ctx context.Context, c loansv1.LoanCommandServiceClient) (*loansv1.CommandResult, error) {
		r, err := c.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{CommandId: a.approveCmd, LoanApplicationUuid: a.id})
		return r.GetResult(), err
	})
	if err != nil {
		return fmt.Errorf("ApproveLoan %s: %w", a.id, err)
	}
	return nil
}

// awaitExactlyOne polls every application's stream until each holds exactly
// one event of the type, its cause being the event the manager reacts to.
func awaitExactlyOne(t *testing.T, es *esdb.Client, apps []*application, stream func(string) string, eventType string, causeOf func(*application) storedEvent) {
	t.Helper()
	pending := map[*application]bool{}
	for _, a := range apps {
		pending[a] = true
	}
	eventually(t, asyncTimeout, func() (bool, string) {
		for a := range pending {
			events, err := tryReadStream(es, stream(a.id))
			if err != nil {
				return false, err.Error()
			}
			switch n := count(events, eventType); {
			case n > 1:
				t.Fatalf("%s holds %v: %d %s", stream(a.id), types(events), n, eventType)
			case n == 1:
				issued := events[0]
				if cause := causeOf(a); issued.Type != eventType || issued.Meta.CausationID != cause.ID.String() {
					t.Fatalf("%s starts with %s caused by %s; want %s caused by %s (%s)", stream(a.id), issued.Type, issued.Meta.CausationID, eventType, cause.ID, cause.Type)
				}
				delete(pending, a)
			}
		}
		return len(pending) == 0, fmt.Sprintf("%d of %d applications still have no %s", len(pending), len(apps), eventType)
	})
}

// Applications stream in while the service is replaced three times: in a
// rolling deploy (two instances at once), stopped then started, and stopped
// abruptly (1 ms for the calls in flight). In the end every submitted
// application has exactly one review, every approved one exactly one
// contract, and the managers' checkpoints have followed.
func TestProcessManagers_SurviveRestarts(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	es := store.Client(t)
	f := newFleet(t, store.ConnectionString)
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()

	// Phase 1: 8 clients request and submit 25 applications each, one every
	// 100 ms, while the service is replaced.
	const clients, perClient = 8, 25
	apps := make([]*application, 0, clients*perClient+1)
	for range clients * perClient {
		apps = append(apps, newApplication())
	}
	var (
		wg        sync.WaitGroup
		failed    atomic.Value
		submitted atomic.Int64
	)
	for c := range clients {
		wg.Go(func() {
			pace := time.NewTicker(100 * time.Millisecond)
			defer pace.Stop()
			for _, a := range apps[c*perClient : (c+1)*perClient] {
				if err := f.requestAndSubmit(ctx, a); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				submitted.Add(1)
				select {
				case <-pace.C:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	// Each replacement comes once another quarter of the applications is
	// in: while they stream in.
	for i, r := range []struct {
		stopTimeout time.Duration
		overlap     bool
	}{
		{10 * time.Second, true},
		{10 * time.Second, false},
		{time.Millisecond, false},
	} {
		want := int64((i + 1) * clients * perClient / 4)
		eventually(t, asyncTimeout, func() (bool, string) {
			if err, _ := failed.Load().(error); err != nil {
				t.Fatalf("a client gave up: %v", err)
			}
			return submitted.Load() >= want, fmt.Sprintf("%d applications submitted; replacement %d waits for %d", submitted.Load(), i+1, want)
		})
		f.replace(r.stopTimeout, r.overlap)
	}
	var reviewEarly uint64
	eventually(t, asyncTimeout, func() (bool, string) {
		var ok bool
		reviewEarly, ok = checkpointOf(t, es, "loanReview")
		return ok, "the review manager has saved no checkpoint"
	})
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("a client gave up: %v", err)
	}
	// One more, submitted after the last replacement: the last position the
	// review manager must have passed.
	last := newApplication()
	if err := f.requestAndSubmit(ctx, last); err != nil {
		t.Fatal(err)
	}
	apps = append(apps, last)
	t.Logf("%d applications submitted; %d calls sent again after meeting a stopping instance", len(apps), f.retries.Load())

	submittedEvent := func(a *application) storedEvent {
		req := readStream(t, es, requestStream(a.id))
		if len(req) != 2 || req[1].Type != loanevents.TypeLoanRequestSubmitted {
			t.Fatalf("%s holds %v; want LoanRequested, LoanRequestSubmitted", requestStream(a.id), types(req))
		}
		return req[1]
	}
	awaitExactlyOne(t, es, apps, reviewStream, loanevents.TypeLoanReviewIssued, submittedEvent)

	t.Run("the review manager's checkpoint advances past the last submission", func(t *testing.T) {
		f.replace(10*time.Second, false) // a graceful stop saves it
		cp, ok := checkpointOf(t, es, "loanReview")
		if !ok {
			t.Fatal("no checkpoint saved")
		}
		if cp < last.submitted.GetCommitPosition() || cp <= reviewEarly {
			t.Fatalf("checkpoint at %d (was %d while submissions streamed in); want at least %d (the last LoanRequestSubmitted)", cp, reviewEarly, last.submitted.GetCommitPosition())
		}
	})
	contractBefore, _ := checkpointOf(t, es, "loanContract")

	// Phase 2: approve them all while the service is stopped abruptly once;
	// the last application is approved after that.
	bulk, sentinel := apps[:len(apps)-1], apps[len(apps)-1]
	work := make(chan *application)
	for range clients {
		wg.Go(func() {
			for a := range work {
				if err := f.approve(ctx, a); err != nil {
					failed.CompareAndSwap(nil, err)
				}
			}
		})
	}
	for i, a := range bulk {
		if i == len(bulk)/2 {
			f.replace(time.Millisecond, false)
		}
		work <- a
	}
	close(work)
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("a client gave up: %v", err)
	}
	if err := f.approve(ctx, sentinel); err != nil {
		t.Fatal(err)
	}

	approvedEvent := func(a *application) storedEvent {
		rev := readStream(t, es, reviewStream(a.id))
		if len(rev) != 2 || rev[1].Type != loanevents.TypeLoanApproved {
			t.Fatalf("%s holds %v; want LoanReviewIssued, LoanApproved", reviewStream(a.id), types(rev))
		}
		return rev[1]
	}
	awaitExactlyOne(t, es, apps, contractStream, loanevents.TypeLoanContractIssued, approvedEvent)

	t.Run("the contract manager's checkpoint advances past the last approval", func(t *testing.T) {
		f.stop(f.instance(), 10*time.Second)
		cp, ok := checkpointOf(t, es, "loanContract")
		if !ok {
			t.Fatal("no checkpoint saved")
		}
		if cp < sentinel.approved.GetCommitPosition() || cp <= contractBefore {
			t.Fatalf("checkpoint at %d (was %d before the approvals); want at least %d (the last LoanApproved)", cp, contractBefore, sentinel.approved.GetCommitPosition())
		}
	})
	t.Run("nothing more is issued after the restarts", func(t *testing.T) {
		for _, a := range apps {
			requireTypes(t, reviewStream(a.id), readStream(t, es, reviewStream(a.id)), loanevents.TypeLoanReviewIssued, loanevents.TypeLoanApproved)
			requireTypes(t, contractStream(a.id), readStream(t, es, contractStream(a.id)), loanevents.TypeLoanContractIssued)
		}
	})
}

// Submissions made while no process manager runs are reviewed once one
// starts; an instance started after it issues nothing again.
func TestProcessManagers_CatchUp(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	es := store.Client(t)
	ctx := callCtx(t)

	off := startService(t, store.ConnectionString, withoutProcessManagers())
	offClient := loansv1.NewLoanCommandServiceClient(dial(t, off.GRPCAddr()))
	apps := make([]*application, 20)
	for i := range apps {
		apps[i] = newApplication()
		if _, err := offClient.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: apps[i].id, Amount: anyAmount, Duration: anyDuration}); err != nil {
			t.Fatal(err)
		}
		if _, err := offClient.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: apps[i].id}); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range apps {
		if got := readStream(t, es, reviewStream(a.id)); len(got) != 0 {
			t.Fatalf("with the process managers off, %s holds %v", reviewStream(a.id), types(got))
		}
	}

	on := startService(t, store.ConnectionString)
	submittedEvent := func(a *application) storedEvent { return readStream(t, es, requestStream(a.id))[1] }
	awaitExactlyOne(t, es, apps, reviewStream, loanevents.TypeLoanReviewIssued, submittedEvent)
	if err := on.stop(10 * time.Second); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	// A later instance starts from the checkpoint; a barrier application
	// shows when it has caught up.
	later := startService(t, store.ConnectionString)
	laterClient := loansv1.NewLoanCommandServiceClient(dial(t, later.GRPCAddr()))
	barrier := newID()
	if _, err := laterClient.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: barrier, Amount: anyAmount, Duration: anyDuration}); err != nil {
		t.Fatal(err)
	}
	if _, err := laterClient.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: barrier}); err != nil {
		t.Fatal(err)
	}
	awaitEventIn(t, es, reviewStream(barrier), loanevents.TypeLoanReviewIssued)
	for _, a := range apps {
		requireTypes(t, reviewStream(a.id), readStream(t, es, reviewStream(a.id)), loanevents.TypeLoanReviewIssued)
	}
}
