package ports

import (
	"context"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// NewGateway serves the REST routes of proto/loans/v1/loans_http.yaml,
// calling the gRPC service over conn. Refusals come back as JSON
// google.rpc.Status bodies (with their ErrorInfo) under the HTTP status of
// httpStatus.
func NewGateway(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(errorHandler),
		runtime.WithIncomingHeaderMatcher(forwardHeader),
	)
	if err := loansv1.RegisterLoanCommandServiceHandler(ctx, mux, conn); err != nil {
		return nil, err
	}
	return mux, nil
}

// forwardHeader passes the headers the commands read, besides the gateway's
// defaults (which forward Grpc-Metadata-* and permanent HTTP headers).
func forwardHeader(key string) (string, bool) {
	switch k := strings.ToLower(key); k {
	case HeaderActor, HeaderCorrelationID, HeaderTraceParent:
		return k, true
	}
	return runtime.DefaultHeaderMatcher(key)
}

// errorHandler is the gateway's default handler with our status mapping.
func errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, statusWriter{ResponseWriter: w, code: httpStatus(status.Code(err))}, r, err)
}

// statusWriter replaces the HTTP status the default handler writes.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s statusWriter) WriteHeader(int) { s.ResponseWriter.WriteHeader(s.code) }
