package apiserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/health/healthtest"
)

// dependency is a readiness check whose answer the test sets.
type dependency struct{ err atomic.Pointer[error] }

func (d *dependency) set(err error) { d.err.Store(&err) }

func (d *dependency) check(context.Context) error {
	if p := d.err.Load(); p != nil {
		return *p
	}
	return nil
}

// nobody refuses every token: only what needs none gets through.
type nobody struct{}

func (nobody) Authenticate(context.Context, string) (auth.Principal, error) {
	return auth.Principal{}, errors.New("no token is good here")
}

// startWithReadiness serves the query stub behind platform/auth (refusing
// every token) and CORS, its readiness following one check, "readmodel",
// run every few milliseconds.
func startWithReadiness(t *testing.T) (*apiserver.Server, *health.Readiness, *dependency, loansv1.LoanQueryServiceClient, healthpb.HealthClient) {
	t.Helper()
	store := &dependency{}
	readiness, err := health.Start(health.Config{Interval: 5 * time.Millisecond, Timeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
		health.Check{Name: "readmodel", Func: store.check})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(readiness.Shutdown)
	srv, _, client, conn := start(t, func(c *apiserver.Config) {
		c.Readiness = readiness
		c.CORSAllowedOrigins = []string{"https://app.example"}
		c.UnaryInterceptors = []grpc.UnaryServerInterceptor{auth.UnaryServerInterceptor(nobody{})}
		c.StreamInterceptors = []grpc.StreamServerInterceptor{auth.StreamServerInterceptor(nobody{})}
	})
	return srv, readiness, store, client, healthpb.NewHealthClient(conn)
}

// probe GETs a probe path without a token, from an origin CORS does not
// allow, and decodes the JSON answer into body.
func probe(t *testing.T, srv *apiserver.Server, path string, body any) int {
	t.Helper()
	req := newRequest(t, http.MethodGet, "http://"+srv.HTTPAddr()+path, nil, "Origin", "https://elsewhere.example")
	resp, raw := do(t, http.DefaultClient, req)
	if err := json.Unmarshal(raw, body); err != nil {
		t.Fatalf("GET %s: body %q: %v", path, raw, err)
	}
	return resp.StatusCode
}

func grpcStatus(t *testing.T, h healthpb.HealthClient, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := h.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health of %q: %v", service, err)
	}
	return resp.GetStatus()
}

func watch(t *testing.T, h healthpb.HealthClient, service string) <-chan healthtest.Status {
	t.Helper()
	return healthtest.Watch(t, h, service)
}

func nextStatus(t *testing.T, ch <-chan healthtest.Status, want healthtest.Status) {
	t.Helper()
	healthtest.Next(t, ch, want, 10*time.Second)
}

// agree checks that the gRPC health service (both names) and /readyz say
// the same as want, and that /healthz says alive whatever the readiness.
func agree(t *testing.T, srv *apiserver.Server, h healthpb.HealthClient, want bool) health.Report {
	t.Helper()
	grpcWant, httpWant := healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable
	if want {
		grpcWant, httpWant = healthpb.HealthCheckResponse_SERVING, http.StatusOK
	}
	for _, svc := range []string{"", loansv1.LoanQueryService_ServiceDesc.ServiceName} {
		if got := grpcStatus(t, h, svc); got != grpcWant {
			t.Errorf("gRPC health of %q: %v; want %v", svc, got, grpcWant)
		}
	}
	var rep health.Report
	if code := probe(t, srv, "/readyz", &rep); code != httpWant || rep.Ready() != want {
		t.Errorf("/readyz: %d %+v; want %d", code, rep, httpWant)
	}
	var live health.Liveness
	if code := probe(t, srv, "/healthz", &live); code != http.StatusOK || live.Status != "alive" {
		t.Errorf("/healthz: %d %+v; want 200 alive", code, live)
	}
	return rep
}

// TestServer_Readiness: the gRPC health service, its Watch streams and GET
// /readyz follow the readiness together, with no token and whatever the
// CORS settings; /healthz stays 200.
func TestServer_Readiness(t *testing.T) {
	srv, _, store, client, h := startWithReadiness(t)
	updates := watch(t, h, "")
	nextStatus(t, updates, healthpb.HealthCheckResponse_SERVING)

	t.Run("Ready", func(t *testing.T) {
		rep := agree(t, srv, h, true)
		if len(rep.Checks) != 1 || rep.Checks[0].Name != "readmodel" || !rep.Checks[0].OK {
			t.Errorf("checks %+v", rep.Checks)
		}
	})
	t.Run("TheAPIStillNeedsAToken", func(t *testing.T) {
		_, err := client.GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "abc"})
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("got %v; want Unauthenticated", err)
		}
	})
	t.Run("NotReadyWhileACheckFails", func(t *testing.T) {
		store.set(errors.New("dial tcp 127.0.0.1:27017: connection refused"))
		nextStatus(t, updates, healthpb.HealthCheckResponse_NOT_SERVING)
		// The stream saw the change: every other view already says so.
		rep := agree(t, srv, h, false)
		if rep.Status != health.StatusNotReady || len(rep.Checks) != 1 || rep.Checks[0].OK ||
			rep.Checks[0].Error != "dial tcp 127.0.0.1:27017: connection refused" {
			t.Errorf("report %+v; want the failing check and its error", rep)
		}
	})
	t.Run("ReadyAgainOnceItPasses", func(t *testing.T) {
		store.set(nil)
		nextStatus(t, updates, healthpb.HealthCheckResponse_SERVING)
		agree(t, srv, h, true)
	})
	t.Run("ProbesTakeOnlyGetAndHead", func(t *testing.T) {
		resp, _ := do(t, http.DefaultClient, newRequest(t, http.MethodPost, "http://"+srv.HTTPAddr()+"/readyz", nil))
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST /readyz: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("UnknownService", func(t *testing.T) {
		if _, err := h.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: "loans.v1.Nothing"}); status.Code(err) != codes.NotFound {
			t.Errorf("Check: %v; want NotFound", err)
		}
		nextStatus(t, watch(t, h, "loans.v1.Nothing"), healthpb.HealthCheckResponse_SERVICE_UNKNOWN)
	})
	t.Run("List", func(t *testing.T) {
		resp, err := h.List(callCtx(t), &healthpb.HealthListRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, svc := range []string{"", loansv1.LoanQueryService_ServiceDesc.ServiceName} {
			if got := resp.GetStatuses()[svc].GetStatus(); got != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("%q: %v; want SERVING", svc, got)
			}
		}
	})
	t.Run("ShutdownIsNotServingAtOnce", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		began := time.Now()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		// The Watch stream was told, then ended: it did not hold the
		// graceful stop until its deadline.
		nextStatus(t, updates, healthpb.HealthCheckResponse_NOT_SERVING)
		if _, open := <-updates; open {
			t.Error("the Watch stream goes on after the shutdown")
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("Shutdown took %v with a Watch stream open", took)
		}
	})
}

// TestServer_ReadyWithoutReadiness: with no Readiness configured the
// service is ready from Start to Shutdown.
func TestServer_ReadyWithoutReadiness(t *testing.T) {
	srv, _, _, conn := start(t)
	agree(t, srv, healthpb.NewHealthClient(conn), true)
}
