package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	_ "modernc.org/sqlite" // for verify's own look at the files

	"github.com/loanflow/loans/devstack/benchcpu"
	"github.com/loanflow/loans/devstack/docstore"
	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/mongostore"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
	"github.com/loanflow/loans/projector-service/internal/projection"
	"github.com/loanflow/loans/projector-service/internal/projector"
)

var (
	quiet = slog.New(slog.NewTextHandler(io.Discard, nil))
	epoch = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)
)

type bench struct {
	cfg    config
	dir    string
	client *esdb.Client   // appends, reads
	conn   *esdbconn.Conn // the head of $all
	esURL  string         // the projector's process connects there

	// The filled store.
	reused  bool   // filled by an earlier run (-dir)
	events  int    // loan events in it
	lastPos uint64 // position of the last one

	wantApps, wantHistory int // what a complete projection holds
	fillRate              figure

	// The raw phase's input: the projector's batches, computed in memory.
	batches []rawBatch

	catchUp, raw, ratio figure
	catchUpRSS          figure // the projector's peak memory, bytes
	catchUpCPU, rawCPU  []benchcpu.Use
	live                *liveProjector

	lagP50, lagP99, lagMax, appendP50, appendP99 time.Duration
	lagCommands                                  int
	lagRate                                      float64
	lagCPU                                       string
	lagParts                                     []lagPart
	lagWrites                                    string
	lagRSS                                       int64

	ferretRate   float64
	ferretEvents int
	ferretTook   time.Duration
	ferretNote   string
}

type rawBatch struct {
	ids   []string
	batch readmodel.Batch
}

