package ports

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/query-service/internal/app/query"
)

// ReasonDeadline is given when a call's deadline passes while the store is
// read (a wait for a consistency token ends in READ_MODEL_BEHIND instead).
const ReasonDeadline = "DEADLINE_EXCEEDED"

// codeOfKind is the one table from the queries' error kinds to gRPC codes.
// The REST gateway then maps codes to HTTP statuses (apiserver.HTTPStatus).
var codeOfKind = map[query.Kind]codes.Code{
	query.KindInvalidArgument: codes.InvalidArgument,
	query.KindNotFound:        codes.NotFound,
	query.KindUnavailable:     codes.Unavailable,
	// Authentication itself happens before the queries (platform/auth's
	// interceptors answer UNAUTHENTICATED); a query that still finds no
	// caller refuses the same way.
	query.KindUnauthenticated:  codes.Unauthenticated,
	query.KindPermissionDenied: codes.PermissionDenied,
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
		if qerr.Cause != nil {
			// An outage is an answer too, but operators need its cause.
			logger.WarnContext(ctx, "query: the read model failed", "reason", string(qerr.Reason), "error", qerr.Cause)
		}
		return apiserver.Refusal(code, string(qerr.Reason), qerr.Message, qerr.Metadata)
	case errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return apiserver.Refusal(codes.DeadlineExceeded, ReasonDeadline, "the call's deadline passed before the read model answered; retry", nil)
	}
	logger.ErrorContext(ctx, "query: internal error", "error", err)
	return status.Error(codes.Internal, "internal error")
}
