// Command command-service serves the loan commands over gRPC and REST and
// runs the process managers, on EventStoreDB (or the embedded store).
//
//	command-service -grpc-addr 127.0.0.1:8081 -http-addr 127.0.0.1:8080 -eventstore 'esdb://127.0.0.1:2113?tls=false'
//	command-service -amqp-url amqp://guest:guest@127.0.0.1:5672/   # also take commands from RabbitMQ
//	command-service parked [-manager NAME]          # the process managers' parked events, JSON lines
//	command-service replay-parked [-manager NAME]   # handle them again; exit status 3 if some still fail
//
// Every flag may also come from the environment variable in its usage text.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/loanflow/loans/command-service/internal/domain"
	amqpport "github.com/loanflow/loans/command-service/internal/ports/amqp"
	"github.com/loanflow/loans/command-service/internal/service"
	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/envflag"
	"github.com/loanflow/loans/platform/rabbit"
	"github.com/loanflow/loans/platform/telemetry"
)

func main() {
	os.Exit(exitCode(run(os.Args[1:], os.Stdout), os.Stderr))
}

// exitCode is the exit status of what run returned: 0 when it succeeded or
// only printed the usage (-h), 3 when replay-parked left events parked, 1
// for any other error, which goes to stderr.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errStillParked):
		fmt.Fprintln(stderr, "command-service:", err)
		return 3
	default:
		fmt.Fprintln(stderr, "command-service:", err)
		return 1
	}
}

// errStillParked: replay-parked left some events parked (exit status 3).
var errStillParked = errors.New("some parked events still fail")

// run serves, or runs the subcommand args name. The subcommands are plain
// flag sets, as the service's own flags are: single-dash flags stay as they
// were.
func run(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "parked":
			return parked(args[1:], stdout)
		case "replay-parked":
			return replayParked(args[1:], stdout)
		}
	}
	return serve(args)
}

// envVars are the flags that environment variables may set.
var envVars = map[string]string{
	"grpc-addr":          "COMMAND_GRPC_ADDR",
	"http-addr":          "COMMAND_HTTP_ADDR",
	"eventstore":         "EVENTSTORE_URL",
	"max-amount":         "LOAN_MAX_AMOUNT",
	"max-duration":       "LOAN_MAX_DURATION",
	"process-managers":   "COMMAND_PROCESS_MANAGERS",
	"stream-cache-bytes": "COMMAND_STREAM_CACHE_BYTES",
	"log-level":          "LOG_LEVEL",
	"amqp-prefetch":      "AMQP_PREFETCH",
	"admin-addr":         "COMMAND_ADMIN_ADDR",
}

