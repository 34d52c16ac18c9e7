package service_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/auth/authtest"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/storeurl"
	"github.com/loanflow/loans/query-service/internal/fixture"
	"github.com/loanflow/loans/query-service/internal/service"
)

// Bounds of every wait in these tests.
const (
	callTimeout     = 10 * time.Second // a test's ordinary calls
	shutdownTimeout = 10 * time.Second
)

// errorDomain is the google.rpc.ErrorInfo domain of every refusal.
const errorDomain = "loans.v1"

// t0 is when the fixtures' stories start: Monday 2 November 2026, 09:00 UTC.
var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// env is an SQLite read model, a query service on it, an OpenID Connect
// issuer whose tokens it accepts and a client, all on 127.0.0.1 and all
// stopped when the test ends. Tests write the read model directly, as the
// projector would, through b and apply.
//
// client and get call as ops (token), who may run every query over
// everything, so that the tests of the queries' own rules need not care who
// asks; a call whose context already carries a token (e.as) keeps it. The
// policy's tests (auth_test.go) call as everyone else.
type env struct {
	store  readmodel.Store
	gen    int
	b      *fixture.Builder
	iss    *authtest.Issuer
	token  string // ops's
	svc    *running
	conn   *grpc.ClientConn
	client loansv1.LoanQueryServiceClient
	// bare is a connection that sends no token of its own.
	bare *grpc.ClientConn
}

// opsSubject is the default caller, with the role ops.
const opsSubject = "olga"

// option changes the service configuration of newEnv.
type option func(*service.Config)

func withDefaultDeadline(d time.Duration) option {
	return func(c *service.Config) { c.DefaultDeadline = d }
}

// newEnv serves a new SQLite read model.
func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	return newEnvOn(t, "sqlite:"+filepath.Join(t.TempDir(), "readmodel.db"), opts...)
}

// newEnvOn serves the read model at url (see storeurl.Open).
func newEnvOn(t *testing.T, url string, opts ...option) *env {
	t.Helper()
	store, err := storeurl.Open(ctx(t), url)
	if err != nil {
		t.Fatalf("open the read model: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Close(); err != nil {
			t.Errorf("close the read model: %v", err)
		}
	})
	e := &env{store: store, b: fixture.New(1000), iss: authtest.Start(t)}
	e.token = e.iss.Token(t, opsSubject, auth.RoleOps)
	if e.gen, err = store.ActiveGeneration(t.Context()); err != nil {
		t.Fatal(err)
	}
	cfg := e.config(t, store)
	for _, o := range opts {
		o(&cfg)
	}
	e.svc = start(t, cfg)
	e.conn = dial(t, e.svc.GRPCAddr(), e.token)
	e.client = loansv1.NewLoanQueryServiceClient(e.conn)
	e.bare = dial(t, e.svc.GRPCAddr(), "")
	return e
}

// config serves reader on loopback, accepting the env's issuer's tokens.
func (e *env) config(t *testing.T, reader readmodel.Reader) service.Config {
	return service.Config{
		GRPCAddr:        "127.0.0.1:0",
		HTTPAddr:        "127.0.0.1:0",
		ReadModel:       reader,
		Authenticator:   e.iss.Verifier(t),
		Logger:          testLogger(t),
		DefaultDeadline: 5 * time.Second,
	}
}

// as is ctx(t) sending token as the call's bearer token.
func (e *env) as(t *testing.T, token string) context.Context {
	t.Helper()
	return authtest.Bearer(ctx(t), token)
}

// apply writes what the builder built since the last apply.
func (e *env) apply(t *testing.T) readmodel.Batch {
	t.Helper()
	batch := e.b.Batch()
	if err := e.store.Apply(t.Context(), e.gen, batch); err != nil {
		t.Fatalf("apply a batch up to %d: %v", batch.Checkpoint, err)
	}
	return batch
}

// running is a started service shut down once: by the test or at its end.
type running struct {
	*service.Service
	once sync.Once
	err  error
}

func start(t *testing.T, cfg service.Config) *running {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
	defer cancel()
	svc, err := service.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start the query service: %v", err)
	}
	r := &running{Service: svc}
	t.Cleanup(func() {
		if err := r.stop(shutdownTimeout); err != nil {
			t.Errorf("shut down the query service: %v", err)
		}
	})
	return r
}

func (r *running) stop(timeout time.Duration) error {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		r.err = r.Shutdown(ctx)
	})
	return r.err
}

// dial connects to addr; its calls send token unless their context already
// carries one (no token at all when it is empty).
func dial(t *testing.T, addr, token string) *grpc.ClientConn {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if token != "" {
		opts = append(opts,
			grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				return invoker(withDefaultToken(ctx, token), method, req, reply, cc, opts...)
			}),
			grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
				return streamer(withDefaultToken(ctx, token), desc, cc, method, opts...)
			}))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func withDefaultToken(ctx context.Context, token string) context.Context {
	if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get(auth.HeaderAuthorization)) > 0 {
		return ctx
	}
	return authtest.Bearer(ctx, token)
}

// ctx bounds a test's calls.
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), callTimeout)
	t.Cleanup(cancel)
	return c
}

// testLogger logs to the test, at Warn and above: refusals are not logged,
// internal errors are.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// refused checks that err is a status with this code and an ErrorInfo of
// this reason in the loans.v1 domain, and returns the ErrorInfo.
func refused(t *testing.T, err error, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s %s", code, reason)
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("error %v is not a gRPC status", err)
	}
	if st.Code() != code {
		t.Fatalf("code %s (%s); want %s %s", st.Code(), st.Message(), code, reason)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetReason() != reason || info.GetDomain() != errorDomain {
				t.Fatalf("ErrorInfo %s/%s (%s); want %s/%s", info.GetDomain(), info.GetReason(), st.Message(), errorDomain, reason)
			}
			return info
		}
	}
	t.Fatalf("status %s %q has no ErrorInfo; want reason %s", st.Code(), st.Message(), reason)
	return nil
}

// uuidOf makes the n-th application's UUID; their order does not follow n.
func uuidOf(n int) string {
	h := uint64(n)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h>>32), uint16(h>>16), n%0x1000, (n/0x1000)%0x1000, h&0xFFFFFFFFFFFF)
}

// ---- REST ----

// restReply is an HTTP answer with its body read.
type restReply struct {
	status int
	header http.Header
	body   []byte
}

// get sends a GET to the service's REST gateway as ops, headers given as
// name, value...
func (e *env) get(t *testing.T, path string, headers ...string) restReply {
	t.Helper()
	return e.getAs(t, e.token, path, headers...)
}

// getAs is get with this bearer token (none when empty).
func (e *env) getAs(t *testing.T, token, path string, headers ...string) restReply {
	t.Helper()
	return getFrom(t, e.svc.HTTPAddr(), token, path, headers...)
}

// getFrom is getAs on the REST gateway at addr.
func getFrom(t *testing.T, addr, token, path string, headers ...string) restReply {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", authtest.Header(token))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: callTimeout}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("GET %s: read the body: %v", path, err)
	}
	return restReply{status: resp.StatusCode, header: resp.Header, body: body}
}
