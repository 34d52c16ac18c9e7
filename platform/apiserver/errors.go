package apiserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every refusal.
const ErrorDomain = "loans.v1"

// Refusal is a status with a google.rpc.ErrorInfo giving the stable reason
// (AMOUNT_IS_TOO_LOW, say) that clients branch on; metadata may be nil.
func Refusal(code codes.Code, reason, message string, metadata map[string]string) error {
	st, err := status.New(code, message).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: metadata})
	if err != nil {
		return status.Error(code, message)
	}
	return st.Err()
}

// HTTPStatus maps gRPC codes to HTTP statuses for the REST gateway. It
// follows grpc-gateway's defaults except that a command that does not fit the
// application's state (FailedPrecondition) and a concurrent change (Aborted)
// are conflicts with the resource's current state: 409.
func HTTPStatus(code codes.Code) int {
	switch code {
	case codes.OK:
		return http.StatusOK
	case codes.InvalidArgument, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted:
		return http.StatusConflict
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.Canceled:
		return 499 // client closed request, as grpc-gateway and nginx say
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	case codes.Unimplemented:
		return http.StatusNotImplemented
	}
	return http.StatusInternalServerError
}

// errorHandler is the gateway's default handler (a JSON google.rpc.Status
// body, ErrorInfo included) under the status HTTPStatus gives, or the one a
// runtime.HTTPStatusError carries.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	sw := statusWriter{ResponseWriter: w, code: HTTPStatus(status.Code(err))}
	if hse := (*runtime.HTTPStatusError)(nil); errors.As(err, &hse) {
		sw.code = hse.HTTPStatus
	}
	if sw.code == http.StatusUnauthorized {
		sw.challenge = bearerChallenge(r)
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, sw, r, err)
}

// bearerChallenge is a 401's WWW-Authenticate, as RFC 6750 (section 3) has
// it; grpc-gateway would put the status message there.
func bearerChallenge(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return `Bearer realm="loans", error="invalid_token"`
	}
	return `Bearer realm="loans"`
}

// statusWriter replaces the HTTP status the default handler writes, and
// its WWW-Authenticate if challenge is set.
type statusWriter struct {
	http.ResponseWriter
	code      int
	challenge string
}

func (s statusWriter) WriteHeader(int) {
	if s.challenge != "" {
		s.Header().Set("WWW-Authenticate", s.challenge)
	}
	s.ResponseWriter.WriteHeader(s.code)
}

// Reason is an error's stable reason: its google.rpc.ErrorInfo reason, or
// else its code's name as google.rpc.Code spells it (INTERNAL, say); "" for
// nil. Metrics and logs label with it: the set of values is bounded.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			return info.GetReason()
		}
	}
	return CodeName(st.Code())
}

// CodeName is a code as google.rpc.Code names it: INVALID_ARGUMENT.
func CodeName(c codes.Code) string { return rpccode.Code(c).String() }
