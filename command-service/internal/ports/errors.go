package ports

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/platform/apiserver"
)

// Reasons the ports themselves give (the domain's are in package domain).
const (
	ReasonInvalidUUID         = "LOAN_APPLICATION_UUID_INVALID"
	ReasonInvalidCommandID    = "COMMAND_ID_INVALID"
	ReasonConcurrencyConflict = "CONCURRENCY_CONFLICT"
	ReasonUnavailable         = "EVENT_STORE_UNAVAILABLE"
	ReasonDeadline            = "DEADLINE_EXCEEDED"
	ReasonCommandIDReused     = "COMMAND_ID_REUSED"
)

// codeOfKind is the one table from the domain's error kinds to gRPC codes.
// The REST gateway then maps codes to HTTP statuses (apiserver.HTTPStatus).
var codeOfKind = map[domain.Kind]codes.Code{
	domain.KindInvalidArgument:    codes.InvalidArgument,
	domain.KindFailedPrecondition: codes.FailedPrecondition,
	domain.KindAlreadyExists:      codes.AlreadyExists,
	domain.KindNotFound:           codes.NotFound,
}

// toStatus turns any error of the use cases into the status a client gets.
// Only unexpected errors are logged: refusals are answers, not failures.
func toStatus(ctx context.Context, logger *slog.Logger, err error) error {
	var (
		derr   *domain.Error
		access *command.AccessError
	)
	switch {
	case errors.As(err, &access):
		if access.Unauthenticated {
			return refusal(codes.Unauthenticated, access.Reason, access.Message)
		}
		return apiserver.Refusal(codes.PermissionDenied, access.Reason, access.Message, access.Metadata)
	case errors.Is(err, command.ErrCommandIDReused):
		return refusal(codes.FailedPrecondition, ReasonCommandIDReused, err.Error()+": send a new command_id for a new command")
	case errors.As(err, &derr):
		code, ok := codeOfKind[derr.Kind]
		if !ok {
			code = codes.InvalidArgument
		}
		return refusal(code, string(derr.Reason), derr.Message)
	case errors.Is(err, command.ErrRetriesExhausted):
		return refusal(codes.Aborted, ReasonConcurrencyConflict, err.Error())
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return refusal(codes.DeadlineExceeded, ReasonDeadline, "the command's deadline passed before it was decided; it may still have been applied: retry with the same command_id")
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) || status.Code(err) == codes.Canceled:
		return status.Error(codes.Canceled, "the call was cancelled")
	}
	if errors.Is(err, command.ErrStoreUnavailable) {
		logger.Warn("command: event store unavailable", "error", err)
		return refusal(codes.Unavailable, ReasonUnavailable, "the event store is unavailable; retry with the same command_id")
	}
	logger.Error("command: internal error", "error", err)
	return status.Error(codes.Internal, "internal error")
}

// refusal builds a status with a google.rpc.ErrorInfo.
func refusal(code codes.Code, reason, message string) error {
	return apiserver.Refusal(code, reason, message, nil)
}

// Outcomes of a command, as the metrics count them.
const (
	OutcomeOK      = "ok"
	OutcomeRefused = "refused" // the rules, the caller's rights or input: the reason says which
	OutcomeError   = "error"   // ours or a dependency's (the event store away, a deadline, a bug)
)

// Outcome sorts a use case's result as toStatus answers it: ok, refused or
// error, with its stable reason (AMOUNT_IS_TOO_LOW, EVENT_STORE_UNAVAILABLE;
// "" when ok).
func Outcome(err error) (outcome, reason string) {
	if err == nil {
		return OutcomeOK, ""
	}
	st := toStatus(context.Background(), discard, err)
	switch status.Code(st) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.AlreadyExists,
		codes.PermissionDenied, codes.Unauthenticated, codes.OutOfRange:
		return OutcomeRefused, apiserver.Reason(st)
	}
	return OutcomeError, apiserver.Reason(st)
}

// discard drops the logs of Outcome's classification: the port that
// answered the call has logged it already.
var discard = slog.New(slog.DiscardHandler)
