package apiserver_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
)

const (
	defaultDeadline = 3 * time.Second
	maxDeadline     = 5 * time.Second
)

// stub answers GetLoanApplication according to the UUID asked for.
type stub struct {
	loansv1.UnimplementedLoanQueryServiceServer
	deadlines chan time.Duration // what the handler saw as time left
	started   chan struct{}      // a "block" call has started
}

func (s *stub) GetLoanApplication(ctx context.Context, req *loansv1.GetLoanApplicationRequest) (*loansv1.GetLoanApplicationResponse, error) {
	switch req.GetLoanApplicationUuid() {
	case "panic":
		panic("boom")
	case "deadline":
		d, ok := ctx.Deadline()
		if !ok {
			s.deadlines <- -1
		} else {
			s.deadlines <- time.Until(d)
		}
		return &loansv1.GetLoanApplicationResponse{}, nil
	case "block":
		close(s.started)
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	case "not-found":
		return nil, apiserver.Refusal(codes.NotFound, "LOAN_APPLICATION_NOT_FOUND", "no such application", nil)
	case "bad":
		return nil, apiserver.Refusal(codes.InvalidArgument, "LOAN_APPLICATION_UUID_INVALID", "not a UUID", map[string]string{"field": "loan_application_uuid"})
	case "conflict":
		return nil, apiserver.Refusal(codes.FailedPrecondition, "LOAN_NOT_SUBMITTED", "not submitted yet", nil)
	case "unauthenticated":
		return nil, status.Error(codes.Unauthenticated, "token expired at 10:00")
	case "forbidden":
		return nil, status.Error(codes.PermissionDenied, "lender-admin only")
	}
	return &loansv1.GetLoanApplicationResponse{LoanApplication: &loansv1.LoanApplication{LoanApplicationUuid: req.GetLoanApplicationUuid()}}, nil
}

