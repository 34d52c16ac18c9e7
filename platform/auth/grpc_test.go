package auth_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/auth/authtest"
)

// whoAmI answers with the principal its handlers find in their context:
// UnaryCall with the subject as Username and the roles as OauthScope,
// StreamingOutputCall with the subject as the payload.
type whoAmI struct {
	testgrpc.UnimplementedTestServiceServer
}

func (whoAmI) UnaryCall(ctx context.Context, _ *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return nil, status.Error(codes.Internal, "no principal in the handler's context")
	}
	return &testgrpc.SimpleResponse{Username: p.Subject, OauthScope: strings.Join(p.RoleNames(), " ")}, nil
}

func (whoAmI) StreamingOutputCall(_ *testgrpc.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	p, ok := auth.FromContext(stream.Context())
	if !ok {
		return status.Error(codes.Internal, "no principal in the stream's context")
	}
	return stream.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte(p.Subject)}})
}

// serve runs a gRPC server on loopback with a's interceptors, the health
// service and whoAmI, and returns a client connection to it.
func serve(t *testing.T, a auth.Authenticator) *grpc.ClientConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(a)),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor(a)),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	testgrpc.RegisterTestServiceServer(srv, whoAmI{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// callContext is the test's context with a deadline, carrying the given
// authorization headers.
func callContext(t *testing.T, authorization ...string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	for _, a := range authorization {
		ctx = metadata.AppendToOutgoingContext(ctx, auth.HeaderAuthorization, a)
	}
	return ctx
}

// wantRefusal checks that err is a status with code and an ErrorInfo of
// reason in the services' domain.
func wantRefusal(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			if info.GetReason() != reason || info.GetDomain() != apiserver.ErrorDomain {
				t.Fatalf("ErrorInfo %s/%s, want %s/%s", info.GetDomain(), info.GetReason(), apiserver.ErrorDomain, reason)
			}
			return
		}
	}
	t.Fatalf("status %v has no ErrorInfo", st)
}

func TestUnaryServerInterceptor(t *testing.T) {
	iss := authtest.Start(t)
	conn := serve(t, iss.Verifier(t))
	client := testgrpc.NewTestServiceClient(conn)
	call := func(ctx context.Context) (*testgrpc.SimpleResponse, error) {
		return client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	}

	t.Run("NoAuthorizationHeader", func(t *testing.T) {
		_, err := call(callContext(t))
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenMissing)
	})
	t.Run("BasicScheme", func(t *testing.T) {
		_, err := call(callContext(t, "Basic x"))
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenMissing)
	})
	t.Run("BearerWithoutToken", func(t *testing.T) {
		for _, h := range []string{"Bearer", "Bearer ", "Bearer    "} {
			_, err := call(callContext(t, h))
			wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenMissing)
		}
	})
	t.Run("TwoAuthorizationHeaders", func(t *testing.T) {
		token := iss.Token(t, "alice")
		_, err := call(callContext(t, authtest.Header(token), authtest.Header(token)))
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenInvalid)
	})
	t.Run("InvalidToken", func(t *testing.T) {
		_, err := call(authtest.Bearer(callContext(t), "not-a-token"))
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenInvalid)
	})
	t.Run("ExpiredToken", func(t *testing.T) {
		c := iss.Claims("alice")
		c["exp"] = time.Now().Add(-time.Hour).Unix()
		_, err := call(authtest.Bearer(callContext(t), iss.Sign(t, c)))
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenExpired)
	})
	t.Run("ReservedSubject", func(t *testing.T) {
		_, err := call(authtest.Bearer(callContext(t), iss.Token(t, "system:projector")))
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonSubjectReserved)
	})
	t.Run("ValidTokenGivesTheHandlerThePrincipal", func(t *testing.T) {
		resp, err := call(authtest.Bearer(callContext(t), iss.Token(t, "alice", auth.RoleLoanOfficer, auth.RoleApplicant)))
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetUsername() != "alice" || resp.GetOauthScope() != "applicant loan_officer" {
			t.Fatalf("handler saw %q with roles %q, want alice with applicant loan_officer", resp.GetUsername(), resp.GetOauthScope())
		}
	})
	t.Run("SchemeCaseAndSpacesIgnored", func(t *testing.T) {
		resp, err := call(callContext(t, "  bearer  "+iss.Token(t, "alice")+" "))
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetUsername() != "alice" {
			t.Fatalf("handler saw %q, want alice", resp.GetUsername())
		}
	})
	t.Run("HealthCheckNeedsNoToken", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(conn).Check(callContext(t), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %s, want SERVING", resp.GetStatus())
		}
	})
	t.Run("HealthCheckIgnoresABadToken", func(t *testing.T) {
		if _, err := healthpb.NewHealthClient(conn).Check(authtest.Bearer(callContext(t), "garbage"), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("IssuerUnavailable", func(t *testing.T) {
		url, _ := closedURL(t)
		v := newVerifier(t, auth.Config{IssuerURL: url, Audience: authtest.Audience})
		down := testgrpc.NewTestServiceClient(serve(t, v))
		_, err := down.UnaryCall(authtest.Bearer(callContext(t), iss.Token(t, "alice")), &testgrpc.SimpleRequest{})
		wantRefusal(t, err, codes.Unavailable, auth.ReasonIssuerUnavailable)
	})
	t.Run("AuthenticatorErrorOfAnotherType", func(t *testing.T) {
		broken := testgrpc.NewTestServiceClient(serve(t, authenticatorFunc(func(context.Context, string) (auth.Principal, error) {
			return auth.Principal{}, errors.New("broken")
		})))
		_, err := broken.UnaryCall(authtest.Bearer(callContext(t), "x"), &testgrpc.SimpleRequest{})
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenInvalid)
	})
}

type authenticatorFunc func(context.Context, string) (auth.Principal, error)

func (f authenticatorFunc) Authenticate(ctx context.Context, token string) (auth.Principal, error) {
	return f(ctx, token)
}

func TestStreamServerInterceptor(t *testing.T) {
	iss := authtest.Start(t)
	conn := serve(t, iss.Verifier(t))
	client := testgrpc.NewTestServiceClient(conn)
	// first is the stream's first message, or its error.
	first := func(ctx context.Context) (*testgrpc.StreamingOutputCallResponse, error) {
		stream, err := client.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{})
		if err != nil {
			return nil, err
		}
		return stream.Recv()
	}

	t.Run("NoAuthorizationHeader", func(t *testing.T) {
		_, err := first(callContext(t))
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenMissing)
	})
	t.Run("InvalidToken", func(t *testing.T) {
		_, err := first(authtest.Bearer(callContext(t), iss.Token(t, "")))
		wantRefusal(t, err, codes.Unauthenticated, auth.ReasonTokenInvalid)
	})
	t.Run("ValidTokenGivesTheHandlerThePrincipal", func(t *testing.T) {
		resp, err := first(authtest.Bearer(callContext(t), iss.Token(t, "alice")))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(resp.GetPayload().GetBody()); got != "alice" {
			t.Fatalf("handler saw %q, want alice", got)
		}
	})
	t.Run("HealthWatchNeedsNoToken", func(t *testing.T) {
		stream, err := healthpb.NewHealthClient(conn).Watch(callContext(t), &healthpb.HealthCheckRequest{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := stream.Recv()
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health %s, want SERVING", resp.GetStatus())
		}
	})
}

