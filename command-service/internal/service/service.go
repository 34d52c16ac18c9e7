// Package service wires the command service: event store connection, use
// cases, process managers, gRPC server and REST gateway, and readiness (not
// ready while the event store does not answer).
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/loanflow/loans/command-service/internal/adapters/eventstore"
	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/command-service/internal/ports"
	amqpport "github.com/loanflow/loans/command-service/internal/ports/amqp"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdblog"
	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/telemetry"
)

// Config configures the service.
type Config struct {
	// GRPCAddr and HTTPAddr are where to listen (port 0: any free port).
	GRPCAddr, HTTPAddr string
	// EventStore is the EventStoreDB connection string.
	EventStore string
	Logger     *slog.Logger
	Limits     domain.Limits
	// DefaultDeadline bounds a call that comes without a deadline.
	DefaultDeadline time.Duration
	// StreamCacheBytes bounds the memory (an estimate) of the recently used
	// streams the service keeps to save reads (0: 64 MiB; negative: none).
	StreamCacheBytes int64
	// ProcessManagers runs the process managers in this process (the
	// default in production; tests turn them off to drive them themselves).
	ProcessManagers bool
	// Authenticator verifies every call's bearer token (an *auth.Verifier
	// in production); required: the service does not serve anonymous calls.
	Authenticator auth.Authenticator
	// Edge holds the API's edge settings (TLS, CORS, deadline cap); its
	// other fields are set here.
	Edge apiserver.Config
	// AMQP, when its URL is set, also takes commands from RabbitMQ; the
	// service, authenticator and logger are the service's own.
	AMQP amqpport.Config
	// Metrics is the process's registry (nil: a new one): the service
	// registers its metrics, the gRPC server's and readiness in it.
	Metrics *prometheus.Registry
	// WithoutMetrics leaves out the service's own metrics and the gRPC
	// server's: only for measuring what they cost (commands-bench).
	WithoutMetrics bool
	// AdminAddr, when set, serves /metrics, the probes and pprof there
	// (platform/telemetry).
	AdminAddr string
	// Health tunes the readiness check of the event store (how often, how
	// long it may take): not ready while the store does not answer.
	Health health.Config
}

// Service is a running command service.
type Service struct {
	*apiserver.Server
	logger   *slog.Logger
	conn     *esdbconn.Conn
	commands *command.Commands
	stopPMs  context.CancelFunc
	pms      sync.WaitGroup
	consumer *amqpport.Consumer // nil without a broker
	admin    *telemetry.Admin   // nil without AdminAddr
}

