package ports

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/query-service/internal/app/query"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every refusal.
const ErrorDomain = "loans.v1"

// ReasonDeadline is given when a call's deadline passes while the store is
// read (a wait for a consistency token ends in READ_MODEL_BEHIND instead).
const ReasonDeadline = "DEADLINE_EXCEEDED"

// codeOfKind is the one table from the queries' error kinds to gRPC codes.
// The REST gateway then maps codes to HTTP statuses (httpStatus).
var codeOfKind = map[query.Kind]codes.Code{
	query.KindInvalidArgument: codes.InvalidArgument,
	query.KindNotFound:        codes.NotFound,
	query.KindUnavailable:     codes.Unavailable,
}

// toStatus turns any error of the queries into the status a client gets.
// Only unexpected errors are logged: refusals are answers, not failures.
func toStatus(ctx context.Context, logger *slog.Logger, err error) error {
	var qerr *query.Error
	switch {
	case errors.As(err, &qerr):
		code, ok := codeOfKind[qerr.Kind]
		if !ok {
			code = codes.InvalidArgument
		}
		return refusal(code, string(qerr.Reason), qerr.Message, qerr.Metadata)
	case errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return refusal(codes.DeadlineExceeded, ReasonDeadline, "the call's deadline passed before the read model answered; retry", nil)
	}
	logger.Error("query: internal error", "error", err)
	return status.Error(codes.Internal, "internal error")
}

// refusal builds a status with a google.rpc.ErrorInfo.
func refusal(code codes.Code, reason, message string, metadata map[string]string) error {
	st, err := status.New(code, message).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: metadata})
	if err != nil {
		return status.Error(code, message)
	}
	return st.Err()
}

// httpStatus maps gRPC codes to HTTP statuses for the REST gateway, as the
// command service does: grpc-gateway's defaults, with FailedPrecondition and
// Aborted as conflicts (409).
func httpStatus(code codes.Code) int {
	switch code {
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
		return 499
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
