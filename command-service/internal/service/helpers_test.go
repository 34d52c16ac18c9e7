package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/loanflow/loans/command-service/internal/adapters/eventstore"
	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/command-service/internal/service"
	devstore "github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/auth/authtest"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/poll"
)

// Bounds of every wait in these tests. The process managers are
// asynchronous: what they do is polled for, never slept on.
const (
	callTimeout  = 15 * time.Second      // one test's calls, all together
	asyncTimeout = 20 * time.Second      // the process managers catching up
	pollInterval = 20 * time.Millisecond // how often an asynchronous outcome is polled
)

// errorDomain is the google.rpc.ErrorInfo domain of every refusal.
const errorDomain = "loans.v1"

// The terms of an ordinary application.
const (
	anyAmount   = int64(12_000)
	anyDuration = int32(24)
)

// ---- running the service ----

// env is an embedded event store, a command service on it and clients of
// both, all on 127.0.0.1 and all stopped when the test ends.
type env struct {
	store  *eventstoretest.Server
	es     *esdb.Client // reads the streams back
	svc    *running
	conn   *grpc.ClientConn
	client loansv1.LoanCommandServiceClient
}

// option changes the service configuration of newEnv.
type option func(*service.Config)

func withoutProcessManagers() option { return func(c *service.Config) { c.ProcessManagers = false } }

func withLimits(l domain.Limits) option { return func(c *service.Config) { c.Limits = l } }

func withDefaultDeadline(d time.Duration) option {
	return func(c *service.Config) { c.DefaultDeadline = d }
}

func withLogger(l *slog.Logger) option { return func(c *service.Config) { c.Logger = l } }

// withHealthEvery runs the readiness check at this interval.
func withHealthEvery(d time.Duration) option {
	return func(c *service.Config) { c.Health.Interval, c.Health.Timeout = d, d }
}

// newEnv starts an event store and, on it, a command service with its
// process managers running (as in production).
func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	store := eventstoretest.Start(t, devstore.Config{})
	e := &env{store: store, es: store.Client(t)}
	e.svc = startService(t, store.ConnectionString, opts...)
	e.conn = dial(t, e.svc.GRPCAddr())
	e.client = loansv1.NewLoanCommandServiceClient(e.conn)
	return e
}

// running is a started service that is shut down once: by the test, or
// when the test ends.
type running struct {
	*service.Service
	once sync.Once
	err  error
}

// startService starts a command service on an event store; it is shut down
// when the test ends unless the test shut it down itself (see stop).
func startService(t *testing.T, connectionString string, opts ...option) *running {
	t.Helper()
	cfg := service.Config{
		GRPCAddr:        "127.0.0.1:0",
		HTTPAddr:        "127.0.0.1:0",
		EventStore:      connectionString,
		Logger:          testLogger(t),
		DefaultDeadline: 10 * time.Second,
		ProcessManagers: true,
		Authenticator:   issuer.Verifier(t),
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start the command service: %v", err)
	}
	r := &running{Service: svc}
	t.Cleanup(func() {
		// A shutdown that reached its deadline (some tests stop abruptly
		// on purpose) says so with context.DeadlineExceeded.
		if err := r.stop(2 * time.Second); err != nil && !errors.Is(err, context.DeadlineExceeded) && !t.Failed() {
			t.Errorf("shut down the command service: %v", err)
		}
	})
	return r
}

// stop shuts the service down, giving calls in flight timeout to finish. A
// Shutdown that has not returned 3 s after its context ended is reported as
// an error and left behind, so that a hung shutdown fails its test instead of
// hanging the whole run.
func (r *running) stop(timeout time.Duration) error {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- r.Shutdown(ctx) }()
		select {
		case r.err = <-done:
		case <-time.After(timeout + shutdownGrace):
			r.err = fmt.Errorf("%w: Shutdown did not return %v after its context ended", errShutdownHung, shutdownGrace)
		}
	})
	return r.err
}

