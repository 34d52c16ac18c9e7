package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/loanflow/loans/devstack/docstore"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/health/healthtest"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/service"
)

// queryService is the gRPC service name health reports besides "".
const queryService = "loans.v1.LoanQueryService"

// outageWait bounds a wait for readiness to follow the read model (the
// MongoDB driver notices a server back within a second or so).
const outageWait = 30 * time.Second

// withHealth checks the read model every few milliseconds.
func withHealth(interval, timeout time.Duration) option {
	return func(c *service.Config) { c.Health = health.Config{Interval: interval, Timeout: timeout} }
}

// severedReader reads the store until the test cuts it off; then every read
// fails as SQLite's do when the database file is gone.
type severedReader struct {
	readmodel.Reader
	cut atomic.Bool
}

var errCantOpen = errors.New("sqlitestore: unable to open database file (14)")

func (r *severedReader) Position(ctx context.Context) (uint64, error) {
	if r.cut.Load() {
		return 0, errCantOpen
	}
	return r.Reader.Position(ctx)
}

func (r *severedReader) Get(ctx context.Context, id string) (readmodel.Application, error) {
	if r.cut.Load() {
		return readmodel.Application{}, errCantOpen
	}
	return r.Reader.Get(ctx, id)
}

func (r *severedReader) List(ctx context.Context, f readmodel.Filter, p readmodel.Page) ([]readmodel.Application, string, error) {
	if r.cut.Load() {
		return nil, "", errCantOpen
	}
	return r.Reader.List(ctx, f, p)
}

func (r *severedReader) History(ctx context.Context, id string) ([]readmodel.HistoryEntry, error) {
	if r.cut.Load() {
		return nil, errCantOpen
	}
	return r.Reader.History(ctx, id)
}

func (r *severedReader) Stats(ctx context.Context, from, to string) ([]readmodel.DailyStats, readmodel.Funnel, error) {
	if r.cut.Load() {
		return nil, readmodel.Funnel{}, errCantOpen
	}
	return r.Reader.Stats(ctx, from, to)
}

// healthOf asks svc's gRPC health service about service, without a token.
func healthOf(t *testing.T, conn *grpc.ClientConn, service string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx(t), &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("health of %q: %v", service, err)
	}
	return resp.GetStatus()
}

// watchHealth opens a health Watch stream on "" (no token).
func watchHealth(t *testing.T, conn *grpc.ClientConn) <-chan healthtest.Status {
	t.Helper()
	return healthtest.Watch(t, healthpb.NewHealthClient(conn), "")
}

func nextHealth(t *testing.T, ch <-chan healthtest.Status, want healthtest.Status) {
	t.Helper()
	healthtest.Next(t, ch, want, outageWait)
}

// probesSay checks that gRPC health (both names), GET /readyz and GET
// /healthz, all without a token, agree that the service is ready or not,
// and returns the readiness report.
func probesSay(t *testing.T, bare *grpc.ClientConn, httpAddr string, ready bool) health.Report {
	t.Helper()
	grpcWant, httpWant := healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable
	if ready {
		grpcWant, httpWant = healthpb.HealthCheckResponse_SERVING, http.StatusOK
	}
	for _, name := range []string{"", queryService} {
		if got := healthOf(t, bare, name); got != grpcWant {
			t.Errorf("health of %q: %v; want %v", name, got, grpcWant)
		}
	}
	readyz := getFrom(t, httpAddr, "", "/readyz")
	var rep health.Report
	if err := json.Unmarshal(readyz.body, &rep); err != nil {
		t.Fatalf("/readyz: %s: %v", readyz.body, err)
	}
	if readyz.status != httpWant || rep.Ready() != ready || len(rep.Checks) != 1 || rep.Checks[0].Name != "readmodel" || rep.Checks[0].OK != ready {
		t.Errorf("/readyz: %d %s; want %d with the check readmodel", readyz.status, readyz.body, httpWant)
	}
	if healthz := getFrom(t, httpAddr, "", "/healthz"); healthz.status != http.StatusOK {
		t.Errorf("/healthz: %d %s; want 200 whatever the read model", healthz.status, healthz.body)
	}
	return rep
}

