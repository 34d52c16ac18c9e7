// Package service wires the query service: read model, use cases, gRPC
// server and REST gateway.
package service

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
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
	// ReadModel is the store to read (see OpenReadModel). The service does
	// not close it: whoever opened it does, after Shutdown.
	ReadModel readmodel.Reader
	Logger    *slog.Logger
	// DefaultDeadline bounds a call that comes without a deadline
	// (default DefaultDeadline).
	DefaultDeadline time.Duration
	// Queries tunes the use cases (clock, polling of consistency tokens).
	Queries query.Config
}

// Service is a running query service.
type Service struct {
	logger  *slog.Logger
	grpc    *grpc.Server
	health  *health.Server
	http    *http.Server
	gwConn  *grpc.ClientConn
	grpcLis net.Listener
	httpLis net.Listener
	wg      sync.WaitGroup
}

// Start binds both ports and serves.
func Start(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.ReadModel == nil {
		return nil, errors.New("query service: no read model")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DefaultDeadline <= 0 {
		cfg.DefaultDeadline = DefaultDeadline
	}
	s := &Service{logger: cfg.Logger}
	queries := query.New(cfg.ReadModel, cfg.Queries)

	var err error
	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, err
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		_ = s.grpcLis.Close()
		return nil, err
	}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(1<<20),
		grpc.ChainUnaryInterceptor(recoverPanics(s.logger), defaultDeadline(cfg.DefaultDeadline), logCalls(s.logger)),
	)
	loansv1.RegisterLoanQueryServiceServer(s.grpc, ports.NewQueryServer(queries, s.logger))
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
		_ = s.gwConn.Close()
		s.closeListeners()
		return nil, err
	}
	s.http = &http.Server{Handler: gateway, ReadHeaderTimeout: 10 * time.Second}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.grpcLis); err != nil {
			s.logger.Error("query service: gRPC server stopped", "error", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("query service: HTTP server stopped", "error", err)
		}
	}()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(loansv1.LoanQueryService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.logger.Info("query service: serving", "grpc", s.GRPCAddr(), "http", s.HTTPAddr(), "default_deadline", cfg.DefaultDeadline.String())
	return s, nil
}

// GRPCAddr and HTTPAddr are the bound addresses.
func (s *Service) GRPCAddr() string { return s.grpcLis.Addr().String() }
func (s *Service) HTTPAddr() string { return s.httpLis.Addr().String() }

// Shutdown stops taking calls and lets calls in flight finish until ctx
// ends; then it cuts them off.
func (s *Service) Shutdown(ctx context.Context) error {
	s.health.Shutdown()
	httpErr := s.http.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.logger.Warn("query service: calls still running at the shutdown deadline; closing them")
		s.grpc.Stop()
		<-stopped
	}
	s.wg.Wait()
	return errors.Join(httpErr, s.gwConn.Close())
}

func (s *Service) closeListeners() {
	_ = s.grpcLis.Close()
	_ = s.httpLis.Close()
}

// ---- interceptors: applied once, here ----

func recoverPanics(logger *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if p := recover(); p != nil {
				logger.Error("query service: panic in call", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
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
			logger.Debug("query service: call", "method", info.FullMethod, "code", status.Code(err).String(), "duration", time.Since(start))
		}
		return resp, err
	}
}