const shutdownGrace = 3 * time.Second

var errShutdownHung = errors.New("shutdown hung")

// dial connects to a service. Calls that carry no token of their own (see
// as) are sent with one for the user who would make them: the applicant for
// an applicant's command, the officer for a decision.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(defaultCaller(t)))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// testLogger shows the service's warnings and errors in the test's output
// (seen with -v or when the test fails) and drops what is logged once the
// test is over.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{out: t.Output()}
	t.Cleanup(w.close) // registered before the service's shutdown, so it runs after it
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu     sync.Mutex
	out    io.Writer
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return len(p), nil
	}
	return w.out.Write(p)
}

func (w *testWriter) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
}

// callCtx bounds a test's calls.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return ctx
}

// ---- callers ----

// issuer signs the tokens of every test's callers (see TestMain).
var issuer *authtest.Issuer

func TestMain(m *testing.M) {
	issuer = authtest.New()
	code := m.Run()
	issuer.Close()
	os.Exit(code)
}

// The callers of these tests, and the roles the issuer grants them.
const (
	applicant = "alice@example.com"
	officer   = "bob@lender.example"
)

// rolesOf grants the officers (officer, "officer-1", …) the loan officer's
// role and everyone else the applicant's.
func rolesOf(user string) []auth.Role {
	if strings.HasPrefix(user, "officer") || user == officer {
		return []auth.Role{auth.RoleLoanOfficer}
	}
	return []auth.Role{auth.RoleApplicant}
}

// tokenOf is a valid access token for user.
func tokenOf(t *testing.T, user string, roles ...auth.Role) string {
	if len(roles) == 0 {
		roles = rolesOf(user)
	}
	return issuer.Token(t, user, roles...)
}

// bearer is the HTTP authorization header of user (with rolesOf's roles).
func bearer(user string) string { return "Bearer " + issuer.Mint(user, rolesOf(user)...) }

// as sends the calls made with ctx as user (with rolesOf's roles) and, when
// not empty, with a correlation ID.
func as(ctx context.Context, user, correlationID string) context.Context {
	kv := []string{auth.HeaderAuthorization, "Bearer " + issuer.Mint(user, rolesOf(user)...)}
	if correlationID != "" {
		kv = append(kv, "x-correlation-id", correlationID)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...)
}

// defaultCaller gives a call with no authorization of its own a token for
// the user who would make it.
func defaultCaller(t *testing.T) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get(auth.HeaderAuthorization)) == 0 {
			user := applicant
			if strings.HasSuffix(method, "/ApproveLoan") || strings.HasSuffix(method, "/DenyLoan") {
				user = officer
			}
			ctx = metadata.AppendToOutgoingContext(ctx, auth.HeaderAuthorization, "Bearer "+tokenOf(t, user))
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// ---- driving applications ----

func newID() string { return uuid.NewString() }

// requestLoan opens an application with ordinary terms.
func (e *env) requestLoan(ctx context.Context, t *testing.T, id string) *loansv1.CommandResult {
	t.Helper()
	r, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration})
	if err != nil {
		t.Fatalf("RequestLoan %s: %v", id, err)
	}
	return r.GetResult()
}

func (e *env) submit(ctx context.Context, t *testing.T, id string) *loansv1.CommandResult {
	t.Helper()
	r, err := e.client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
	if err != nil {
		t.Fatalf("SubmitLoanRequest %s: %v", id, err)
	}
	return r.GetResult()
}

func (e *env) approve(ctx context.Context, t *testing.T, id string) *loansv1.CommandResult {
	t.Helper()
	r, err := e.client.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id})
	if err != nil {
		t.Fatalf("ApproveLoan %s: %v", id, err)
	}
	return r.GetResult()
}

