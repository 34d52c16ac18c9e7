// Package service wires the command service: event store client, use cases,
// process managers, gRPC server and REST gateway.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/command-service/internal/adapters/eventstore"
	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/command-service/internal/ports"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
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
	// CachedStreams is how many recently used streams the service keeps in
	// memory to save reads (0: 100,000; negative: none).
	CachedStreams int
	// ProcessManagers runs the process managers in this process (the
	// default in production; tests turn them off to drive them themselves).
	ProcessManagers bool
}

// Service is a running command service.
type Service struct {
	cfg      Config
	logger   *slog.Logger
	conn     *eventstore.Conn
	commands *command.Commands
	grpc     *grpc.Server
	health   *health.Server
	http     *http.Server
	gwConn   *grpc.ClientConn
	grpcLis  net.Listener
	httpLis  net.Listener
	stopPMs  context.CancelFunc
	wg       sync.WaitGroup
}

// Start connects to the event store, binds both ports and serves.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DefaultDeadline <= 0 {
		cfg.DefaultDeadline = 10 * time.Second
	}
	conn, err := eventstore.Dial(cfg.EventStore, esdbLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, logger: cfg.Logger, conn: conn}
	if cfg.CachedStreams == 0 {
		cfg.CachedStreams = 100_000
	}
	var store command.EventStore = eventstore.New(conn)
	if cfg.CachedStreams > 0 {
		store = eventstore.NewCache(store, cfg.CachedStreams)
	}
	s.commands = command.New(store, command.Config{Limits: cfg.Limits})

	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		_ = conn.Close(ctx)
		return nil, err
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		_ = s.grpcLis.Close()
		_ = conn.Close(ctx)
		return nil, err
	}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(1<<20),
		grpc.ChainUnaryInterceptor(recoverPanics(s.logger), defaultDeadline(cfg.DefaultDeadline), logCalls(s.logger)),
	)
	loansv1.RegisterLoanCommandServiceServer(s.grpc, ports.NewCommandServer(s.commands, s.logger))
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	s.gwConn, err = grpc.NewClient(s.grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.closeListeners()
		return nil, err
	}
	gateway, err := ports.NewGateway(ctx, s.gwConn)
	if err != nil {
		s.closeListeners()
		return nil, err
	}
	s.http = &http.Server{Handler: gateway, ReadHeaderTimeout: 10 * time.Second}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.grpcLis); err != nil {
			s.logger.Error("command service: gRPC server stopped", "error", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("command service: HTTP server stopped", "error", err)
		}
	}()
	pmCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stopPMs = stop
	if cfg.ProcessManagers {
		for _, m := range process.Managers(s.commands, s.logger) {
			runner := eventstore.NewRunner(conn, m, s.logger)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				_ = runner.Run(pmCtx)
			}()
		}
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(loansv1.LoanCommandService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.logger.Info("command service: serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "process_managers", cfg.ProcessManagers)
	return s, nil
}

// GRPCAddr and HTTPAddr are the bound addresses.
func (s *Service) GRPCAddr() string { return s.grpcLis.Addr().String() }
func (s *Service) HTTPAddr() string { return s.httpLis.Addr().String() }

// Commands exposes the use cases (tests drive process managers with them).
func (s *Service) Commands() *command.Commands { return s.commands }

// Shutdown stops taking calls, lets calls in flight finish until ctx ends,
// stops the process managers (saving their checkpoints) and disconnects.
func (s *Service) Shutdown(ctx context.Context) error {
	s.health.Shutdown()
	httpErr := s.http.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	var errs []error
	select {
	case <-stopped:
	case <-ctx.Done():
		s.logger.Warn("command service: calls still running at the shutdown deadline; closing them")
		s.grpc.Stop()
	}
	s.stopPMs()
	// Everything left is bounded by ctx: handlers and process managers see
	// their contexts cancelled, and every event store call they make is
	// bounded by its context.
	finished := make(chan struct{})
	go func() { <-stopped; s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("command service: shutdown deadline passed with work still running: %w", ctx.Err()))
	}
	_ = s.gwConn.Close()
	errs = append(errs, httpErr, s.conn.Close(ctx))
	return errors.Join(errs...)
}

func (s *Service) closeListeners() {
	_ = s.grpcLis.Close()
	_ = s.httpLis.Close()
	_ = s.conn.Close(context.Background())
}

// ---- interceptors: applied once, here ----

func recoverPanics(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.Error("command service: panic in call", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
				err = status.Error(codes.Internal, "internal error")
			}
		}()
		return handler(ctx, req)
	}
}

func defaultDeadline(d time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return handler(ctx, req)
	}
}

func logCalls(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		if logger.Enabled(ctx, slog.LevelDebug) {
			logger.Debug("command service: call", "method", info.FullMethod, "code", status.Code(err).String(), "duration", time.Since(start))
		}
		return resp, err
	}
}

// esdbLogger sends the client's warnings and errors to slog at Warn: the
// client logs as errors what the service handles (a subscription dropped at
// shutdown, a call cancelled by its caller, a server away for a while), and
// the service logs its own real failures itself. Cancellations are Debug;
// the client's debug and info lines (one per call) are dropped.
func esdbLogger(logger *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		if level != esdb.LogError && level != esdb.LogWarn {
			return
		}
		msg := "eventstore client: " + fmt.Sprintf(format, args...)
		if strings.Contains(msg, "context canceled") || strings.Contains(msg, "code = Canceled") ||
			strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "code = DeadlineExceeded") {
			logger.Debug(msg)
			return
		}
		logger.Warn(msg)
	}
}