func TestIsOpen(t *testing.T) {
	for method, want := range map[string]bool{
		"/grpc.health.v1.Health/Check":                                   true,
		"/grpc.health.v1.Health/Watch":                                   true,
		"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      true,
		"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": true,
		"/grpc.testing.TestService/UnaryCall":                            false,
		"/grpc.health.v1.HealthX/Check":                                  false,
		"/loans.v1.LoanCommandService/ApproveLoan":                       false,
		"": false,
	} {
		if got := auth.IsOpen(method); got != want {
			t.Errorf("IsOpen(%q) = %t, want %t", method, got, want)
		}
	}
}

// The services authenticate every call but health checks and reflection.
func ExampleUnaryServerInterceptor() {
	verifier, err := auth.NewVerifier(auth.Config{
		IssuerURL:  "https://keycloak.example.com/realms/loans",
		Audience:   "loans-api",
		RolesClaim: "realm_access.roles",
	})
	if err != nil {
		panic(err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(auth.UnaryServerInterceptor(verifier)),
		grpc.ChainStreamInterceptor(auth.StreamServerInterceptor(verifier)),
	)
	// Handlers read the caller with auth.FromContext(ctx).
	_ = srv
}

// AuthenticateHeader is the interceptors' check for ports that are not gRPC.
func TestAuthenticateHeader(t *testing.T) {
	iss := authtest.Start(t)
	v := iss.Verifier(t)
	p, err := auth.AuthenticateHeader(t.Context(), v, authtest.Header(iss.Token(t, "alice", "applicant")))
	if err != nil || p.Subject != "alice" || !p.Has("applicant") {
		t.Fatalf("AuthenticateHeader(valid) = %+v, %v", p, err)
	}
	for header, reason := range map[string]string{
		"":                   auth.ReasonTokenMissing,
		"Basic x":            auth.ReasonTokenMissing,
		"Bearer not-a-token": auth.ReasonTokenInvalid,
	} {
		_, err := auth.AuthenticateHeader(t.Context(), v, header)
		wantRefusal(t, err, codes.Unauthenticated, reason)
	}
}
