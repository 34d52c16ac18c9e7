package service_test

import (
	"slices"
	"testing"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
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