func (e *env) deny(ctx context.Context, t *testing.T, id string) *loansv1.CommandResult {
	t.Helper()
	r, err := e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, Reason: "income too low"})
	if err != nil {
		t.Fatalf("DenyLoan %s: %v", id, err)
	}
	return r.GetResult()
}

func (e *env) sign(ctx context.Context, t *testing.T, id string) *loansv1.CommandResult {
	t.Helper()
	r, err := e.client.SignContract(ctx, &loansv1.SignContractRequest{LoanApplicationUuid: id})
	if err != nil {
		t.Fatalf("SignContract %s: %v", id, err)
	}
	return r.GetResult()
}

// pendingReview brings a new application to a pending review: requested,
// submitted, and its review issued by the process manager.
func (e *env) pendingReview(ctx context.Context, t *testing.T) string {
	t.Helper()
	id := newID()
	e.requestLoan(ctx, t, id)
	e.submit(ctx, t, id)
	e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	return id
}

// pendingSignature brings a new application to a contract awaiting signature.
func (e *env) pendingSignature(ctx context.Context, t *testing.T) string {
	t.Helper()
	id := e.pendingReview(ctx, t)
	e.approve(ctx, t, id)
	e.awaitEvent(t, contractStream(id), loanevents.TypeLoanContractIssued)
	return id
}

// ---- reading the streams back ----

func requestStream(id string) string  { return domain.LoanRequestStream(uuid.MustParse(id)) }
func reviewStream(id string) string   { return domain.LoanReviewStream(uuid.MustParse(id)) }
func contractStream(id string) string { return domain.LoanContractStream(uuid.MustParse(id)) }

// storedEvent is an event as read back with the official client.
type storedEvent struct {
	ID       uuid.UUID
	Type     string
	Payload  proto.Message
	Meta     loanevents.Metadata
	Revision uint64
	Position uint64
}

// readStream reads a whole stream; a stream that does not exist reads empty.
func readStream(t *testing.T, es *esdb.Client, stream string) []storedEvent {
	t.Helper()
	events, err := tryReadStream(es, stream)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	return events
}

func tryReadStream(es *esdb.Client, stream string) ([]storedEvent, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := es.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 4096)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []storedEvent
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			if esErr, ok := esdb.FromError(err); !ok && esErr.Code() == esdb.ErrorCodeResourceNotFound {
				return nil, nil
			}
			return nil, err
		}
		ev := re.Event
		se := storedEvent{ID: ev.EventID, Type: ev.EventType, Revision: ev.EventNumber, Position: ev.Position.Commit}
		if loanevents.IsKnown(ev.EventType) {
			if se.Payload, err = loanevents.Unmarshal(ev.EventType, ev.Data); err != nil {
				return nil, fmt.Errorf("%s@%d: %w", stream, ev.EventNumber, err)
			}
			if se.Meta, err = loanevents.UnmarshalMetadata(ev.UserMetadata); err != nil {
				return nil, fmt.Errorf("%s@%d: %w", stream, ev.EventNumber, err)
			}
		}
		out = append(out, se)
	}
}

func (e *env) read(t *testing.T, stream string) []storedEvent {
	t.Helper()
	return readStream(t, e.es, stream)
}

func types(events []storedEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Type
	}
	return out
}

func count(events []storedEvent, eventType string) int {
	n := 0
	for _, e := range events {
		if e.Type == eventType {
			n++
		}
	}
	return n
}

func requireTypes(t *testing.T, stream string, got []storedEvent, want ...string) {
	t.Helper()
	if g := types(got); strings.Join(g, ",") != strings.Join(want, ",") {
		t.Fatalf("%s holds %v, want %v", stream, g, want)
	}
}

// awaitEvent polls a stream until it holds an event of the type, and returns
// the stream's events then.
func (e *env) awaitEvent(t *testing.T, stream, eventType string) []storedEvent {
	t.Helper()
	return awaitEventIn(t, e.es, stream, eventType)
}

