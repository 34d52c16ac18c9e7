// Command publisher-service publishes the loan events of EventStoreDB (or
// the embedded store) to RabbitMQ as integration events: the durable topic
// exchange loans.events, routing key loans.v1.<EventType>, at least once,
// in commit order (docs/EVENTS.md).
//
//	publisher-service -amqp-url amqp://guest:guest@127.0.0.1:5672/ [-eventstore 'esdb://127.0.0.1:2113?tls=false']
//
// Flags (an environment variable in brackets stands in for a flag not given;
// the command line wins):
//
//	-eventstore 'esdb://127.0.0.1:2113?tls=false'  (EVENTSTORE_URL)
//	-amqp-url URL           the broker; required  (AMQP_URL)
//	-exchange loans.events  the topic exchange; its checkpoint is the stream publisher-<exchange>-checkpoint  (PUBLISHER_EXCHANGE)
//	-connection-name NAME   the broker connection's name; default publisher-service/<exchange>  (PUBLISHER_CONNECTION_NAME)
//	-batch 1000             most events published back to back between looks at the confirms  (PUBLISHER_MAX_BATCH)
//	-in-flight N            most events unconfirmed at once; default 4 batches  (PUBLISHER_MAX_IN_FLIGHT)
//	-checkpoint-interval 1s how often the checkpoint is saved (also every 10,000 events)  (PUBLISHER_CHECKPOINT_INTERVAL)
//	-admin-addr ADDR        serve /metrics, /healthz, /readyz and /debug/pprof/ there; empty: none  (PUBLISHER_ADMIN_ADDR)
//	-log-level info         debug, info, warn or error; logs are JSON on stderr  (LOG_LEVEL)
//	-shutdown-timeout 10s   on SIGTERM, how long the confirms outstanding and the last checkpoint may take  (PUBLISHER_SHUTDOWN_TIMEOUT)
//
// Each message carries the traceparent of the command that caused its event
// (when it was traced); the publisher's own spans (the event store's calls)
// go over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
//
// Exit status: 0 stopped by SIGTERM or SIGINT, 1 failed, 2 usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/envflag"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdblog"
	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/rabbit"
	"github.com/loanflow/loans/platform/telemetry"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// envVars are the flags that environment variables may set.
var envVars = envflag.Merge(rabbit.EnvVars, map[string]string{
	"eventstore":          "EVENTSTORE_URL",
	"exchange":            "PUBLISHER_EXCHANGE",
	"connection-name":     "PUBLISHER_CONNECTION_NAME",
	"batch":               "PUBLISHER_MAX_BATCH",
	"in-flight":           "PUBLISHER_MAX_IN_FLIGHT",
	"checkpoint-interval": "PUBLISHER_CHECKPOINT_INTERVAL",
	"admin-addr":          "PUBLISHER_ADMIN_ADDR",
	"log-level":           "LOG_LEVEL",
	"shutdown-timeout":    "PUBLISHER_SHUTDOWN_TIMEOUT",
})

