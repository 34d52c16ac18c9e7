package auth

import (
	"context"
	"errors"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/loanflow/loans/platform/apiserver"
)

// Authenticator turns a bearer token into a principal (Verifier in
// production; tests may pass another).
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Principal, error)
}

// HeaderAuthorization is the metadata key (and HTTP header) of the token.
const HeaderAuthorization = "authorization"

// openPrefixes are the methods served without a token: health checks (load
// balancers and orchestrators probe them) and reflection (it describes the
// API, it touches no data).
var openPrefixes = []string{
	"/grpc.health.v1.Health/",
	"/grpc.reflection.v1.ServerReflection/",
	"/grpc.reflection.v1alpha.ServerReflection/",
}

// IsOpen tells whether a full gRPC method name is served without a token.
func IsOpen(fullMethod string) bool {
	for _, p := range openPrefixes {
		if strings.HasPrefix(fullMethod, p) {
			return true
		}
	}
	return false
}

// UnaryServerInterceptor authenticates every unary call but the open ones
// and puts the principal in its context; a call without a valid token is
// answered UNAUTHENTICATED (UNAVAILABLE while the issuer cannot be reached).
func UnaryServerInterceptor(a Authenticator) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if IsOpen(info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := authenticate(ctx, a)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming calls.
func StreamServerInterceptor(a Authenticator) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if IsOpen(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := authenticate(ss.Context(), a)
		if err != nil {
			return err
		}
		return handler(srv, &authenticatedStream{ServerStream: ss, ctx: ctx})
	}
}

type authenticatedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authenticatedStream) Context() context.Context { return s.ctx }

func authenticate(ctx context.Context, a Authenticator) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	p, err := authenticateValues(ctx, a, md.Get(HeaderAuthorization))
	if err != nil {
		return nil, err
	}
	return NewContext(ctx, p), nil
}

// AuthenticateHeader verifies an authorization header's value ("Bearer
// <token>") exactly as the gRPC interceptors do, for the ports that are not
// gRPC (the RabbitMQ command consumer); an empty value is a missing token.
// The error is the gRPC status the interceptors would answer with.
func AuthenticateHeader(ctx context.Context, a Authenticator, value string) (Principal, error) {
	var values []string
	if value != "" {
		values = []string{value}
	}
	return authenticateValues(ctx, a, values)
}

func authenticateValues(ctx context.Context, a Authenticator, values []string) (Principal, error) {
	token, err := bearerToken(values)
	if err == nil {
		var p Principal
		if p, err = a.Authenticate(ctx, token); err == nil {
			return p, nil
		}
	}
	return Principal{}, Status(err)
}

// bearerToken reads "Bearer <token>" from the authorization values.
func bearerToken(values []string) (string, error) {
	if len(values) == 0 {
		return "", refused(ReasonTokenMissing, nil, "this call needs an access token: send the header \"authorization: Bearer <token>\"")
	}
	if len(values) > 1 {
		return "", refused(ReasonTokenInvalid, nil, "more than one authorization header")
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", refused(ReasonTokenMissing, nil, "the authorization header must be \"Bearer <token>\"")
	}
	return strings.TrimSpace(token), nil
}

// Status is the gRPC status of an authentication failure.
func Status(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return apiserver.Refusal(codes.Unauthenticated, ReasonTokenInvalid, "the access token was not accepted", nil)
	}
	if e.Temporary {
		return apiserver.Refusal(codes.Unavailable, e.Reason, e.Message+"; retry", nil)
	}
	return apiserver.Refusal(codes.Unauthenticated, e.Reason, e.Message, nil)
}
