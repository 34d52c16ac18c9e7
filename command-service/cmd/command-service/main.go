// Command command-service serves the loan commands over gRPC and REST and
// runs the process managers, on EventStoreDB (or the embedded store).
//
//	command-service -grpc-addr 127.0.0.1:8081 -http-addr 127.0.0.1:8080 -eventstore 'esdb://127.0.0.1:2113?tls=false'
//
// Every flag may also come from the environment variable in its usage text.
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

	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/command-service/internal/service"
	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/envflag"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "command-service:", err)
		os.Exit(1)
	}
}

// envVars are the flags that environment variables may set.
var envVars = map[string]string{
	"grpc-addr":        "COMMAND_GRPC_ADDR",
	"http-addr":        "COMMAND_HTTP_ADDR",
	"eventstore":       "EVENTSTORE_URL",
	"max-amount":       "LOAN_MAX_AMOUNT",
	"max-duration":     "LOAN_MAX_DURATION",
	"process-managers": "COMMAND_PROCESS_MANAGERS",
	"log-level":        "LOG_LEVEL",
}

func run(args []string) error {
	limits := domain.DefaultLimits()
	fs := flag.NewFlagSet("command-service", flag.ContinueOnError)
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:8081", "gRPC listen address (COMMAND_GRPC_ADDR)")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "REST gateway listen address (COMMAND_HTTP_ADDR)")
	eventStore := fs.String("eventstore", "esdb://127.0.0.1:2113?tls=false", "EventStoreDB connection string (EVENTSTORE_URL)")
	maxAmount := fs.Int64("max-amount", limits.MaxAmount, "largest amount a loan may ask for (LOAN_MAX_AMOUNT)")
	maxDuration := fs.Int64("max-duration", int64(limits.MaxDuration), "longest duration in months (LOAN_MAX_DURATION)")
	processManagers := fs.Bool("process-managers", true, "run the process managers in this process (COMMAND_PROCESS_MANAGERS)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long calls in flight may finish on SIGTERM")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (LOG_LEVEL)")
	oidc := auth.RegisterFlags(fs)
	edge := apiserver.RegisterFlags(fs)
	if err := envflag.Parse(fs, args, envflag.Merge(envVars, auth.EnvVars, apiserver.EnvVars)); err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(oidc.Config())
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	if *maxDuration <= 0 || *maxDuration > 1<<31-1 {
		return fmt.Errorf("-max-duration %d is out of range", *maxDuration)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})).With("service", "command-service")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg := service.Config{
		GRPCAddr: *grpcAddr, HTTPAddr: *httpAddr, EventStore: *eventStore, Logger: logger,
		Limits:          domain.Limits{MaxAmount: *maxAmount, MaxDuration: int32(*maxDuration)},
		ProcessManagers: *processManagers,
		Authenticator:   verifier,
	}
	edge.Apply(&cfg.Edge)
	svc, err := service.Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("command service: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := svc.Shutdown(shutdownCtx); err != nil {
		return err
	}
	logger.Info("command service: stopped")
	return nil
}
