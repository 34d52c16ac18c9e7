package apiserver

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
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
// body, ErrorInfo included) under the status HTTPStatus gives.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, statusWriter{ResponseWriter: w, code: HTTPStatus(status.Code(err))}, r, err)
}

// statusWriter replaces the HTTP status the default handler writes.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s statusWriter) WriteHeader(int) { s.ResponseWriter.WriteHeader(s.code) }
