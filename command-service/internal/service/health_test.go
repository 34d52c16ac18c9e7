package service_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	devstore "github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/telemetry/telemetrytest"
)

func TestHealth_Serving(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	health := healthpb.NewHealthClient(e.conn)
	for _, svc := range []string{"", "loans.v1.LoanCommandService"} {
		r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil {
			t.Fatalf("Check(%q): %v", svc, err)
		}
		if r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("Check(%q) = %v; want SERVING", svc, r.GetStatus())
		}
	}
}

// Readiness follows the event store: NOT_SERVING (and /readyz 503) while it
// is away, SERVING again once it is back.
func TestHealth_FollowsTheEventStore(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	proxy := esdbconntest.NewProxy(t, store.Addr.String())
	svc := startService(t, proxy.ConnectionString(), withoutProcessManagers(), withHealthEvery(200*time.Millisecond), withAdmin())
	health := healthpb.NewHealthClient(dial(t, svc.GRPCAddr()))
	ctx := callCtx(t)
	await := func(want healthpb.HealthCheckResponse_ServingStatus, wantHTTP int) {
		t.Helper()
		eventually(t, 10*time.Second, func() (bool, string) {
			r, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "loans.v1.LoanCommandService"})
			if err != nil {
				return false, err.Error()
			}
			res, err := http.Get("http://" + svc.HTTPAddr() + "/readyz")
			if err != nil {
				return false, err.Error()
			}
			_ = res.Body.Close()
			// The admin listener's probe and metric say the same.
			admin, err := http.Get("http://" + svc.AdminAddr() + "/readyz")
			if err != nil {
				return false, err.Error()
			}
			_ = admin.Body.Close()
			ready := 0.0
			if wantHTTP == http.StatusOK {
				ready = 1
			}
			gauge := telemetrytest.Scrape(t, svc.AdminAddr())[`loans_ready{check="eventstore"}`]
			return r.GetStatus() == want && res.StatusCode == wantHTTP && admin.StatusCode == wantHTTP && gauge == ready,
				fmt.Sprintf("health %v, /readyz %d, admin /readyz %d, loans_ready %v; want %v, %d", r.GetStatus(), res.StatusCode,
					admin.StatusCode, gauge, want, wantHTTP)
		})
	}
	await(healthpb.HealthCheckResponse_SERVING, http.StatusOK)
	proxy.Cut()
	await(healthpb.HealthCheckResponse_NOT_SERVING, http.StatusServiceUnavailable)
	proxy.Restore()
	await(healthpb.HealthCheckResponse_SERVING, http.StatusOK)
}

func TestReflection_ListsTheCommandService(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	stream, err := reflectionpb.NewServerReflectionClient(e.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("ServerReflectionInfo: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: ""},
	}); err != nil {
		t.Fatalf("send: %v", err)
	}
	r, err := stream.Recv()
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	_ = stream.CloseSend()
	var names []string
	for _, s := range r.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, loansv1.LoanCommandService_ServiceDesc.ServiceName) || !slices.Contains(names, "loans.v1.LoanCommandService") {
		t.Fatalf("reflection lists %v; want loans.v1.LoanCommandService among them", names)
	}
	if !slices.Contains(names, "grpc.health.v1.Health") {
		t.Errorf("reflection lists %v; want grpc.health.v1.Health among them", names)
	}
}