// TestService_ReadModelOutage: while the read model cannot be read, the
// service says it is not ready (gRPC health, its Watch streams, /readyz;
// /healthz stays 200) and queries answer UNAVAILABLE / 503
// READ_MODEL_UNAVAILABLE; once it can, all is back.
func TestService_ReadModelOutage(t *testing.T) {
	e := newEnv(t)
	id := uuidOf(1)
	e.b.Request(id, 1000, 12, "ada", at(0))
	e.apply(t)
	reader := &severedReader{Reader: e.store}
	cfg := e.config(t, reader)
	withHealth(10*time.Millisecond, time.Second)(&cfg)
	svc := start(t, cfg)
	client := loansv1.NewLoanQueryServiceClient(dial(t, svc.GRPCAddr(), e.token))
	bare := dial(t, svc.GRPCAddr(), "")
	updates := watchHealth(t, bare)
	nextHealth(t, updates, healthpb.HealthCheckResponse_SERVING)
	probesSay(t, bare, svc.HTTPAddr(), true)

	reader.cut.Store(true)
	nextHealth(t, updates, healthpb.HealthCheckResponse_NOT_SERVING)
	rep := probesSay(t, bare, svc.HTTPAddr(), false)
	if rep.Checks[0].Error != errCantOpen.Error() {
		t.Errorf("/readyz says %q; want the store's error", rep.Checks[0].Error)
	}
	_, err := client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id})
	refused(t, err, codes.Unavailable, "READ_MODEL_UNAVAILABLE")
	getFrom(t, svc.HTTPAddr(), e.token, "/v1/loan-applications/"+id).
		refused(t, http.StatusServiceUnavailable, codes.Unavailable, "READ_MODEL_UNAVAILABLE")

	reader.cut.Store(false)
	nextHealth(t, updates, healthpb.HealthCheckResponse_SERVING)
	probesSay(t, bare, svc.HTTPAddr(), true)
	if resp, err := client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id}); err != nil || resp.GetLoanApplication().GetLoanApplicationUuid() != id {
		t.Fatalf("once the read model is back: %v, %v", resp, err)
	}
}

// TestService_ReadModelOutageOnMongoDB: the same with a real outage, the
// MongoDB server (an embedded FerretDB) stopped, then started again on its
// data.
func TestService_ReadModelOutageOnMongoDB(t *testing.T) {
	dir := t.TempDir()
	startDB := func(addr string) *docstore.Server {
		db, err := docstore.Start(t.Context(), docstore.Config{Addr: addr, Dir: dir, NoSync: true, Logger: testLogger(t)})
		if err != nil {
			t.Fatalf("start FerretDB on %s: %v", addr, err)
		}
		return db
	}
	db := startDB("127.0.0.1:0")
	t.Cleanup(func() { _ = db.Close() }) // after the env's own cleanups: its client goes first
	e := newEnvOn(t, db.URI(), withHealth(50*time.Millisecond, 500*time.Millisecond))
	id := uuidOf(1)
	e.b.Request(id, 1000, 12, "ada", at(0))
	e.apply(t)
	updates := watchHealth(t, e.bare)
	nextHealth(t, updates, healthpb.HealthCheckResponse_SERVING)

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	nextHealth(t, updates, healthpb.HealthCheckResponse_NOT_SERVING)
	probesSay(t, e.bare, e.svc.HTTPAddr(), false)
	began := time.Now()
	_, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id})
	refused(t, err, codes.Unavailable, "READ_MODEL_UNAVAILABLE")
	if took := time.Since(began); took > time.Second {
		t.Errorf("the refusal took %v: it should not wait for the driver", took)
	}
	e.get(t, "/v1/loan-applications/"+id).refused(t, http.StatusServiceUnavailable, codes.Unavailable, "READ_MODEL_UNAVAILABLE")

	u, err := url.Parse(db.URI())
	if err != nil {
		t.Fatal(err)
	}
	db = startDB(u.Host) // the same port: the client keeps its URI
	nextHealth(t, updates, healthpb.HealthCheckResponse_SERVING)
	probesSay(t, e.bare, e.svc.HTTPAddr(), true)
	if resp, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id}); err != nil || resp.GetLoanApplication().GetLoanApplicationUuid() != id {
		t.Fatalf("once MongoDB is back: %v, %v", resp, err)
	}
}