func serve(args []string) error {
	limits := domain.DefaultLimits()
	fs := flag.NewFlagSet("command-service", flag.ContinueOnError)
	grpcAddr := fs.String("grpc-addr", "127.0.0.1:8081", "gRPC listen address (COMMAND_GRPC_ADDR)")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "REST gateway listen address (COMMAND_HTTP_ADDR)")
	eventStore := eventStoreFlag(fs)
	maxAmount := fs.Int64("max-amount", limits.MaxAmount, "largest amount a loan may ask for (LOAN_MAX_AMOUNT)")
	maxDuration := fs.Int64("max-duration", int64(limits.MaxDuration), "longest duration in months (LOAN_MAX_DURATION)")
	processManagers := fs.Bool("process-managers", true, "run the process managers in this process (COMMAND_PROCESS_MANAGERS)")
	cacheBytes := fs.Int64("stream-cache-bytes", service.DefaultStreamCacheBytes, "memory (estimated) for recently used streams, saving reads; 0: none (COMMAND_STREAM_CACHE_BYTES)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long calls in flight may finish on SIGTERM")
	logLevel := logLevelFlag(fs)
	amqpURL := rabbit.RegisterFlag(fs, "", "also take commands from this RabbitMQ broker (amqp:// or amqps://; empty: none)")
	amqpPrefetch := fs.Int("amqp-prefetch", 64, "RabbitMQ commands handled at once (AMQP_PREFETCH)")
	adminAddr := fs.String("admin-addr", "", "serve /metrics, /healthz, /readyz and /debug/pprof/ here, e.g. 127.0.0.1:9081; empty: none (COMMAND_ADMIN_ADDR)")
	oidc := auth.RegisterFlags(fs)
	edge := apiserver.RegisterFlags(fs)
	if err := envflag.Parse(fs, args, envflag.Merge(envVars, auth.EnvVars, apiserver.EnvVars, rabbit.EnvVars)); err != nil {
		return err
	}
	verifier, err := auth.NewVerifier(oidc.Config())
	if err != nil {
		return err
	}
	logger, err := newLogger(*logLevel)
	if err != nil {
		return err
	}
	if *maxDuration <= 0 || *maxDuration > 1<<31-1 {
		return fmt.Errorf("-max-duration %d is out of range", *maxDuration)
	}
	if *amqpURL != "" {
		if err := rabbit.Validate(*amqpURL); err != nil {
			return fmt.Errorf("-amqp-url: %w", err)
		}
	}
	if *amqpPrefetch < 1 || *amqpPrefetch > 65535 {
		return fmt.Errorf("-amqp-prefetch %d is out of range (1 to 65535)", *amqpPrefetch)
	}
	if *cacheBytes < 0 {
		return fmt.Errorf("-stream-cache-bytes %d is negative", *cacheBytes)
	}
	if *cacheBytes == 0 {
		*cacheBytes = -1 // the service's "none"
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Traces go over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
	tracing, err := telemetry.SetupTracing(ctx, telemetry.TracingConfig{ServiceName: "command-service"})
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tracing.Shutdown(flushCtx)
	}()
	cfg := service.Config{
		GRPCAddr: *grpcAddr, HTTPAddr: *httpAddr, EventStore: *eventStore, Logger: logger,
		Limits:           domain.Limits{MaxAmount: *maxAmount, MaxDuration: int32(*maxDuration)},
		ProcessManagers:  *processManagers,
		StreamCacheBytes: *cacheBytes,
		Authenticator:    verifier,
		AMQP:             amqpport.Config{URL: *amqpURL, Prefetch: *amqpPrefetch},
		AdminAddr:        *adminAddr,
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

// opsFlags are the flags of the subcommands on parked events.
type opsFlags struct {
	eventStore, manager, logLevel *string
}

func parseOpsFlags(name string, args []string) (opsFlags, error) {
	fs := flag.NewFlagSet("command-service "+name, flag.ContinueOnError)
	f := opsFlags{eventStore: eventStoreFlag(fs), logLevel: logLevelFlag(fs),
		manager: fs.String("manager", "", fmt.Sprintf("only this process manager's parked events (one of %v; default: all)", service.ManagerNames()))}
	err := envflag.Parse(fs, args, map[string]string{"eventstore": envVars["eventstore"], "log-level": envVars["log-level"]})
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return f, err
}

// runOps parses a subcommand's flags and runs op with the configuration and
// the manager they name, until op returns or SIGINT/SIGTERM.
func runOps(name string, args []string, op func(ctx context.Context, cfg service.Config, manager string) error) error {
	f, err := parseOpsFlags(name, args)
	if err != nil {
		return err
	}
	logger, err := newLogger(*f.logLevel)
	if err != nil {
		return err
	}
	ctx, stop := opsContext()
	defer stop()
	return op(ctx, service.Config{EventStore: *f.eventStore, Logger: logger}, *f.manager)
}

// parked prints the parked events, one JSON object a line.
func parked(args []string, stdout io.Writer) error {
	return runOps("parked", args, func(ctx context.Context, cfg service.Config, manager string) error {
		list, err := service.ListParked(ctx, cfg, manager)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(stdout)
		for _, p := range list {
			if err := enc.Encode(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// replayOutcome is one line of replay-parked's output.
type replayOutcome struct {
	Manager  string `json:"manager"`
	EventID  string `json:"event_id"`
	Stream   string `json:"stream"`
	Revision uint64 `json:"revision"`
	Resolved bool   `json:"resolved"`
	Error    string `json:"error,omitempty"`
}

// replayParked handles the parked events again and prints each outcome, one
// JSON object a line; errStillParked when some still fail.
func replayParked(args []string, stdout io.Writer) error {
	return runOps("replay-parked", args, func(ctx context.Context, cfg service.Config, manager string) error {
		outcomes, err := service.ReplayParked(ctx, cfg, manager)
		enc := json.NewEncoder(stdout)
		failed := 0
		for _, o := range outcomes {
			line := replayOutcome{Manager: o.Parked.Manager, EventID: o.Parked.EventID.String(), Stream: o.Parked.Stream,
				Revision: o.Parked.Revision, Resolved: o.Err == nil}
			if o.Err != nil {
				line.Error = o.Err.Error()
				failed++
			}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		if err != nil {
			return err
		}
		if failed > 0 {
			return fmt.Errorf("%w: %d of %d", errStillParked, failed, len(outcomes))
		}
		return nil
	})
}

func eventStoreFlag(fs *flag.FlagSet) *string {
	return fs.String("eventstore", "esdb://127.0.0.1:2113?tls=false", "EventStoreDB connection string (EVENTSTORE_URL)")
}

func logLevelFlag(fs *flag.FlagSet) *string {
	return fs.String("log-level", "info", "debug, info, warn or error (LOG_LEVEL)")
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	handler := telemetry.LogHandler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
	return slog.New(handler).With("service", "command-service"), nil
}

// opsContext ends on SIGINT or SIGTERM, or after a minute: an operator's
// command does not hang on an event store that is away.
func opsContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	return ctx, func() { cancel(); stop() }
}