func awaitEventIn(t *testing.T, es *esdb.Client, stream, eventType string) []storedEvent {
	t.Helper()
	var last []storedEvent
	eventually(t, asyncTimeout, func() (bool, string) {
		last = readStream(t, es, stream)
		return count(last, eventType) > 0, fmt.Sprintf("%s holds %v, still no %s", stream, types(last), eventType)
	})
	return last
}

// eventually polls cond until it holds (see platform/poll).
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, timeout, pollInterval, cond)
}

// allPosition finds an event in $all and returns its commit position there.
func allPosition(t *testing.T, es *esdb.Client, eventID uuid.UUID) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := es.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}}, 1_000_000)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	defer rs.Close()
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			t.Fatalf("event %s is not in $all", eventID)
		}
		if err != nil {
			t.Fatalf("read $all: %v", err)
		}
		if re.Event.EventID == eventID {
			return re.Event.Position.Commit
		}
	}
}

// checkpointOf reads a process manager's saved position; ok is false while
// it has saved none.
func checkpointOf(t *testing.T, es *esdb.Client, manager string) (commit uint64, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream := eventstore.CheckpointStream(manager)
	rs, err := es.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil {
		t.Fatalf("read %s: %v", stream, err)
	}
	defer rs.Close()
	re, err := rs.Recv()
	if errors.Is(err, io.EOF) {
		return 0, false
	}
	if err != nil {
		if esErr, notErr := esdb.FromError(err); !notErr && esErr.Code() == esdb.ErrorCodeResourceNotFound {
			return 0, false
		}
		t.Fatalf("read %s: %v", stream, err)
	}
	if re.Event.EventType != eventstore.CheckpointEventType {
		t.Fatalf("%s holds a %s event, want %s", stream, re.Event.EventType, eventstore.CheckpointEventType)
	}
	var cp struct {
		Commit uint64 `json:"commit"`
	}
	if err := json.Unmarshal(re.Event.Data, &cp); err != nil {
		t.Fatalf("%s: %v", stream, err)
	}
	return cp.Commit, true
}

// ---- checking replies ----

// requireRefusal checks a gRPC error's code and its google.rpc.ErrorInfo.
func requireRefusal(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("the command was accepted; want %v %s", code, reason)
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("got a non-status error %v; want %v %s", err, code, reason)
	}
	requireStatus(t, st, code, reason)
}

func requireStatus(t *testing.T, st *status.Status, code codes.Code, reason string) {
	t.Helper()
	info := errorInfo(st)
	if st.Code() != code || info == nil || info.GetReason() != reason || info.GetDomain() != errorDomain {
		t.Fatalf("got %v %q (ErrorInfo %v); want %v with reason %s in domain %s", st.Code(), st.Message(), info, code, reason, errorDomain)
	}
}

func errorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// requireResult checks a reply against the event the command appended last:
// its stream, revision and position in $all.
func requireResult(t *testing.T, es *esdb.Client, r *loansv1.CommandResult, id, stream string, last storedEvent) {
	t.Helper()
	if r.GetLoanApplicationUuid() != id || r.GetStream() != stream || r.GetStreamRevision() != last.Revision || r.GetCommitPosition() != last.Position {
		t.Fatalf("reply %v; want application %s, stream %s, revision %d, commit position %d", r, id, stream, last.Revision, last.Position)
	}
	if p := allPosition(t, es, last.ID); p != r.GetCommitPosition() {
		t.Fatalf("reply's commit position %d, but the event %s is at %d in $all", r.GetCommitPosition(), last.ID, p)
	}
}

// requireUnchanged checks that a refused command appended nothing.
func (e *env) requireUnchanged(t *testing.T, stream string, before []storedEvent) {
	t.Helper()
	after := e.read(t, stream)
	if len(after) != len(before) {
		t.Fatalf("a refused command changed %s: %v before, %v after", stream, types(before), types(after))
	}
}
