// Package service wires the query service: read model, use cases, gRPC
// server and REST gateway, with every call but health and reflection
// authenticated (platform/auth) before the use cases decide what the caller
// may see (query's policy.go). The service is ready (gRPC health SERVING,
// GET /readyz 200) while its read model answers: the check "readmodel".
package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/app/query"
	"github.com/loanflow/loans/query-service/internal/ports"
)

// DefaultDeadline bounds a call that comes without a deadline, unless
// Config says otherwise. A wait for a consistency token ends with it.
const DefaultDeadline = 5 * time.Second

// Config configures the service.
type Config struct {
	// GRPCAddr and HTTPAddr are where to listen (port 0: any free port).
	GRPCAddr, HTTPAddr string
	// ReadModel is the store to read (see storeurl.Open). The service does
	// not close it: whoever opened it does, after Shutdown.
	ReadModel readmodel.Reader
	// Authenticator verifies the bearer token of every call (an
	// *auth.Verifier in production). Required: the read model holds who
	// applied for what, so the service never serves anonymous callers.
	Authenticator auth.Authenticator
	Logger        *slog.Logger
	// DefaultDeadline bounds a call that comes without a deadline
	// (default DefaultDeadline).
	DefaultDeadline time.Duration
	// Queries tunes the use cases (clock, polling of consistency tokens).
	Queries query.Config
	// Health tunes the readiness check of the read model (how often, how
	// long it may take); its Logger defaults to Logger.
	Health health.Config
	// Edge holds the API's edge settings (TLS, CORS, deadline cap); its
	// other fields are set here.
	Edge apiserver.Config
}

// Service is a running query service.
type Service struct {
	*apiserver.Server
}

// Start binds both ports and serves.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.ReadModel == nil {
		return nil, errors.New("query service: no read model")
	}
	if cfg.Authenticator == nil {
		return nil, errors.New("query service: no authenticator: every query needs a verified caller")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DefaultDeadline <= 0 {
		cfg.DefaultDeadline = DefaultDeadline
	}
	api := cfg.Edge
	api.Name = "query service"
	api.GRPCAddr, api.HTTPAddr = cfg.GRPCAddr, cfg.HTTPAddr
	api.Logger = cfg.Logger
	api.DefaultDeadline = cfg.DefaultDeadline
	api.Service = &loansv1.LoanQueryService_ServiceDesc
	queries := query.New(cfg.ReadModel, cfg.Queries)
	api.Impl = ports.NewQueryServer(queries, cfg.Logger)
	api.RegisterGateway = loansv1.RegisterLoanQueryServiceHandler
	// The gateway calls through the gRPC server, so REST calls are
	// authenticated here too (the gateway passes Authorization on).
	api.UnaryInterceptors = []grpc.UnaryServerInterceptor{auth.UnaryServerInterceptor(cfg.Authenticator)}
	api.StreamInterceptors = []grpc.StreamServerInterceptor{auth.StreamServerInterceptor(cfg.Authenticator)}
	if cfg.Health.Logger == nil {
		cfg.Health.Logger = cfg.Logger
	}
	readiness, err := health.Start(cfg.Health, health.Check{Name: "readmodel", Func: queries.CheckReadModel})
	if err != nil {
		return nil, err
	}
	api.Readiness = readiness
	srv, err := apiserver.Start(ctx, api)
	if err != nil {
		readiness.Shutdown()
		return nil, err
	}
	cfg.Logger.Info("query service: serving", "grpc", srv.GRPCAddr(), "http", srv.HTTPAddr(), "default_deadline", cfg.DefaultDeadline.String(),
		"ready", readiness.Ready())
	return &Service{Server: srv}, nil
}
