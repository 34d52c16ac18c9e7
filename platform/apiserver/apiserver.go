// Package apiserver serves one gRPC API and its REST gateway, the same way
// for every service: health and reflection, a size limit, a default deadline
// for calls that come without one, panics turned into Internal, debug logs of
// each call, refusals mapped to HTTP statuses, and a bounded graceful stop.
package apiserver

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
)

// MaxRecvMsgSize is the largest request a server takes (commands and
// queries are small; anything bigger is a mistake or an attack).
const MaxRecvMsgSize = 1 << 20

// Config describes one API.
type Config struct {
	// Name prefixes log messages ("command service").
	Name string
	// GRPCAddr and HTTPAddr are where to listen (port 0: any free port).
	GRPCAddr, HTTPAddr string
	Logger             *slog.Logger
	// DefaultDeadline bounds a call that comes without a deadline.
	DefaultDeadline time.Duration
	// Service is the gRPC service (its ServiceDesc and implementation):
	// health reports it SERVING once the server listens.
	Service *grpc.ServiceDesc
	Impl    any
	// RegisterGateway registers the service's REST routes on mux, calling the
	// gRPC server through conn (the generated Register…Handler).
	RegisterGateway func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
	// GatewayOptions are more options for the gateway's mux (header
	// matchers, say); the error handler is set here.
	GatewayOptions []runtime.ServeMuxOption
	// UnaryInterceptors and StreamInterceptors run after the built-in ones
	// (panics, default deadline, call log), before the service: the
	// authentication of platform/auth, say.
	UnaryInterceptors  []grpc.UnaryServerInterceptor
	StreamInterceptors []grpc.StreamServerInterceptor
}

// Server is one API being served.
type Server struct {
	name    string
	logger  *slog.Logger
	grpc    *grpc.Server
	health  *health.Server
	http    *http.Server
	gwConn  *grpc.ClientConn
	grpcLis net.Listener
	httpLis net.Listener
	wg      sync.WaitGroup
}

// Start binds both ports and serves until Shutdown.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Service == nil || cfg.Impl == nil || cfg.RegisterGateway == nil {
		return nil, errors.New("apiserver: Service, Impl and RegisterGateway are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.DefaultDeadline <= 0 {
		return nil, errors.New("apiserver: DefaultDeadline must be positive")
	}
	s := &Server{name: cfg.Name, logger: cfg.Logger}
	var err error
	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, err
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		_ = s.grpcLis.Close()
		return nil, err
	}
	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{s.recoverPanics, defaultDeadline(cfg.DefaultDeadline), s.logCalls},
			cfg.UnaryInterceptors...)...),
		grpc.ChainStreamInterceptor(cfg.StreamInterceptors...),
	)
	s.grpc.RegisterService(cfg.Service, cfg.Impl)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	// The gateway calls the gRPC server over loopback, so REST calls pass
	// the same interceptors.
	s.gwConn, err = grpc.NewClient(s.grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.closeListeners()
		return nil, err
	}
	mux := runtime.NewServeMux(append([]runtime.ServeMuxOption{runtime.WithErrorHandler(errorHandler)}, cfg.GatewayOptions...)...)
	if err := cfg.RegisterGateway(ctx, mux, s.gwConn); err != nil {
		_ = s.gwConn.Close()
		s.closeListeners()
		return nil, err
	}
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.grpcLis); err != nil {
			s.logger.Error(s.name+": gRPC server stopped", "error", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error(s.name+": HTTP server stopped", "error", err)
		}
	}()
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(cfg.Service.ServiceName, healthpb.HealthCheckResponse_SERVING)
	return s, nil
}

// GRPCAddr and HTTPAddr are the bound addresses.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// Shutdown reports NOT_SERVING, stops taking calls and lets calls in flight
// finish until ctx ends; then it cuts them off (their contexts are
// cancelled). It returns once both servers have stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.Shutdown()
	httpErr := s.http.Shutdown(ctx)
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		s.logger.Warn(s.name + ": calls still running at the shutdown deadline; closing them")
		s.grpc.Stop()
		<-stopped
	}
	s.wg.Wait()
	return errors.Join(httpErr, s.gwConn.Close())
}

func (s *Server) closeListeners() {
	_ = s.grpcLis.Close()
	_ = s.httpLis.Close()
}

// ---- interceptors ----

func (s *Server) recoverPanics(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.logger.Error(s.name+": panic in call", "method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	return handler(ctx, req)
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

func (s *Server) logCalls(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := handler(ctx, req)
	if s.logger.Enabled(ctx, slog.LevelDebug) {
		s.logger.Debug(s.name+": call", "method", info.FullMethod, "code", status.Code(err).String(), "duration", time.Since(start))
	}
	return resp, err
}
