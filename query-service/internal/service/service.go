// Package service wires the query service: read model, use cases, gRPC
// server and REST gateway, with every call but health and reflection
// authenticated (platform/auth) before the use cases decide what the caller
// may see (query's policy.go). The service is ready (gRPC health SERVING,
// GET /readyz 200) while its read model answers: the check "readmodel".
//
// Its metrics (ports.Metrics: loans_queries_total and the rest, the
// standard grpc_server_* ones, Go's and the process's, loans_ready) are in
// a registry of its own, served with the probes and pprof on the admin
// listener when Config.AdminAddr is set.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/telemetry"
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
	// AdminAddr, when set, is where the admin listener serves /metrics,
	// /healthz, /readyz and /debug/pprof/ (telemetry.ServeAdmin).
	AdminAddr string
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
	// Queries tunes the use cases (clock, polling of consistency tokens);
	// its ConsistencyWait is set here.
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
	admin *telemetry.Admin // nil: no admin listener
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
	metrics := ports.NewMetrics(api.Service)
	cfg.Queries.ConsistencyWait = metrics.ConsistencyWait
	queries := query.New(cfg.ReadModel, cfg.Queries)
	api.Impl = ports.NewQueryServer(queries, cfg.Logger)
	api.RegisterGateway = loansv1.RegisterLoanQueryServiceHandler
	// The gateway calls through the gRPC server, so REST calls are
	// authenticated, counted and timed here too (the gateway passes
	// Authorization on); counted first, so that the calls authentication
	// refuses count.
	api.UnaryInterceptors = []grpc.UnaryServerInterceptor{metrics.UnaryServerInterceptor(), auth.UnaryServerInterceptor(cfg.Authenticator)}
	api.StreamInterceptors = []grpc.StreamServerInterceptor{auth.StreamServerInterceptor(cfg.Authenticator)}
	if cfg.Health.Logger == nil {
		cfg.Health.Logger = cfg.Logger
	}
	readiness, err := health.Start(cfg.Health, health.Check{Name: "readmodel", Func: queries.CheckReadModel})
	if err != nil {
		return nil, err
	}
	api.Readiness = readiness
	reg := telemetry.NewRegistry()
	if err := register(reg, readiness, metrics.Collectors()...); err != nil {
		readiness.Shutdown()
		return nil, err
	}
	api.Metrics = reg
	srv, err := apiserver.Start(ctx, api)
	if err != nil {
		readiness.Shutdown()
		return nil, err
	}
	svc := &Service{Server: srv}
	if cfg.AdminAddr != "" {
		if svc.admin, err = telemetry.ServeAdmin(cfg.AdminAddr, reg, readiness, cfg.Logger); err != nil {
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return nil, errors.Join(fmt.Errorf("query service: admin listener: %w", err), srv.Shutdown(shutdownCtx))
		}
	}
	cfg.Logger.Info("query service: serving", "grpc", srv.GRPCAddr(), "http", srv.HTTPAddr(), "admin", svc.AdminAddr(),
		"default_deadline", cfg.DefaultDeadline.String(), "ready", readiness.Ready())
	return svc, nil
}

func register(reg *prometheus.Registry, readiness *health.Readiness, collectors ...prometheus.Collector) error {
	if err := telemetry.RegisterReadiness(reg, readiness); err != nil {
		return err
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("query service: register a metric: %w", err)
		}
	}
	return nil
}

// AdminAddr is the admin listener's bound address ("" without one).
func (s *Service) AdminAddr() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.Addr()
}

// Shutdown stops the API (see apiserver.Server.Shutdown), then the admin
// listener, so that /readyz answers 503 while calls drain.
func (s *Service) Shutdown(ctx context.Context) error {
	err := s.Server.Shutdown(ctx)
	if s.admin != nil {
		err = errors.Join(err, s.admin.Shutdown(ctx))
	}
	return err
}
