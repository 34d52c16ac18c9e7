package service_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/auth/authtest"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/service"
)

// TestService_HealthAndReflection: both answer without a token (load
// balancers probe health; reflection describes the API, not its data).
func TestService_HealthAndReflection(t *testing.T) {
	e := newEnv(t)
	health := healthpb.NewHealthClient(e.bare)
	for _, name := range []string{"", "loans.v1.LoanQueryService"} {
		resp, err := health.Check(ctx(t), &healthpb.HealthCheckRequest{Service: name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v, %v; want SERVING", name, resp, err)
		}
	}
	stream, err := reflectionpb.NewServerReflectionClient(e.bare).ServerReflectionInfo(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !strings.Contains(strings.Join(names, " "), "loans.v1.LoanQueryService") {
		t.Errorf("reflection lists %v", names)
	}
	_ = stream.CloseSend()
}

// waitingReader tells when a call starts waiting for a consistency token
// (a caller's read of the position, not the readiness check's).
type waitingReader struct {
	readmodel.Reader
	once    sync.Once
	waiting chan struct{}
}

func (r *waitingReader) Position(ctx context.Context) (uint64, error) {
	if _, caller := auth.FromContext(ctx); caller {
		r.once.Do(func() { close(r.waiting) })
	}
	return r.Reader.Position(ctx)
}

// TestService_Shutdown: SIGTERM's path. A call in flight (here waiting for
// the read model) is answered; new calls are refused; health says so.
func TestService_Shutdown(t *testing.T) {
	e := newEnv(t)
	reader := &waitingReader{Reader: e.store, waiting: make(chan struct{})}
	svc := start(t, e.config(t, reader))
	client := loansv1.NewLoanQueryServiceClient(dial(t, svc.GRPCAddr(), e.token))
	id := uuidOf(1)
	e.b.Request(id, 1000, 12, "ada", at(0))
	batch := e.b.Batch()

	answered := make(chan error, 1)
	go func() {
		_, err := client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: batch.Checkpoint})
		answered <- err
	}()
	select {
	case <-reader.waiting:
	case <-time.After(callTimeout):
		t.Fatal("the call never reached the read model")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- svc.stop(shutdownTimeout) }()
	// The server stops taking calls while the first one still waits.
	deadline := time.Now().Add(callTimeout)
	for {
		_, err := client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id})
		if status.Code(err) == codes.Unavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new calls still taken during shutdown: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := e.store.Apply(t.Context(), e.gen, batch); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Fatalf("the call in flight: %v", err)
		}
	case <-time.After(callTimeout):
		t.Fatal("the call in flight was never answered")
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(shutdownTimeout + time.Second):
		t.Fatal("shutdown did not finish")
	}
}

// TestService_ShutdownDeadline: calls still running when the shutdown's
// time is up are cut off.
func TestService_ShutdownDeadline(t *testing.T) {
	e := newEnv(t)
	reader := &waitingReader{Reader: e.store, waiting: make(chan struct{})}
	svc := start(t, e.config(t, reader))
	client := loansv1.NewLoanQueryServiceClient(dial(t, svc.GRPCAddr(), e.token))
	answered := make(chan error, 1)
	go func() {
		_, err := client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{ConsistencyToken: 1 << 40})
		answered <- err
	}()
	<-reader.waiting
	start := time.Now()
	if err := svc.stop(200 * time.Millisecond); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("shutdown took %s; want about 200ms", took)
	}
	select {
	case err := <-answered:
		if c := status.Code(err); c != codes.Unavailable && c != codes.Canceled {
			t.Errorf("the call cut off: %v", err)
		}
	case <-time.After(callTimeout):
		t.Fatal("the call cut off was never answered")
	}
}

// failingReader fails or panics on Get.
type failingReader struct {
	readmodel.Reader
	panics bool
}

func (r failingReader) Get(context.Context, string) (readmodel.Application, error) {
	if r.panics {
		panic("the store is haunted")
	}
	return readmodel.Application{}, errors.New("disk on fire at /var/secret/path")
}

// TestService_StoreErrors: a read the store fails is an outage, which a
// client retries; a panic is a bug. Neither answer tells the cause's
// details, and the server lives on.
func TestService_StoreErrors(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		reader  readmodel.Reader
		code    codes.Code
		message string
	}{
		"ErrorIsUnavailable": {failingReader{Reader: e.store}, codes.Unavailable, "the read model cannot be reached at the moment; retry later"},
		"PanicIsInternal":    {failingReader{Reader: e.store, panics: true}, codes.Internal, "internal error"},
	} {
		t.Run(name, func(t *testing.T) {
			svc := start(t, e.config(t, tc.reader))
			client := loansv1.NewLoanQueryServiceClient(dial(t, svc.GRPCAddr(), e.token))
			_, err := client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: uuidOf(1)})
			if st, _ := status.FromError(err); st.Code() != tc.code || st.Message() != tc.message {
				t.Fatalf("got %v; want %s %q", err, tc.code, tc.message)
			}
			if tc.code == codes.Unavailable {
				refused(t, err, codes.Unavailable, "READ_MODEL_UNAVAILABLE")
			}
			// The server lives on, ready: its read model answers.
			if _, err := client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{}); err != nil {
				t.Fatal(err)
			}
			if got := healthOf(t, dial(t, svc.GRPCAddr(), ""), ""); got != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health %v; want SERVING", got)
			}
		})
	}
}

func TestStart_WithoutReadModel(t *testing.T) {
	cfg := service.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Authenticator: authtest.Start(t).Verifier(t)}
	if _, err := service.Start(t.Context(), cfg); err == nil {
		t.Fatal("no error")
	}
}

// TestStart_WithoutAuthenticator: the service never serves unauthenticated.
func TestStart_WithoutAuthenticator(t *testing.T) {
	cfg := service.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", ReadModel: failingReader{}}
	svc, err := service.Start(t.Context(), cfg)
	if err == nil {
		_ = svc.Shutdown(t.Context())
		t.Fatal("started without an authenticator")
	}
	if !strings.Contains(err.Error(), "authenticator") {
		t.Errorf("error %q does not say what is missing", err)
	}
}