// serve starts cfg on loopback ports, filling in what a test leaves out.
func serve(t *testing.T, cfg apiserver.Config) *apiserver.Server {
	t.Helper()
	cfg.Name = "test service"
	cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if cfg.DefaultDeadline == 0 {
		cfg.DefaultDeadline, cfg.MaxDeadline = defaultDeadline, maxDeadline
	}
	srv, err := apiserver.Start(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

// start serves the query service's stub, with the changes opts make to its
// Config, and dials its gRPC port in plain text.
func start(t *testing.T, opts ...func(*apiserver.Config)) (*apiserver.Server, *stub, loansv1.LoanQueryServiceClient, *grpc.ClientConn) {
	t.Helper()
	impl := &stub{deadlines: make(chan time.Duration, 1), started: make(chan struct{})}
	cfg := apiserver.Config{
		Service:         &loansv1.LoanQueryService_ServiceDesc,
		Impl:            impl,
		RegisterGateway: loansv1.RegisterLoanQueryServiceHandler,
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	srv := serve(t, cfg)
	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return srv, impl, loansv1.NewLoanQueryServiceClient(conn), conn
}

func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestServer_GRPC(t *testing.T) {
	_, impl, client, conn := start(t)

	t.Run("Serves", func(t *testing.T) {
		resp, err := client.GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "abc"})
		if err != nil || resp.GetLoanApplication().GetLoanApplicationUuid() != "abc" {
			t.Fatalf("got %v, %v", resp, err)
		}
	})
	t.Run("PanicIsInternalAndTheServerGoesOn", func(t *testing.T) {
		_, err := client.GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "panic"})
		if status.Code(err) != codes.Internal {
			t.Fatalf("got %v, want Internal", err)
		}
		if _, err := client.GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "abc"}); err != nil {
			t.Fatalf("after a panic: %v", err)
		}
	})
	t.Run("DefaultDeadlineForCallsWithout", func(t *testing.T) {
		if _, err := client.GetLoanApplication(context.Background(), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "deadline"}); err != nil {
			t.Fatal(err)
		}
		if left := <-impl.deadlines; left <= 0 || left > defaultDeadline {
			t.Errorf("a call without a deadline had %v left, want (0, %v]", left, defaultDeadline)
		}
	})
	t.Run("CallersDeadlineKeptUpToTheMaximum", func(t *testing.T) {
		asked := maxDeadline - 500*time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), asked)
		defer cancel()
		if _, err := client.GetLoanApplication(ctx, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "deadline"}); err != nil {
			t.Fatal(err)
		}
		if left := <-impl.deadlines; left <= defaultDeadline || left > asked {
			t.Errorf("a call with %v had %v left: the server replaced the caller's deadline", asked, left)
		}
	})
	t.Run("LongerDeadlineCutToTheMaximum", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		if _, err := client.GetLoanApplication(ctx, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "deadline"}); err != nil {
			t.Fatal(err)
		}
		if left := <-impl.deadlines; left <= 0 || left > maxDeadline {
			t.Errorf("a call asking for an hour had %v left, want (0, %v]", left, maxDeadline)
		}
	})
	t.Run("RefusalCarriesErrorInfo", func(t *testing.T) {
		_, err := client.GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "bad"})
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || len(st.Details()) != 1 {
			t.Fatalf("got %v with details %v", err, st.Details())
		}
		info, ok := st.Details()[0].(*errdetails.ErrorInfo)
		if !ok || info.GetReason() != "LOAN_APPLICATION_UUID_INVALID" || info.GetDomain() != apiserver.ErrorDomain || info.GetMetadata()["field"] != "loan_application_uuid" {
			t.Errorf("ErrorInfo %v", st.Details()[0])
		}
	})
	t.Run("Health", func(t *testing.T) {
		h := healthpb.NewHealthClient(conn)
		for _, svc := range []string{"", loansv1.LoanQueryService_ServiceDesc.ServiceName} {
			resp, err := h.Check(callCtx(t), &healthpb.HealthCheckRequest{Service: svc})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health of %q: %v, %v", svc, resp, err)
			}
		}
	})
	t.Run("RequestTooLarge", func(t *testing.T) {
		big := make([]byte, apiserver.MaxRecvMsgSize+1)
		for i := range big {
			big[i] = 'a'
		}
		_, err := client.GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: string(big)})
		if status.Code(err) != codes.ResourceExhausted {
			t.Errorf("got %v, want ResourceExhausted", err)
		}
	})
}

