// Package ports serves the command use cases over gRPC and, through the
// grpc-gateway, REST.
package ports

import (
	"context"
	"log/slog"
	"strings"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/domain"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/telemetry"
)

// HeaderCorrelationID is the request header (gRPC metadata; the gateway
// forwards the HTTP header) of the correlation ID. The trace context comes
// as W3C traceparent, read by the server's OpenTelemetry instrumentation.
// Who the caller is comes only from the verified access token (see
// platform/auth), never from a header: an x-actor header is ignored.
const HeaderCorrelationID = "x-correlation-id"

// CommandServer implements loansv1.LoanCommandServiceServer.
type CommandServer struct {
	loansv1.UnimplementedLoanCommandServiceServer
	commands *command.Commands
	logger   *slog.Logger
}

// NewCommandServer serves the use cases.
func NewCommandServer(c *command.Commands, logger *slog.Logger) *CommandServer {
	return &CommandServer{commands: c, logger: logger}
}

func (s *CommandServer) RequestLoan(ctx context.Context, req *loansv1.RequestLoanRequest) (*loansv1.RequestLoanResponse, error) {
	ctx, id, meta, err := parse(ctx, req.GetLoanApplicationUuid(), req.GetCommandId())
	if err != nil {
		return nil, err
	}
	// The applicant is the caller; naming someone else is refused by the
	// policy (APPLICANT_IS_NOT_CALLER).
	applicant := req.GetApplicant()
	if applicant == "" {
		applicant = meta.Principal.Subject
	}
	r, err := s.commands.RequestLoan(ctx, domain.RequestLoan{ApplicationID: id, Amount: req.GetAmount(), Duration: req.GetDuration(), Applicant: applicant}, meta)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &loansv1.RequestLoanResponse{Result: result(r)}, nil
}

func (s *CommandServer) SubmitLoanRequest(ctx context.Context, req *loansv1.SubmitLoanRequestRequest) (*loansv1.SubmitLoanRequestResponse, error) {
	ctx, id, meta, err := parse(ctx, req.GetLoanApplicationUuid(), req.GetCommandId())
	if err != nil {
		return nil, err
	}
	r, err := s.commands.SubmitLoanRequest(ctx, domain.SubmitLoanRequest{ApplicationID: id}, meta)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &loansv1.SubmitLoanRequestResponse{Result: result(r)}, nil
}

func (s *CommandServer) ApproveLoan(ctx context.Context, req *loansv1.ApproveLoanRequest) (*loansv1.ApproveLoanResponse, error) {
	ctx, id, meta, err := parse(ctx, req.GetLoanApplicationUuid(), req.GetCommandId())
	if err != nil {
		return nil, err
	}
	r, err := s.commands.ApproveLoan(ctx, domain.ApproveLoan{ApplicationID: id}, meta)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &loansv1.ApproveLoanResponse{Result: result(r)}, nil
}

func (s *CommandServer) DenyLoan(ctx context.Context, req *loansv1.DenyLoanRequest) (*loansv1.DenyLoanResponse, error) {
	ctx, id, meta, err := parse(ctx, req.GetLoanApplicationUuid(), req.GetCommandId())
	if err != nil {
		return nil, err
	}
	r, err := s.commands.DenyLoan(ctx, domain.DenyLoan{ApplicationID: id, Reason: req.GetReason()}, meta)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &loansv1.DenyLoanResponse{Result: result(r)}, nil
}

func (s *CommandServer) SignContract(ctx context.Context, req *loansv1.SignContractRequest) (*loansv1.SignContractResponse, error) {
	ctx, id, meta, err := parse(ctx, req.GetLoanApplicationUuid(), req.GetCommandId())
	if err != nil {
		return nil, err
	}
	r, err := s.commands.SignContract(ctx, domain.SignContract{ApplicationID: id}, meta)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &loansv1.SignContractResponse{Result: result(r)}, nil
}

func (s *CommandServer) RejectContract(ctx context.Context, req *loansv1.RejectContractRequest) (*loansv1.RejectContractResponse, error) {
	ctx, id, meta, err := parse(ctx, req.GetLoanApplicationUuid(), req.GetCommandId())
	if err != nil {
		return nil, err
	}
	r, err := s.commands.RejectContract(ctx, domain.RejectContract{ApplicationID: id, Reason: req.GetReason()}, meta)
	if err != nil {
		return nil, toStatus(ctx, s.logger, err)
	}
	return &loansv1.RejectContractResponse{Result: result(r)}, nil
}

// parse reads what every command carries: the application's UUID, the
// command ID (a new one when the client sends none), the verified caller,
// the correlation ID and the trace context (the call's span: its events
// record it, and the projection and the process managers' work join its
// trace). The context it returns carries the correlation ID for the logs.
func parse(ctx context.Context, applicationUUID, commandID string) (context.Context, uuid.UUID, command.Meta, error) {
	id, err := uuid.Parse(applicationUUID)
	if err != nil || id == uuid.Nil {
		return ctx, uuid.Nil, command.Meta{}, refusal(codes.InvalidArgument, ReasonInvalidUUID,
			"loan_application_uuid must be a UUID, got "+quote(applicationUUID))
	}
	principal, ok := auth.FromContext(ctx)
	if !ok {
		// The interceptor authenticates every call; a call that reached this
		// far without a principal is a wiring mistake, and fails closed.
		return ctx, uuid.Nil, command.Meta{}, status.Error(codes.Unauthenticated, "the call carries no verified caller")
	}
	meta := command.Meta{CommandID: uuid.New(), Principal: principal, TraceParent: telemetry.TraceParent(ctx)}
	if commandID != "" {
		if meta.CommandID, err = uuid.Parse(commandID); err != nil || meta.CommandID == uuid.Nil {
			return ctx, uuid.Nil, command.Meta{}, refusal(codes.InvalidArgument, ReasonInvalidCommandID,
				"command_id must be a UUID when given, got "+quote(commandID))
		}
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		meta.CorrelationID = first(md, HeaderCorrelationID)
	}
	correlation := meta.CorrelationID
	if correlation == "" {
		correlation = meta.CommandID.String() // as the events record it
	}
	return telemetry.WithCorrelationID(ctx, correlation), id, meta, nil
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return "\"" + s + "\""
}

func result(r command.Result) *loansv1.CommandResult {
	return &loansv1.CommandResult{
		LoanApplicationUuid: r.ApplicationID.String(),
		CommandId:           r.CommandID.String(),
		Stream:              r.Stream,
		StreamRevision:      r.Revision,
		CommitPosition:      r.Position,
	}
}
