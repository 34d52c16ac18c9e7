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
package main

import (
	"context"
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
	"github.com/loanflow/loans/query-service/internal/service"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "query-service:", err)
		os.Exit(1)
	}
}

// envVars are the flags that environment variables may set (with
// auth.EnvVars, for the token verifier's).
var envVars = map[string]string{
	"grpc-addr":        "QUERY_GRPC_ADDR",
	"http-addr":        "QUERY_HTTP_ADDR",
	"readmodel":        "READMODEL_URL",
	"default-deadline": "QUERY_DEFAULT_DEADLINE",
	"log-level":        "LOG_LEVEL",
}

func run(args []string) error {
	fs := flag.NewFlagSet("query-service", flag.ContinueOnError)
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:8083", "gRPC listen address (QUERY_GRPC_ADDR)")
	httpAddr := fs.String("http-addr", "127.0.0.1:8082", "REST gateway listen address (QUERY_HTTP_ADDR)")
	readModel := fs.String("readmodel", storeurl.Default,
		"read model: sqlite:PATH (embedded, one machine) or a mongodb:// URI (READMODEL_URL)")
	deadline := fs.Duration("default-deadline", service.DefaultDeadline,
		"deadline of calls that come without one, which also bounds a wait for a consistency token (QUERY_DEFAULT_DEADLINE)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long calls in flight may finish on SIGTERM")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (LOG_LEVEL)")
	authFlags := auth.RegisterFlags(fs)
	edge := apiserver.RegisterFlags(fs)
	if err := envflag.Parse(fs, args, envflag.Merge(envVars, auth.EnvVars, apiserver.EnvVars)); err != nil {
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
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("service", "query-service")
	logger.Info("query service: accepting access tokens", "issuer", authConfig.IssuerURL, "audience", authConfig.Audience,
		"roles_claim", authConfig.RolesClaim)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	openCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	store, err := storeurl.Open(openCtx, *readModel)
	cancel()
	if err != nil {
		return err
	}
	defer store.Close()
	cfg := service.Config{
		GRPCAddr: *grpcAddr, HTTPAddr: *httpAddr, ReadModel: store, Authenticator: verifier,
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