func TestServer_REST(t *testing.T) {
	srv, _, _, _ := start(t)
	for id, want := range map[string]struct {
		code   int
		reason string
	}{
		"abc":       {http.StatusOK, ""},
		"not-found": {http.StatusNotFound, "LOAN_APPLICATION_NOT_FOUND"},
		"bad":       {http.StatusBadRequest, "LOAN_APPLICATION_UUID_INVALID"},
		"conflict":  {http.StatusConflict, "LOAN_NOT_SUBMITTED"},
		"panic":     {http.StatusInternalServerError, ""},
	} {
		t.Run(id, func(t *testing.T) {
			req, err := http.NewRequestWithContext(callCtx(t), http.MethodGet, "http://"+srv.HTTPAddr()+"/v1/loan-applications/"+id, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Details []struct {
					Reason string `json:"reason"`
				} `json:"details"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != want.code {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, want.code)
			}
			if want.reason != "" && (len(body.Details) != 1 || body.Details[0].Reason != want.reason) {
				t.Errorf("details %+v, want reason %s", body.Details, want.reason)
			}
		})
	}
}

func TestServer_ShutdownIsBounded(t *testing.T) {
	srv, impl, client, _ := start(t)
	callErr := make(chan error, 1)
	go func() {
		_, err := client.GetLoanApplication(context.Background(), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "block"})
		callErr <- err
	}()
	select {
	case <-impl.started:
	case <-time.After(10 * time.Second):
		t.Fatal("the blocking call never started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(ctx) }()
	select {
	case <-done:
	case <-time.After(defaultDeadline - 500*time.Millisecond):
		t.Fatal("Shutdown did not cut off the call in flight when its context ended")
	}
	if err := <-callErr; status.Code(err) == codes.OK {
		t.Error("the call in flight succeeded, want it cut off")
	}
}

func TestStart_Refusals(t *testing.T) {
	valid := func(change func(*apiserver.Config)) apiserver.Config {
		cfg := apiserver.Config{
			GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
			DefaultDeadline: time.Second,
			Service:         &loansv1.LoanQueryService_ServiceDesc,
			Impl:            &stub{},
			RegisterGateway: loansv1.RegisterLoanQueryServiceHandler,
		}
		change(&cfg)
		return cfg
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	for name, tc := range map[string]struct {
		cfg  apiserver.Config
		want string // in the error
	}{
		"NoService":                 {valid(func(c *apiserver.Config) { c.Service = nil }), "Service"},
		"NoGatewayFunc":             {valid(func(c *apiserver.Config) { c.RegisterGateway = nil }), "RegisterGateway"},
		"NoDeadline":                {valid(func(c *apiserver.Config) { c.DefaultDeadline = 0 }), "DefaultDeadline"},
		"DefaultOverMax":            {valid(func(c *apiserver.Config) { c.DefaultDeadline, c.MaxDeadline = time.Minute, time.Second }), "MaxDeadline"},
		"DefaultOverTheDefaultMax":  {valid(func(c *apiserver.Config) { c.DefaultDeadline = apiserver.DefaultMaxDeadline + time.Second }), "MaxDeadline"},
		"NegativeMaxBody":           {valid(func(c *apiserver.Config) { c.MaxBodyBytes = -1 }), "MaxBodyBytes"},
		"PortTaken":                 {valid(func(c *apiserver.Config) { c.HTTPAddr = "256.0.0.1:1" }), "256.0.0.1"},
		"CertWithoutKey":            {valid(func(c *apiserver.Config) { c.TLSCertFile = missing }), "TLSKeyFile"},
		"KeyWithoutCert":            {valid(func(c *apiserver.Config) { c.TLSKeyFile = missing }), "TLSCertFile"},
		"UnreadableKeyPair":         {valid(func(c *apiserver.Config) { c.TLSCertFile, c.TLSKeyFile = missing, missing }), "missing.pem"},
		"OriginWildcard":            {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"*"} }), `"*"`},
		"OriginSubdomainWildcard":   {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"https://*.example.com"} }), "*.example.com"},
		"OriginWithPath":            {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"http://localhost:5173/app"} }), "/app"},
		"OriginWithTrailingSlash":   {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"http://localhost:5173/"} }), "5173/"},
		"OriginWithoutScheme":       {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"localhost:5173"} }), "localhost:5173"},
		"OriginNull":                {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"null"} }), "null"},
		"OriginWithQuery":           {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"http://localhost?x=1"} }), "x=1"},
		"OriginOtherScheme":         {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"ftp://localhost"} }), "ftp"},
		"OneBadOriginAmongGoodOnes": {valid(func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{"https://a.example", "https://b.example/"} }), "b.example/"},
	} {
		t.Run(name, func(t *testing.T) {
			srv, err := apiserver.Start(t.Context(), tc.cfg)
			if err == nil {
				_ = srv.Shutdown(t.Context())
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

func TestHTTPStatus(t *testing.T) {
	for code, want := range map[codes.Code]int{
		codes.OK:                 200,
		codes.InvalidArgument:    400,
		codes.OutOfRange:         400,
		codes.NotFound:           404,
		codes.AlreadyExists:      409,
		codes.FailedPrecondition: 409,
		codes.Aborted:            409,
		codes.Unavailable:        503,
		codes.DeadlineExceeded:   504,
		codes.Canceled:           499,
		codes.Unauthenticated:    401,
		codes.PermissionDenied:   403,
		codes.ResourceExhausted:  429,
		codes.Unimplemented:      501,
		codes.Internal:           500,
		codes.Unknown:            500,
		codes.DataLoss:           500,
	} {
		if got := apiserver.HTTPStatus(code); got != want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", code, got, want)
		}
	}
}
