// Command projector-service projects the loan events of EventStoreDB (or the
// embedded store) into the read model (SQLite by default, or MongoDB).
//
//	projector-service [run]        follow $all into the active generation (default)
//	projector-service rebuild      project everything into a new generation, then switch readers to it
//	projector-service replay-parked  project the parked events again; unpark those that now succeed
//
// Flags (an environment variable in brackets stands in for a flag not given;
// the command line wins):
//
//	-eventstore 'esdb://127.0.0.1:2113?tls=false'   (EVENTSTORE_URL)
//	-readmodel sqlite:.data/readmodel.db | mongodb://...   (READMODEL_URL)
//	-log-level info   (LOG_LEVEL; logs are JSON on stderr)
//	-batch N          most events a catch-up write holds (PROJECTOR_MAX_BATCH; 20,000 on SQLite, 1,000 on MongoDB)
//	-memory-limit 128MiB  soft limit of the Go runtime's memory, unless GOMEMLIMIT is set; off: none (PROJECTOR_MEMORY_LIMIT)
//	-chase-timeout 2m rebuild: how long to follow the active generation once the head is reached
//	-grace 5s         rebuild: how long readers may keep reading the old generation
//	-rebuild          replay-parked: rebuild afterwards if anything was unparked
//	-admin-addr ADDR  run: serve /metrics, /healthz, /readyz and /debug/pprof/ there; empty: none (PROJECTOR_ADMIN_ADDR)
//
// Traces go over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard
// OTEL_* variables): a span per write, joined to the traces of the commands
// whose events it projects. Log lines carry the trace and correlation IDs
// when they have them.
//
// Unless GOGC is set it runs with GOGC=100 (internal/tuning says why).
//
// Exit status: 0 done, 1 failed, 2 usage, 3 replay-parked left events parked.
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
	"strings"
	"syscall"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/envflag"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdblog"
	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/readmodel/storeurl"
	"github.com/loanflow/loans/platform/telemetry"
	"github.com/loanflow/loans/projector-service/internal/projector"
	"github.com/loanflow/loans/projector-service/internal/tuning"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitStillParked = 3 // replay-parked: some events still fail
)

var subcommands = map[string]string{
	"run":           "follow $all into the active generation until SIGTERM",
	"rebuild":       "project every event into a new generation, switch readers to it, drop the old one",
	"replay-parked": "project the parked events again; unpark those that succeed, report the others",
}

// envVars are the flags that environment variables may set.
var envVars = map[string]string{
	"eventstore":   "EVENTSTORE_URL",
	"readmodel":    "READMODEL_URL",
	"log-level":    "LOG_LEVEL",
	"batch":        "PROJECTOR_MAX_BATCH",
	"memory-limit": "PROJECTOR_MEMORY_LIMIT",
	"admin-addr":   "PROJECTOR_ADMIN_ADDR",
}

