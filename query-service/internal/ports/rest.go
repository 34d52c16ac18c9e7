package ports

import (
	"context"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// NewGateway serves the query routes of proto/loans/v1/loans_http.yaml,
// calling the gRPC service over conn. Refusals come back as JSON
// google.rpc.Status bodies (with their ErrorInfo) under the HTTP status of
// httpStatus. A client bounds a call with the Grpc-Timeout header (for
// example "500m"); without it the service's default deadline applies.
func NewGateway(ctx context.Context, conn *grpc.ClientConn) (http.Handler, error) {
	mux := runtime.NewServeMux(runtime.WithErrorHandler(errorHandler))
	if err := loansv1.RegisterLoanQueryServiceHandler(ctx, mux, conn); err != nil {
		return nil, err
	}
	return mux, nil
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