// Main publishes until ctx ends (SIGTERM), then stops cleanly; it returns
// the exit code. JSON logs and usage go to stderr.
func Main(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("publisher-service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	eventStore := fs.String("eventstore", "esdb://127.0.0.1:2113?tls=false", "EventStoreDB connection string (EVENTSTORE_URL)")
	amqpURL := rabbit.RegisterFlag(fs, "", "the broker, amqp:// or amqps://; required")
	exchange := fs.String("exchange", publisher.DefaultExchange, "the durable topic exchange published to; its checkpoint is the event store stream publisher-<exchange>-checkpoint (PUBLISHER_EXCHANGE)")
	connectionName := fs.String("connection-name", "", "the broker connection's name, as rabbitmqctl list_connections shows it; empty: publisher-service/<exchange> (PUBLISHER_CONNECTION_NAME)")
	batch := fs.Int("batch", publisher.DefaultMaxBatch, "most events published back to back between two looks at the confirms (PUBLISHER_MAX_BATCH)")
	inFlight := fs.Int("in-flight", 0, fmt.Sprintf("most events published and not yet confirmed; 0: %d batches (PUBLISHER_MAX_IN_FLIGHT)", publisher.DefaultInFlightBatches))
	checkpointInterval := fs.Duration("checkpoint-interval", publisher.DefaultCheckpointInterval,
		fmt.Sprintf("how often the checkpoint is saved, and every %d events: what a crash may publish again (PUBLISHER_CHECKPOINT_INTERVAL)", publisher.DefaultCheckpointEvents))
	adminAddr := fs.String("admin-addr", "", "serve /metrics, /healthz, /readyz and /debug/pprof/ on this address, without authentication; empty: none (PUBLISHER_ADMIN_ADDR)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (LOG_LEVEL)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "on SIGTERM, how long the confirms outstanding and the last checkpoint may take (PUBLISHER_SHUTDOWN_TIMEOUT)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: publisher-service -amqp-url URL [flags]\n\n"+
			"Publishes the loan events of the event store to the RabbitMQ topic exchange loans.events (docs/EVENTS.md).\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := envflag.Parse(fs, args, envVars); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "publisher-service: %v\n", err)
		return exitUsage
	}
	usage := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "publisher-service: "+format+"\n", args...)
		return exitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage("unexpected argument %q", fs.Arg(0))
	case *amqpURL == "":
		return usage("no broker: set -%s or %s (for example amqp://guest:guest@127.0.0.1:5672/)", rabbit.FlagName, rabbit.EnvVar)
	case *batch <= 0:
		return usage("-batch %d: want 1 or more", *batch)
	case *inFlight < 0:
		return usage("-in-flight %d: want 0 (the default) or more", *inFlight)
	case *checkpointInterval <= 0:
		return usage("-checkpoint-interval %v: want more than 0", *checkpointInterval)
	case *shutdownTimeout <= 0:
		return usage("-shutdown-timeout %v: want more than 0", *shutdownTimeout)
	case *exchange == "":
		return usage("-exchange is empty")
	}
	if err := rabbit.Validate(*amqpURL); err != nil {
		return usage("-%s: %v", rabbit.FlagName, err)
	}
	if _, err := esdb.ParseConnectionString(*eventStore); err != nil {
		return usage("-eventstore: %v", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usage("-log-level: %v", err)
	}
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))).With("service", "publisher-service")
	tracing, err := telemetry.SetupTracing(ctx, telemetry.TracingConfig{ServiceName: "publisher-service"})
	if err != nil {
		return usage("tracing: %v", err)
	}
	defer func() {
		// The spans still buffered, if the collector takes them soon.
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(flushCtx); err != nil {
			logger.Warn("publisher-service: flushing the traces", "error", err)
		}
	}()

	conn, err := esdbconn.Dial(*eventStore, esdblog.To(logger))
	if err != nil {
		logger.Error("publisher-service: event store", "error", err)
		return exitError
	}
	defer func() {
		// A call still waiting for a store that is away is left to the exit.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := conn.Close(closeCtx); err != nil {
			logger.Warn("publisher-service: closing the event store connection", "error", err)
		}
	}()
	p, err := publisher.New(publisher.Config{
		EventStore: conn, AMQPURL: *amqpURL, Exchange: *exchange, ConnectionName: *connectionName,
		MaxBatch: *batch, MaxInFlight: *inFlight, CheckpointInterval: *checkpointInterval,
		// Two waits may follow SIGTERM: the confirms, then the checkpoint.
		StopTimeout: *shutdownTimeout / 2,
		Logger:      logger,
	})
	if err != nil {
		logger.Error("publisher-service: configuration", "error", err)
		return exitError
	}
	if *adminAddr != "" {
		stop, err := serveAdmin(ctx, *adminAddr, p, logger)
		if err != nil {
			logger.Error("publisher-service: admin listener", "error", err)
			return exitError
		}
		defer stop()
	}

	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			logger.Error("publisher-service: failed", "error", err)
			return exitError
		}
	case <-ctx.Done():
		logger.Info("publisher-service: shutting down", "timeout", shutdownTimeout.String())
		select {
		case err := <-done:
			if err != nil {
				logger.Error("publisher-service: failed", "error", err)
				return exitError
			}
		case <-time.After(*shutdownTimeout):
			logger.Error("publisher-service: not stopped within the shutdown timeout; exiting (what was not confirmed and saved is published again at the next start)",
				"timeout", shutdownTimeout.String())
			return exitError
		}
	}
	logger.Info("publisher-service: stopped", "checkpoint", p.Stats().Checkpoint)
	return exitOK
}

// serveAdmin serves the admin listener: the metrics (the publisher's, the
// event store connection's, readiness as loans_ready, Go's and the
// process's), pprof, and the probes: /healthz, and /readyz ready while the
// event store answers and a channel is open on the broker, not ready from
// the moment ctx ends (SIGTERM). The returned stop closes the listener.
func serveAdmin(ctx context.Context, addr string, p *publisher.Publisher, logger *slog.Logger) (stop func(), err error) {
	admin, err := telemetry.ServeProcess(addr, health.Config{Logger: logger}, p.Checks(), append(p.Collectors(), esdbconn.Collectors()...)...)
	if err != nil {
		return nil, fmt.Errorf("-admin-addr: %w", err)
	}
	context.AfterFunc(ctx, admin.Readiness.Shutdown)
	return admin.Stop, nil
}