// Main runs a subcommand until it ends or ctx ends (SIGTERM); it returns the
// exit code. Reports go to stdout, JSON logs to stderr.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	sub, explicit := "run", false
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args, explicit = args[0], args[1:], true
	}
	fs := flag.NewFlagSet("projector-service "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	eventStore := fs.String("eventstore", "esdb://127.0.0.1:2113?tls=false", "EventStoreDB connection string (EVENTSTORE_URL)")
	readModel := fs.String("readmodel", storeurl.Default, "read model: sqlite:PATH or a mongodb:// URI (READMODEL_URL)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (LOG_LEVEL)")
	grace := fs.Duration("grace", 5*time.Second, "rebuild: how long readers of the old generation may finish before it is dropped")
	batch := fs.Int("batch", 0, "most events written at once while catching up; 0: 20,000 on SQLite, 1,000 on MongoDB (PROJECTOR_MAX_BATCH)")
	rebuildAfter := fs.Bool("rebuild", false, "replay-parked: rebuild afterwards if events were unparked, so that they count in the statistics too")
	chase := fs.Duration("chase-timeout", 2*time.Minute, "rebuild: how long to follow $all, once at the head, until the new generation has caught up with the active one")
	adminAddr := fs.String("admin-addr", "", "run: serve /metrics, /healthz, /readyz and /debug/pprof/ on this address, without authentication; empty: none (PROJECTOR_ADMIN_ADDR)")
	memoryLimit := byteSize(tuning.MemoryLimit)
	fs.Var(&memoryLimit, "memory-limit", "soft limit of the Go runtime's memory (not SQLite's cache), unless GOMEMLIMIT is set; off: none (PROJECTOR_MEMORY_LIMIT)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: projector-service [run|rebuild|replay-parked] [flags]\n\n")
		for _, name := range []string{"run", "rebuild", "replay-parked"} {
			fmt.Fprintf(stderr, "  %-14s %s\n", name, subcommands[name])
		}
		fmt.Fprintln(stderr, "\nflags:")
		fs.PrintDefaults()
	}
	err := fs.Parse(args)
	if err == nil && !explicit && fs.NArg() > 0 {
		// Flags first, then the subcommand (and maybe more flags).
		sub = fs.Arg(0)
		err = fs.Parse(fs.Args()[1:])
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := envflag.Apply(fs, envVars); err != nil {
		fmt.Fprintf(stderr, "projector-service: %v\n", err)
		return exitUsage
	}
	if *batch < 0 {
		fmt.Fprintf(stderr, "projector-service: -batch %d: want 0 (the store's default) or more\n", *batch)
		return exitUsage
	}
	if _, ok := subcommands[sub]; !ok || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "projector-service: unknown subcommand or argument %q\n", strings.Join(append([]string{sub}, fs.Args()...), " "))
		fs.Usage()
		return exitUsage
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(stderr, "projector-service: -log-level: %v\n", err)
		return exitUsage
	}
	logger := slog.New(telemetry.LogHandler(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))).With("service", "projector-service")

	tracing, err := telemetry.SetupTracing(ctx, telemetry.TracingConfig{ServiceName: "projector-service"})
	if err != nil {
		fmt.Fprintf(stderr, "projector-service: tracing: %v\n", err)
		return exitUsage
	}
	defer func() {
		// The spans still buffered, if the collector takes them soon.
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(flushCtx); err != nil {
			logger.Warn("projector-service: flushing the traces", "error", err)
		}
	}()
	defer tuning.Apply(os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"), int64(memoryLimit))()
	code, err := runSubcommand(ctx, sub, config{eventStore: *eventStore, readModel: *readModel, grace: *grace, rebuildAfter: *rebuildAfter,
		maxBatch: *batch, chaseTimeout: *chase, adminAddr: *adminAddr}, logger, stdout)
	if err != nil {
		logger.Error("projector-service: "+sub+" failed", "error", err)
		fmt.Fprintf(stderr, "projector-service %s: %v\n", sub, err)
	}
	return code
}

type config struct {
	eventStore, readModel string
	grace                 time.Duration
	rebuildAfter          bool
	maxBatch              int
	chaseTimeout          time.Duration
	adminAddr             string
}

