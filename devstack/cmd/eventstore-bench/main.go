// Command eventstore-bench measures the embedded event store against the
// limits of the machine it runs on, in one run:
//
//	go run ./devstack/cmd/eventstore-bench [-events 1000000] [-duration 3s] [-runs 3]
//
// First the machine: the raw fsync rate of the disk under the data directory,
// and what bare gRPC does over loopback with an append's shape (client
// streaming, 64 concurrent callers on one connection, as the official client
// uses one) and a read's shape (server streaming). Then the store itself,
// with its data on disk and fsync on, driven by the official EventStoreDB
// client: appends with 1 and 64 writers, a fill to -events events, a read of
// $all and a catch-up subscription to $all over everything. Each figure is
// measured -runs times and reported as the median (min and max beside it);
// a summary table compares the figures with the targets.
//
// Everything runs in this process over 127.0.0.1, loops are bounded in time
// and count, and the data directory is removed at the end unless -keep.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Targets.
const (
	targetAppendRate   = 10_000  // events/s with 64 writers
	targetAppendVsBare = 0.4     // × the bare client-streaming call rate
	targetAppendP99    = 20.0    // ms, with 64 writers
	targetReadRate     = 200_000 // events/s reading $all and subscribing
)

var phaseNames = []string{"fsync", "bare-append", "bare-read", "append", "fill", "read", "subscribe"}

type config struct {
	events      int
	duration    time.Duration
	runs        int
	dir         string
	keep        bool
	writers     int
	payload     int
	exact       bool
	fillBatch   int
	fillWriters int
	bareConns   int
	phases      map[string]bool
	cpuProfile  string
	strict      bool
	busyLimit   float64
	busyRetries int
	idleWait    time.Duration
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		var below errBelow
		if errors.As(err, &below) {
			fmt.Fprintln(os.Stderr, "eventstore-bench:", err)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "eventstore-bench: FAILED:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("eventstore-bench", flag.ContinueOnError)
	var cfg config
	fs.IntVar(&cfg.events, "events", 1_000_000, "fill the store to at least this many events before reading them")
	fs.DurationVar(&cfg.duration, "duration", 3*time.Second, "length of each timed run (fsync, bare append, store appends)")
	fs.IntVar(&cfg.runs, "runs", 3, "times each figure is measured (median, min and max are reported)")
	fs.StringVar(&cfg.dir, "dir", "", "directory under which the temporary data directory is made (default: the system temp dir)")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the data directory")
	fs.IntVar(&cfg.writers, "writers", 64, "concurrent writers (and bare gRPC callers) for the concurrent figures")
	fs.IntVar(&cfg.payload, "payload", 200, "bytes of JSON per event")
	fs.BoolVar(&cfg.exact, "exact", false, "appends expect the exact stream revision instead of any")
	fs.IntVar(&cfg.fillBatch, "fill-batch", 500, "events per append when filling")
	fs.IntVar(&cfg.fillWriters, "fill-writers", 4, "concurrent writers when filling")
	fs.IntVar(&cfg.bareConns, "bare-conns", 1, "gRPC connections the bare append callers share (the official client uses 1)")
	phases := fs.String("phases", strings.Join(phaseNames, ","), "phases to run, of: "+strings.Join(phaseNames, ",")+" (read and subscribe imply fill)")
	fs.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write a CPU profile of each phase (client and server: same process) to PREFIX.PHASE.pprof")
	fs.Float64Var(&cfg.busyLimit, "busy-limit", 0.3, "CPU cores other processes may use during a run before it is discarded and made again")
	fs.IntVar(&cfg.busyRetries, "busy-retries", 2, "times a run is made again when other processes were busy (0: never)")
	fs.DurationVar(&cfg.idleWait, "idle-wait", 90*time.Second, "total time to wait, before measurements, for other processes to quieten (at most 10 s each; 0: never)")
	fs.BoolVar(&cfg.strict, "strict", false, "exit with status 2 when a figure is below its target")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.runs < 1 || cfg.writers < 1 || cfg.fillWriters < 1 || cfg.fillBatch < 1 || cfg.bareConns < 1 || cfg.duration <= 0 || cfg.events < 1 {
		return errors.New("-runs, -writers, -fill-writers, -fill-batch, -bare-conns, -events and -duration must be positive")
	}
	cfg.phases = map[string]bool{}
	for _, p := range strings.Split(*phases, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(phaseNames, p) {
			return fmt.Errorf("-phases: unknown phase %q", p)
		}
		cfg.phases[p] = true
	}
	if cfg.phases["read"] || cfg.phases["subscribe"] {
		cfg.phases["fill"] = true
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	parent := cfg.dir
	if parent == "" {
		parent = os.TempDir()
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	root, err := os.MkdirTemp(parent, "eventstore-bench-")
	if err != nil {
		return err
	}
	if cfg.keep {
		defer fmt.Printf("\ndata kept in %s\n", root)
	} else {
		defer os.RemoveAll(root)
	}

	printHeader(cfg, root)
	b := &bench{cfg: cfg, root: root}
	started := time.Now()
	if err := b.measure(ctx); err != nil {
		return err
	}
	if below := b.summary(time.Since(started)); below > 0 && cfg.strict {
		return errBelow{below}
	}
	return nil
}

// errBelow ends a -strict run whose figures missed targets.
type errBelow struct{ n int }

func (e errBelow) Error() string { return fmt.Sprintf("%d figure(s) below target", e.n) }

func printHeader(cfg config, root string) {
	host, _ := os.Hostname()
	fmt.Println("eventstore-bench: embedded event store vs the limits of this machine")
	fmt.Printf("date      %s\n", time.Now().Format(time.RFC3339))
	fmt.Printf("machine   %s/%s, %d CPUs (GOMAXPROCS %d), %s, host %s\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), cpuModel(), host)
	fmt.Printf("go        %s\n", runtime.Version())
	fmt.Printf("load      %s (1, 5, 15 min averages at start; other work on these %d CPUs skews the figures)\n", loadAverage(), runtime.NumCPU())
	expect := "any"
	if cfg.exact {
		expect = "exact revision"
	}
	fmt.Printf("settings  runs %d (median, min-max), timed runs %s, %d writers, %d-byte JSON events, expected revision %s,\n"+
		"          fill to %s events in appends of %d by %d writers, data under %s (fsync on)\n",
		cfg.runs, cfg.duration, cfg.writers, cfg.payload, expect, group(float64(cfg.events)), cfg.fillBatch, cfg.fillWriters, root)
}