// Start connects to the event store, binds both ports and serves.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Authenticator == nil {
		return nil, errors.New("command service: an authenticator is required")
	}
	if cfg.DefaultDeadline <= 0 {
		cfg.DefaultDeadline = 10 * time.Second
	}
	if cfg.StreamCacheBytes == 0 {
		cfg.StreamCacheBytes = DefaultStreamCacheBytes
	}
	conn, err := esdbconn.Dial(cfg.EventStore, esdblog.To(cfg.Logger))
	if err != nil {
		return nil, err
	}
	s := &Service{logger: cfg.Logger, conn: conn}
	reg := cfg.Metrics
	if reg == nil {
		reg = telemetry.NewRegistry()
	}
	m, err := newMetrics(reg, cfg.ProcessManagers)
	if err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	var store command.EventStore = eventstore.New(conn)
	if cfg.StreamCacheBytes > 0 {
		store = eventstore.NewCache(store, cfg.StreamCacheBytes)
	}
	var observer command.Observer = m
	if cfg.WithoutMetrics {
		observer = nil
	}
	s.commands = command.New(store, command.Config{Limits: cfg.Limits, Observer: observer})

	api := cfg.Edge
	api.Name = "command service"
	api.GRPCAddr, api.HTTPAddr = cfg.GRPCAddr, cfg.HTTPAddr
	api.Logger = cfg.Logger
	api.DefaultDeadline = cfg.DefaultDeadline
	api.Service = &loansv1.LoanCommandService_ServiceDesc
	commandServer := ports.NewCommandServer(s.commands, s.logger)
	api.Impl = commandServer
	api.RegisterGateway = loansv1.RegisterLoanCommandServiceHandler
	api.GatewayOptions = ports.GatewayOptions()
	api.UnaryInterceptors = []grpc.UnaryServerInterceptor{auth.UnaryServerInterceptor(cfg.Authenticator)}
	api.StreamInterceptors = []grpc.StreamServerInterceptor{auth.StreamServerInterceptor(cfg.Authenticator)}
	if cfg.Health.Logger == nil {
		cfg.Health.Logger = cfg.Logger
	}
	readiness, err := health.Start(cfg.Health, health.Check{Name: "eventstore", Func: conn.Healthy})
	if err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	api.Readiness = readiness
	if !cfg.WithoutMetrics {
		api.Metrics = reg
	}
	if err := telemetry.RegisterReadiness(reg, readiness); err != nil {
		readiness.Shutdown()
		_ = conn.Close(ctx)
		return nil, err
	}
	s.Server, err = apiserver.Start(ctx, api)
	if err != nil {
		readiness.Shutdown()
		_ = conn.Close(ctx)
		return nil, err
	}
	if cfg.AdminAddr != "" {
		if s.admin, err = telemetry.ServeAdmin(cfg.AdminAddr, reg, readiness, cfg.Logger); err != nil {
			_ = s.Server.Shutdown(ctx)
			_ = conn.Close(ctx)
			return nil, fmt.Errorf("admin listener: %w", err)
		}
	}
	if cfg.AMQP.URL != "" {
		// The same handlers as gRPC's, behind the same token check.
		cfg.AMQP.Service, cfg.AMQP.Authenticator, cfg.AMQP.Logger = commandServer, cfg.Authenticator, cfg.Logger
		cfg.AMQP.Observe = m.amqpObserved
		if s.consumer, err = amqpport.Start(cfg.AMQP); err != nil {
			s.shutdownAdmin(ctx)
			_ = s.Server.Shutdown(ctx)
			readiness.Shutdown()
			_ = conn.Close(ctx)
			return nil, err
		}
	}
	pmCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopPMs = stop
	if cfg.ProcessManagers {
		log := eventstore.NewProcessLog(conn)
		var runners []*process.Runner
		for _, pm := range process.Managers(s.commands) {
			runner := process.NewRunner(log, pm, s.logger)
			runners = append(runners, runner)
			s.pms.Go(func() { _ = runner.Run(pmCtx) })
		}
		s.pms.Go(func() { m.watchProcessManagers(pmCtx, conn, runners, 5*time.Second) })
	}
	s.logger.Info("command service: serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "process_managers", cfg.ProcessManagers,
		"ready", readiness.Ready())
	return s, nil
}

// DefaultStreamCacheBytes is the stream cache's bound when none is set.
const DefaultStreamCacheBytes = 64 << 20

// Commands exposes the use cases (tests drive process managers with them).
func (s *Service) Commands() *command.Commands { return s.commands }

// AdminAddr is the admin listener's address ("" without one).
func (s *Service) AdminAddr() string {
	if s.admin == nil {
		return ""
	}
	return s.admin.Addr()
}

func (s *Service) shutdownAdmin(ctx context.Context) error {
	if s.admin == nil {
		return nil
	}
	return s.admin.Shutdown(ctx)
}

// AMQPConnected tells whether the RabbitMQ consumer is consuming (false
// without one).
func (s *Service) AMQPConnected() bool { return s.consumer != nil && s.consumer.Connected() }

// Shutdown stops taking calls and messages, lets those in flight finish
// until ctx ends, stops the process managers (saving their checkpoints) and
// disconnects.
func (s *Service) Shutdown(ctx context.Context) error {
	var consumerErr error
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if s.consumer != nil {
			consumerErr = s.consumer.Shutdown(ctx)
		}
	}()
	serverErr := s.Server.Shutdown(ctx)
	<-stopped
	s.stopPMs()
	// Everything left is bounded by ctx: the process managers see their
	// context cancelled, and every event store call they make is bounded by
	// its context.
	var errs []error
	finished := make(chan struct{})
	go func() { s.pms.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("command service: shutdown deadline passed with process managers still running: %w", ctx.Err()))
	}
	errs = append(errs, serverErr, consumerErr, s.conn.Close(ctx), s.shutdownAdmin(ctx))
	return errors.Join(errs...)
}
