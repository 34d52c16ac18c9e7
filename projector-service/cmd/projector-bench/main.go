// Command projector-bench measures the projector (make bench-projector):
//
//	(a) catch-up: the projector from checkpoint 0 to the head of a store
//	    filled with -events loan events (multi-event appends through the
//	    official client), into a fresh SQLite read model, in a process of
//	    its own run as projector-service runs (package tuning), whose peak
//	    memory (VmHWM) is reported beside its rate;
//	(b) raw: the same SQLite reads and writes (the same Batches, loaded and
//	    applied as the projector does) straight into a fresh sqlitestore, no
//	    event store, measured in the same run; and (a)/(b);
//	(c) live lag: appends at -rate commands/s (each an append of the
//	    command's events through the official client, as the command service
//	    makes them) while the projector of the last catch-up runs live; the
//	    lag is from the start of the append to the application being visible
//	    to the query side (Get through a *sqlitestore.Store of this process
//	    on the same file), and is split where the projector's own writes
//	    begin and end (it notes them);
//	(d) the MongoDB adapter on FerretDB (devstack/docstore) over -ferret-events
//	    events: a functional reference, not a MongoDB figure.
//
//	go run ./projector-service/cmd/projector-bench [-events 1000000] [-runs 3] [-rate 500] [-lag-duration 10s]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/benchcpu"
	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/projector-service/internal/projector"
)

type config struct {
	events        int
	runs          int
	writers       int
	rate          int
	lagDuration   time.Duration
	ferretEvents  int
	dir           string
	skipFerret    bool
	ferretOnly    bool
	ferretTimeout time.Duration
	cpuProfile    string
	verbose       bool
	cacheMiB      int
	batch         int
	fillOnly      bool
}

// Targets (the issue's).
const (
	targetCatchUp      = 25_000 // events/s
	targetVsRaw        = 0.7
	targetLagP99       = 100 * time.Millisecond
	targetRSS          = 256_000_000      // bytes (256 MB: 244 MiB), the projector's peak while catching up
	ferretTimeoutTotal = 10 * time.Minute // starting FerretDB, filling its event store
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == childCommand {
		if err := runChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "projector-bench "+childCommand+":", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "projector-bench:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	flag.IntVar(&cfg.events, "events", 1_000_000, "loan events to fill the event store with (at least)")
	flag.IntVar(&cfg.runs, "runs", 3, "runs of the catch-up and raw figures (median, min and max are reported)")
	flag.IntVar(&cfg.writers, "writers", 64, "concurrent appenders while filling")
	flag.IntVar(&cfg.batch, "batch", projector.SQLiteMaxBatch, "the projector's largest catch-up batch (what projector-service uses on SQLite), and the raw batches'")
	flag.IntVar(&cfg.rate, "rate", 500, "commands per second for the live lag")
	flag.DurationVar(&cfg.lagDuration, "lag-duration", 10*time.Second, "how long the live lag is measured")
	flag.IntVar(&cfg.ferretEvents, "ferret-events", 20_000, "events for the MongoDB adapter on FerretDB")
	flag.BoolVar(&cfg.skipFerret, "skip-ferret", false, "skip the FerretDB figure")
	flag.BoolVar(&cfg.ferretOnly, "ferret-only", false, "measure only the FerretDB figure (d)")
	flag.BoolVar(&cfg.verbose, "v", false, "log the FerretDB projector's progress and warnings to stderr")
	flag.DurationVar(&cfg.ferretTimeout, "ferret-timeout", 20*time.Minute, "how long the FerretDB figure may take (the rate so far is reported)")
	flag.StringVar(&cfg.dir, "dir", "", "directory for the data, kept (default: a temporary one, removed at the end); an event store already filled there is reused")
	flag.IntVar(&cfg.cacheMiB, "sqlite-cache-mib", 0, "SQLite page cache of each connection, in MiB, for both (a) and (b) (0: sqlitestore's defaults)")
	flag.BoolVar(&cfg.fillOnly, "fill-only", false, "fill the event store in -dir and stop (later runs with the same -dir reuse it)")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write CPU profiles of this process during the raw runs and the catch-up runs (the event store's side; the projector runs in its own process) to FILE.raw.N and FILE.catchup.N")
	flag.Parse()

	dir := cfg.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "projector-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	started := time.Now()
	fmt.Printf("projector-bench: the projector's catch-up beside the raw SQLite writes, live lag, MongoDB adapter on FerretDB\n")
	fmt.Printf("date      %s\nmachine   %s/%s, %d CPUs; %s\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Printf("settings  %d events, %d runs, live lag at %d commands/s for %v, data in %s\n\n", cfg.events, cfg.runs, cfg.rate, cfg.lagDuration, dir)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	es, conn, err := startEventStore(eventstore.Config{Dir: dir + "/eventstore", Logger: quiet})
	if err != nil {
		return err
	}
	defer es.Shutdown(context.Background())
	client, err := connect(conn)
	if err != nil {
		return err
	}
	defer client.Close()
	pconn, err := esdbconn.Dial(conn, nil)
	if err != nil {
		return err
	}
	defer pconn.Close(context.Background())

	b := &bench{cfg: cfg, dir: dir, client: client, conn: pconn, esURL: conn}
	if cfg.fillOnly {
		return b.fill()
	}
	if !cfg.ferretOnly {
		if err := b.sqlitePhases(); err != nil {
			return err
		}
	}
	if cfg.skipFerret {
		b.ferretNote = "skipped (-skip-ferret)"
	} else if err := b.ferret(); err != nil {
		b.ferretNote = "failed: " + err.Error()
	}
	b.summary(time.Since(started))
	return nil
}

// sqlitePhases measures (a), (b) and (c).
func (b *bench) sqlitePhases() error {
	if err := b.fill(); err != nil {
		return err
	}
	if err := b.prepareRaw(); err != nil {
		return err
	}
	for r := range b.cfg.runs {
		benchcpu.Settle(10 * time.Second)
		if err := startProfile(b.cfg.cpuProfile, "raw", r); err != nil {
			return err
		}
		err := b.rawRun(r)
		pprof.StopCPUProfile()
		if err != nil {
			return err
		}
		benchcpu.Settle(10 * time.Second)
		if err := startProfile(b.cfg.cpuProfile, "catchup", r); err != nil {
			return err
		}
		err = b.catchUpRun(r, r == b.cfg.runs-1)
		pprof.StopCPUProfile()
		if err != nil {
			return err
		}
	}
	b.batches = nil // the raw phase's memory goes back to the system before the live lag
	debug.FreeOSMemory()
	benchcpu.Settle(10 * time.Second)
	if err := b.liveLag(); err != nil {
		return err
	}
	return nil
}

// startProfile profiles the next raw or catch-up run into path.phase.run.
func startProfile(path, phase string, run int) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(fmt.Sprintf("%s.%s.%d", path, phase, run))
	if err != nil {
		return err
	}
	return pprof.StartCPUProfile(f)
}

func startEventStore(cfg eventstore.Config) (*eventstore.Server, string, error) {
	es, err := eventstore.New(cfg)
	if err != nil {
		return nil, "", err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	go func() { _ = es.Serve(lis) }()
	return es, eventstore.ConnectionString(lis.Addr(), false), nil
}

func connect(conn string) (*esdb.Client, error) {
	cfg, err := esdb.ParseConnectionString(conn)
	if err != nil {
		return nil, err
	}
	cfg.Logger = esdb.NoopLogging()
	return esdb.NewClient(cfg)
}
