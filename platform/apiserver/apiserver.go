// Package apiserver serves one gRPC API and its REST gateway, the same way
// for every service:
//
//   - health: the gRPC health service (grpc.health.v1) and, on the REST
//     listener, GET /healthz (liveness) and /readyz (readiness), both
//     following Config.Readiness, without a token;
//   - reflection;
//   - a size limit: gRPC messages over MaxRecvMsgSize are refused
//     (ResourceExhausted), REST bodies over MaxBodyBytes answer 413
//     (REQUEST_TOO_LARGE) before anything reaches the service;
//   - deadlines: a unary call without one gets DefaultDeadline, one further
//     away than MaxDeadline is cut down to it;
//   - panics turned into Internal, debug logs of each call;
//   - refusals mapped to HTTP statuses (HTTPStatus), 405 with Allow for a
//     known route called with the wrong method, a Bearer challenge on 401;
//   - CORS for the origins configured, none otherwise;
//   - optional TLS on both listeners;
//   - a bounded graceful stop.
//
// RegisterFlags offers the deployment settings as flags and environment
// variables.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/platform/health"
)

// MaxRecvMsgSize is the largest request a server takes (commands and
// queries are small; anything bigger is a mistake or an attack).
const MaxRecvMsgSize = 1 << 20

// DefaultMaxDeadline is Config.MaxDeadline when it is left zero.
const DefaultMaxDeadline = 30 * time.Second

// Config describes one API.
type Config struct {
	// Name prefixes log messages ("command service").
	Name string
	// GRPCAddr and HTTPAddr are where to listen (port 0: any free port).
	GRPCAddr, HTTPAddr string
	Logger             *slog.Logger
	// DefaultDeadline bounds a call that comes without a deadline; it may
	// not exceed MaxDeadline.
	DefaultDeadline time.Duration
	// MaxDeadline bounds every call, whatever deadline the client asked for
	// (default DefaultMaxDeadline).
	MaxDeadline time.Duration
	// MaxBodyBytes bounds a REST request's body (default MaxRecvMsgSize).
	MaxBodyBytes int64
	// CORSAllowedOrigins are the browser origins (scheme://host[:port], as
	// "http://localhost:5173") allowed to call the REST gateway; none: no
	// CORS headers at all. Tokens travel in the Authorization header, so
	// credentials (cookies) are never allowed.
	CORSAllowedOrigins []string
	// TLSCertFile and TLSKeyFile (PEM), both or neither, make both listeners
	// serve TLS.
	TLSCertFile, TLSKeyFile string
	// Service is the gRPC service (its ServiceDesc and implementation):
	// health reports it, and "", as Readiness says once the server listens.
	Service *grpc.ServiceDesc
	Impl    any
	// RegisterGateway registers the service's REST routes on mux, calling the
	// gRPC server through conn (the generated Register…Handler).
	RegisterGateway func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
	// GatewayOptions are more options for the gateway's mux (header
	// matchers, say); the error handlers are set here.
	GatewayOptions []runtime.ServeMuxOption
	// UnaryInterceptors and StreamInterceptors run after the built-in ones
	// (panics, deadlines, call log), before the service: the
	// authentication of platform/auth, say.
	UnaryInterceptors  []grpc.UnaryServerInterceptor
	StreamInterceptors []grpc.StreamServerInterceptor
	// Metrics, when set, receives the standard gRPC server metrics
	// (grpc_server_handled_total, grpc_server_handling_seconds and the
	// rest, from grpc-ecosystem's middleware), every method of Service
	// initialised at zero.
	Metrics prometheus.Registerer
	// Readiness is what the gRPC health service and GET /readyz report:
	// SERVING and 200 while it is ready, NOT_SERVING and 503 otherwise, from
	// the same source at every moment. Shutdown starts by calling its
	// Shutdown. Nil: ready from Start until Shutdown.
	Readiness *health.Readiness
}

// Server is one API being served.
type Server struct {
	name    string
	logger  *slog.Logger
	grpc    *grpc.Server
	health  *healthService
	ready   *health.Readiness
	http    *http.Server
	gwConn  *grpc.ClientConn
	grpcLis net.Listener
	httpLis net.Listener
	wg      sync.WaitGroup
	// stopOnce lets Shutdown be called again.
	stopOnce sync.Once
}

