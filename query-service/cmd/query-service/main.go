// Command query-service serves the loan queries over gRPC and REST from the
// read model the projector keeps (SQLite, the embedded default, or MongoDB).
//
//	query-service -grpc-addr 127.0.0.1:8083 -http-addr 127.0.0.1:8082 -readmodel sqlite:.data/readmodel.db \
//	    -oidc-issuer-url https://id.example.com/realms/loans -oidc-audience loans-api
//	OIDC_ISSUER_URL=https://id.example.com/realms/loans OIDC_AUDIENCE=loans-api \
//	    query-service -readmodel 'mongodb://mongo1,mongo2,mongo3/loans?replicaSet=rs0'
//
// Every call but health and reflection needs an OpenID Connect access token
// from that issuer, meant for that audience ("authorization: Bearer
// <token>"); the token's roles (-oidc-roles-claim) decide what the caller
// may read (the policy in internal/app/query). The probes need none: gRPC
// health, and GET /healthz (alive) and /readyz (200 while the read model
// answers, else 503) on the REST port. Without an issuer and an
// audience the service does not start. Every flag may also come from the
// environment variable in its usage text.
//
// With -admin-addr (QUERY_ADMIN_ADDR) an admin listener serves the metrics
// (/metrics, Prometheus), the probes again and pprof; bind it where only
// the monitoring network reaches. Traces go over OTLP when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard OTEL_* variables), and
// every log line of a call carries its trace_id.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/envflag"
	"github.com/loanflow/loans/platform/readmodel/storeurl"
	"github.com/loanflow/loans/platform/telemetry"
	"github.com/loanflow/loans/query-service/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "query-service:", err)
		os.Exit(1)
	}
}

// envVars are the flags that environment variables may set (with
// auth.EnvVars, for the token verifier's).
var envVars = map[string]string{
	"grpc-addr":        "QUERY_GRPC_ADDR",
	"http-addr":        "QUERY_HTTP_ADDR",
	"admin-addr":       "QUERY_ADMIN_ADDR",
	"readmodel":        "READMODEL_URL",
	"default-deadline": "QUERY_DEFAULT_DEADLINE",
	"log-level":        "LOG_LEVEL",
}

// run serves until ctx ends (SIGTERM), then shuts down within
// -shutdown-timeout.
func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("query-service", flag.ContinueOnError)
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:8083", "gRPC listen address (QUERY_GRPC_ADDR)")
	httpAddr := fs.String("http-addr", "127.0.0.1:8082", "REST gateway listen address (QUERY_HTTP_ADDR)")
	adminAddr := fs.String("admin-addr", "", "admin listen address: /metrics, /healthz, /readyz and /debug/pprof/, without authentication; empty: none (QUERY_ADMIN_ADDR)")
	readModel := fs.String("readmodel", storeurl.Default,
		"read model: sqlite:PATH (embedded, one machine) or a mongodb:// URI (READMODEL_URL)")
	deadline := fs.Duration("default-deadline", service.DefaultDeadline,
		"deadline of calls that come without one, which also bounds a wait for a consistency token (QUERY_DEFAULT_DEADLINE)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long calls in flight may finish on SIGTERM")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (LOG_LEVEL)")
	authFlags := auth.RegisterFlags(fs)
	edge := apiserver.RegisterFlags(fs)
	if err := envflag.Parse(fs, args, envflag.Merge(envVars, auth.EnvVars, apiserver.EnvVars)); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h: the usage was the answer
			return nil
		}
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	if *deadline <= 0 {
		return fmt.Errorf("-default-deadline %s must be positive", *deadline)
	}
	authConfig := authFlags.Config()
	verifier, err := auth.NewVerifier(authConfig)
	if err != nil {
		return err
	}
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))).With("service", "query-service")
	logger.Info("query service: accepting access tokens", "issuer", authConfig.IssuerURL, "audience", authConfig.Audience,
		"roles_claim", authConfig.RolesClaim)

	tracing, err := telemetry.SetupTracing(ctx, telemetry.TracingConfig{ServiceName: "query-service"})
	if err != nil {
		return err
	}
	defer func() {
		// The spans still buffered, if the collector takes them soon.
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(flushCtx); err != nil {
			logger.Warn("query service: flushing the traces", "error", err)
		}
	}()
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	store, err := storeurl.Open(openCtx, *readModel)
	cancel()
	if err != nil {
		return err
	}
	defer store.Close()
	cfg := service.Config{
		GRPCAddr: *grpcAddr, HTTPAddr: *httpAddr, AdminAddr: *adminAddr, ReadModel: store, Authenticator: verifier,
		Logger: logger, DefaultDeadline: *deadline,
	}
	edge.Apply(&cfg.Edge)
	svc, err := service.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("query service: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := svc.Shutdown(shutdownCtx); err != nil {
		return err
	}
	logger.Info("query service: stopped")
	return nil
}