func runSubcommand(ctx context.Context, sub string, cfg config, logger *slog.Logger, stdout io.Writer) (int, error) {
	if _, err := esdb.ParseConnectionString(cfg.eventStore); err != nil {
		return exitUsage, fmt.Errorf("-eventstore: %w", err)
	}
	conn, err := esdbconn.Dial(cfg.eventStore, esdblog.To(logger))
	if err != nil {
		return exitError, fmt.Errorf("event store: %w", err)
	}
	defer func() {
		// A call still waiting for a store that is away is left to the exit.
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := conn.Close(closeCtx); err != nil {
			logger.Warn("projector-service: closing the event store connection", "error", err)
		}
	}()
	st, err := storeurl.Open(ctx, cfg.readModel)
	if err != nil {
		return exitError, err
	}
	defer func() {
		if err := st.Close(); err != nil {
			logger.Warn("projector-service: closing the read model", "error", err)
		}
	}()
	maxBatch := cfg.maxBatch
	if maxBatch <= 0 {
		maxBatch = projector.DefaultMaxBatch
		if storeurl.IsSQLite(cfg.readModel) {
			maxBatch = projector.SQLiteMaxBatch
		}
	}
	p := projector.New(conn, st, logger, projector.Options{MaxBatch: maxBatch, ChaseTimeout: cfg.chaseTimeout})
	logger.Info("projector-service: starting", "subcommand", sub, "readmodel", storeurl.Redact(cfg.readModel), "max_batch", maxBatch)

	switch sub {
	case "rebuild":
		res, err := p.Rebuild(ctx, cfg.grace)
		if err != nil {
			return exitError, err
		}
		printRebuild(stdout, res)
		return exitOK, nil
	case "replay-parked":
		outcomes, err := p.ReplayParked(ctx)
		if err != nil {
			return exitError, err
		}
		var failing, behind int
		for _, o := range outcomes {
			e := o.Parked
			switch {
			case o.Err != nil:
				failing++
				fmt.Fprintf(stdout, "still failing  position %d  %s  %s  %s: %v\n", e.Position, e.EventType, e.Stream, e.EventID, o.Err)
			case o.Behind:
				behind++
				fmt.Fprintf(stdout, "unparked       position %d  %s  %s  %s (its application had moved on: history only)\n", e.Position, e.EventType, e.Stream, e.EventID)
			default:
				fmt.Fprintf(stdout, "unparked       position %d  %s  %s  %s\n", e.Position, e.EventType, e.Stream, e.EventID)
			}
		}
		unparked := len(outcomes) - failing
		fmt.Fprintf(stdout, "replay-parked: %d parked, %d unparked, %d still failing\n", len(outcomes), unparked, failing)
		switch {
		case unparked > 0 && cfg.rebuildAfter:
			res, err := p.Rebuild(ctx, cfg.grace)
			if err != nil {
				return exitError, err
			}
			printRebuild(stdout, res)
		case unparked > 0:
			fmt.Fprintf(stdout, "replay-parked: the statistics count an event only after what they counted already, and %d of the applications had moved on;\n"+
				"  run `projector-service rebuild` (or replay-parked -rebuild) to fold the unparked events in fully\n", behind)
		}
		if failing > 0 {
			return exitStillParked, nil
		}
		return exitOK, nil
	}
	if cfg.adminAddr != "" {
		stop, err := serveAdmin(cfg.adminAddr, p, logger)
		if err != nil {
			return exitError, err
		}
		defer stop()
	}
	if err := p.Run(ctx); err != nil {
		return exitError, err
	}
	return exitOK, nil
}

// serveAdmin serves a running projector's admin listener: its metrics (the
// projector's, the event store connection's, readiness as loans_ready, Go's
// and the process's), pprof, and the probes: /healthz, and /readyz ready
// while it follows $all live and both stores answer (projector.Ready). The
// returned stop marks it not ready, then closes the listener.
func serveAdmin(addr string, p *projector.Projector, logger *slog.Logger) (stop func(), err error) {
	admin, err := telemetry.ServeProcess(addr, health.Config{Logger: logger}, []health.Check{{Name: "projector", Func: p.Ready}},
		append(p.Collectors(), esdbconn.Collectors()...)...)
	if err != nil {
		return nil, fmt.Errorf("-admin-addr: %w", err)
	}
	return admin.Stop, nil
}

func printRebuild(w io.Writer, res projector.RebuildResult) {
	fmt.Fprintf(w, "rebuild: generation %d active (replaced %d, dropped: %v), checkpoint %d, head %d, %d parked events unparked, in %v\n",
		res.New, res.Old, res.Dropped, res.Checkpoint, res.Head, len(res.Unparked), res.Took.Round(time.Millisecond))
}