// fill appends at least cfg.events loan events: whole lifecycles, each
// append holding one stream's events of one step (one to two events), from
// cfg.writers goroutines.
func (b *bench) fill() error {
	if head, err := projector.New(b.conn, nil, quiet, projector.Options{}).Head(context.Background()); err != nil {
		return err
	} else if head > 0 {
		b.reused, b.lastPos = true, head
		fmt.Printf("fill            skipped: the store in %s already holds events up to position %d\n", b.dir, head)
		return nil
	}
	g := eventgen.New(1, epoch)
	g.Step = 20 * time.Second // about 4,000 applications a day
	lifes := make(chan []eventgen.Append, 4096)
	go func() {
		defer close(lifes)
		for n := 0; n < b.cfg.events; {
			life := g.Lifecycle()
			for _, a := range life {
				n += len(a.Events)
			}
			lifes <- life
		}
	}()
	var (
		wg       sync.WaitGroup
		events   atomic.Int64
		appends  atomic.Int64
		last     atomic.Uint64
		errOnce  sync.Once
		firstErr error
	)
	fmt.Printf("fill            appending %d loan events from %d writers ...\n", b.cfg.events, b.cfg.writers)
	cpu := benchcpu.Now()
	start := time.Now()
	for range b.cfg.writers {
		wg.Go(func() {
			for life := range lifes {
				for _, a := range life {
					res, err := b.client.AppendToStream(context.Background(), a.Stream, esdb.AppendToStreamOptions{ExpectedRevision: a.ExpectedRevision()}, a.Events...)
					if err != nil {
						errOnce.Do(func() { firstErr = fmt.Errorf("fill: append to %s: %w", a.Stream, err) })
						for range lifes { // drain so the generator ends
						}
						return
					}
					events.Add(int64(len(a.Events)))
					appends.Add(1)
					for {
						old := last.Load()
						if res.CommitPosition <= old || last.CompareAndSwap(old, res.CommitPosition) {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	elapsed := time.Since(start)
	b.events, b.lastPos = int(events.Load()), last.Load()
	b.fillRate.add(float64(b.events) / elapsed.Seconds())
	fmt.Printf("fill            %d events in %d appends (%.2f events an append) in %v: %s events/s%s\n",
		b.events, appends.Load(), float64(b.events)/float64(appends.Load()), elapsed.Round(time.Millisecond), group(b.fillRate.median()), benchcpu.Since(cpu))
	return nil
}

// prepareRaw reads the events back and folds them, in memory, into the
// batches the projector writes while catching up (cfg.batch events each).
func (b *bench) prepareRaw() error {
	start := time.Now()
	rs, err := b.client.ReadAll(context.Background(), esdb.ReadAllOptions{From: esdb.Start{}}, math.MaxInt64)
	if err != nil {
		return err
	}
	defer rs.Close()
	var events []projection.Event
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read $all: %w", err)
		}
		e, err := projection.Decode(projector.Recorded(re.OriginalEvent()))
		if err != nil {
			continue
		}
		events = append(events, e)
	}
	if b.reused {
		b.events = len(events)
	}
	if len(events) != b.events {
		return fmt.Errorf("read %d loan events back, appended %d", len(events), b.events)
	}
	apps := map[string]readmodel.Application{}
	size := b.cfg.batch
	for i := 0; i < len(events); i += size {
		chunk := events[i:min(i+size, len(events))]
		stored := map[string]readmodel.Application{}
		seen := map[string]bool{}
		var ids []string
		for _, e := range chunk {
			if seen[e.ApplicationID] {
				continue
			}
			seen[e.ApplicationID] = true
			ids = append(ids, e.ApplicationID)
			if a, ok := apps[e.ApplicationID]; ok {
				stored[e.ApplicationID] = a
			}
		}
		f := projection.NewFolder(stored, len(chunk))
		for _, e := range chunk {
			if err := f.Add(e); err != nil {
				return err
			}
		}
		batch := f.Batch(chunk[len(chunk)-1].Position)
		for _, a := range batch.Applications {
			apps[a.ID] = a
		}
		b.batches = append(b.batches, rawBatch{ids: ids, batch: batch})
	}
	b.wantApps, b.wantHistory = len(apps), len(events)
	fmt.Printf("raw input       %d events read back, decoded and folded into %d batches in memory in %v\n\n",
		len(events), len(b.batches), time.Since(start).Round(time.Millisecond))
	return nil
}

// freshSQLite opens a new read model at path: what an earlier, killed run
// left there is removed (writes onto a complete projection are no-ops and
// would give a flattering figure).
func (b *bench) freshSQLite(path string) (*sqlitestore.Store, int, error) {
	removeDB(path)
	return b.openSQLite(path)
}

func (b *bench) openSQLite(path string) (*sqlitestore.Store, int, error) {
	var opts []sqlitestore.Option
	if b.cfg.cacheMiB > 0 {
		opts = append(opts, sqlitestore.WithCacheKiB(b.cfg.cacheMiB<<10, b.cfg.cacheMiB<<10))
	}
	st, err := sqlitestore.Open(context.Background(), path, opts...)
	if err != nil {
		return nil, 0, err
	}
	gen, err := st.ActiveGeneration(context.Background())
	if err != nil {
		st.Close()
		return nil, 0, err
	}
	return st, gen, nil
}

// verify checks that a run projected everything: as many applications
// and history entries as the events make, and the checkpoint at the head
// (a figure for writes that did not happen would be worthless).
func (b *bench) verify(ctx context.Context, st *sqlitestore.Store, path string) error {
	cp, err := st.Position(ctx)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var apps, history int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM v_loan_applications), (SELECT count(*) FROM v_loan_history)`).Scan(&apps, &history); err != nil {
		return err
	}
	if cp < b.lastPos || apps != b.wantApps || history != b.wantHistory {
		return fmt.Errorf("incomplete projection: checkpoint %d of %d, %d of %d applications, %d of %d history entries",
			cp, b.lastPos, apps, b.wantApps, history, b.wantHistory)
	}
	return nil
}

func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
}

// rawRun applies the batches straight to a fresh sqlitestore: for each, the
// Applications read and the Apply the projector does.
func (b *bench) rawRun(r int) error {
	path := filepath.Join(b.dir, fmt.Sprintf("raw-%d.db", r))
	st, gen, err := b.freshSQLite(path)
	if err != nil {
		return err
	}
	defer removeDB(path)
	defer st.Close()
	ctx := context.Background()
	cpu := benchcpu.Now()
	start := time.Now()
	var reads time.Duration
	for _, rb := range b.batches {
		t := time.Now()
		if _, err := st.Applications(ctx, gen, rb.ids); err != nil {
			return err
		}
		reads += time.Since(t)
		if err := st.Apply(ctx, gen, rb.batch); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	use := benchcpu.Since(cpu)
	if err := b.verify(ctx, st, path); err != nil {
		return fmt.Errorf("raw run %d: %w", r+1, err)
	}
	b.raw.add(float64(b.events) / elapsed.Seconds())
	b.rawCPU = append(b.rawCPU, use)
	fmt.Printf("raw SQLite      run %d/%d: %s events/s (%v, of which Applications reads %.0f%%)%s\n", r+1, b.cfg.runs, group(b.raw.values[r]),
		elapsed.Round(time.Millisecond), 100*reads.Seconds()/elapsed.Seconds(), use)
	return nil
}

// ferret measures the MongoDB adapter on FerretDB: its own in-memory event
// store with cfg.ferretEvents events, the projector from checkpoint 0.
func (b *bench) ferret() error {
	setupCtx, cancelSetup := context.WithTimeout(context.Background(), ferretTimeoutTotal)
	defer cancelSetup()
	srv, err := docstore.Start(setupCtx, docstore.Config{Addr: "127.0.0.1:0", Dir: filepath.Join(b.dir, "ferretdb")})
	if err != nil {
		return err
	}
	defer srv.Close()
	es, conn, err := startEventStore(eventstore.Config{Logger: quiet})
	if err != nil {
		return err
	}
	defer es.Shutdown(context.Background())
	client, err := connect(conn)
	if err != nil {
		return err
	}
	defer client.Close()
	g := eventgen.New(3, epoch)
	var last uint64
	n := 0
	for n < b.cfg.ferretEvents {
		for _, a := range g.Lifecycle() {
			res, err := client.AppendToStream(setupCtx, a.Stream, esdb.AppendToStreamOptions{ExpectedRevision: a.ExpectedRevision()}, a.Events...)
			if err != nil {
				return err
			}
			n += len(a.Events)
			last = res.CommitPosition
		}
	}
	st, err := mongostore.Open(setupCtx, srv.URI())
	if err != nil {
		return fmt.Errorf("mongostore on FerretDB: %w", err)
	}
	defer st.Close()
	gen, err := st.ActiveGeneration(setupCtx)
	if err != nil {
		return err
	}
	// The projection gets at most ferretTimeout; the rate so far is reported.
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ferretTimeout)
	defer cancel()
	pconn, err := esdbconn.Dial(conn, nil)
	if err != nil {
		return err
	}
	defer pconn.Close(context.Background())
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	logger := quiet
	if b.cfg.verbose {
		logger = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	go func() { done <- projector.New(pconn, st, logger, projector.Options{}).Run(runCtx) }()
	defer func() { stopRun(); <-done }()
	var cp uint64
	for cp < last {
		c, err := st.Checkpoint(ctx, gen)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			return err
		}
		cp = c
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	b.ferretTook = time.Since(start)
	// The store holds loan events only: a position is the count so far.
	b.ferretEvents = int(min(cp, uint64(n)))
	b.ferretRate = float64(b.ferretEvents) / b.ferretTook.Seconds()
	if cp < last {
		b.ferretNote = fmt.Sprintf("did not finish: %d of %d events in %v", cp, n, b.ferretTook.Round(time.Second))
	}
	fmt.Printf("FerretDB        %d of %d events through the MongoDB adapter in %v: %s events/s\n", b.ferretEvents, n, b.ferretTook.Round(time.Millisecond), group(b.ferretRate))
	return nil
}