// Start binds both ports and serves until Shutdown.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{name: cfg.Name, logger: cfg.Logger, ready: cfg.Readiness}
	if s.ready == nil {
		if s.ready, err = health.Start(health.Config{Logger: cfg.Logger}); err != nil {
			return nil, err
		}
	}
	unary := []grpc.UnaryServerInterceptor{s.recoverPanics, boundDeadline(cfg.DefaultDeadline, cfg.MaxDeadline), s.logCalls}
	var stream []grpc.StreamServerInterceptor
	var serverMetrics *grpcprom.ServerMetrics
	if cfg.Metrics != nil {
		serverMetrics = grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30})))
		if err := cfg.Metrics.Register(serverMetrics); err != nil {
			return nil, fmt.Errorf("apiserver: register the gRPC metrics: %w", err)
		}
		// Outermost: a call refused by a later interceptor is counted too.
		unary = append([]grpc.UnaryServerInterceptor{serverMetrics.UnaryServerInterceptor()}, unary...)
		stream = append(stream, serverMetrics.StreamServerInterceptor())
	}
	grpcOpts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxRecvMsgSize),
		// A server span per call, continuing the caller's trace (W3C
		// traceparent); nothing is recorded while tracing is off.
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithFilter(traced))),
		grpc.ChainUnaryInterceptor(append(unary, cfg.UnaryInterceptors...)...),
		grpc.ChainStreamInterceptor(append(stream, cfg.StreamInterceptors...)...),
	}
	gwCreds := insecure.NewCredentials()
	var httpTLS *tls.Config
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("apiserver: TLS key pair %s, %s: %w", cfg.TLSCertFile, cfg.TLSKeyFile, err)
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(serverTLS(cert))))
		httpTLS = serverTLS(cert)
		gwCreds = credentials.NewTLS(pinnedTLS(cert))
	}

	if s.grpcLis, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return nil, err
	}
	if s.httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		_ = s.grpcLis.Close()
		return nil, err
	}
	s.grpc = grpc.NewServer(grpcOpts...)
	s.grpc.RegisterService(cfg.Service, cfg.Impl)
	if serverMetrics != nil {
		serverMetrics.InitializeMetrics(s.grpc)
	}
	s.health = &healthService{ready: s.ready, names: map[string]bool{"": true, cfg.Service.ServiceName: true}, stopping: make(chan struct{})}
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	// The gateway calls the gRPC server over loopback, so REST calls pass
	// the same interceptors.
	s.gwConn, err = grpc.NewClient(s.grpcLis.Addr().String(), grpc.WithTransportCredentials(gwCreds),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		s.closeListeners()
		return nil, err
	}
	handler, err := gateway(ctx, cfg, s.gwConn)
	if err != nil {
		_ = s.gwConn.Close()
		s.closeListeners()
		return nil, err
	}
	// The probes are answered before the gateway, so they need no token,
	// no CORS and no call through gRPC.
	// A REST call is a server span of its own, and its gRPC call through the
	// gateway a child of it.
	tracedHandler := otelhttp.NewHandler(handler, cfg.Name, otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
		return r.Method + " " + r.URL.Path
	}))
	s.http = &http.Server{Handler: s.ready.Handler(tracedHandler), ReadHeaderTimeout: 10 * time.Second, TLSConfig: httpTLS}

	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.grpcLis); err != nil {
			s.logger.Error(s.name+": gRPC server stopped", "error", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		serve := s.http.Serve
		if httpTLS != nil {
			serve = func(l net.Listener) error { return s.http.ServeTLS(l, "", "") }
		}
		if err := serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error(s.name+": HTTP server stopped", "error", err)
		}
	}()
	return s, nil
}

// traced leaves the health checks out of the traces: probes every few
// seconds would bury the calls that matter.
func traced(info *stats.RPCTagInfo) bool {
	return !strings.HasPrefix(info.FullMethodName, "/grpc.health.v1.Health/")
}

// withDefaults refuses a Config that cannot be served as meant, before any
// port is bound, and fills in the defaults.
func withDefaults(cfg Config) (Config, error) {
	if cfg.Service == nil || cfg.Impl == nil || cfg.RegisterGateway == nil {
		return cfg, errors.New("apiserver: Service, Impl and RegisterGateway are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxDeadline == 0 {
		cfg.MaxDeadline = DefaultMaxDeadline
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = MaxRecvMsgSize
	}
	switch {
	case cfg.DefaultDeadline <= 0:
		return cfg, errors.New("apiserver: DefaultDeadline must be positive")
	case cfg.DefaultDeadline > cfg.MaxDeadline:
		return cfg, fmt.Errorf("apiserver: DefaultDeadline %v is longer than MaxDeadline %v", cfg.DefaultDeadline, cfg.MaxDeadline)
	case cfg.MaxBodyBytes < 0:
		return cfg, fmt.Errorf("apiserver: MaxBodyBytes %d is negative", cfg.MaxBodyBytes)
	case (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == ""):
		return cfg, errors.New("apiserver: TLSCertFile and TLSKeyFile go together; only one is set")
	}
	return cfg, checkOrigins(cfg.CORSAllowedOrigins)
}

// GRPCAddr and HTTPAddr are the bound addresses.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// Shutdown reports not ready (Config.Readiness's Shutdown: NOT_SERVING;
// health Watch streams are sent it and end), stops taking calls and lets
// calls in flight finish until ctx ends; then it cuts them off (their
// contexts are cancelled). It returns once both servers have stopped.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Shutdown()
	s.stopOnce.Do(func() { close(s.health.stopping) })
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

// boundDeadline gives a call without a deadline def and cuts one further
// away than maxDeadline down to it, so that no client holds a call (a long
// wait for a consistency token, say) open as long as it likes. Streams are
// left alone: health Watch and reflection streams live as long as their
// client.
func boundDeadline(def, maxDeadline time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if d, ok := ctx.Deadline(); !ok || time.Until(d) > maxDeadline {
			limit := maxDeadline
			if !ok {
				limit = def
			}
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, limit)
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
