//go:build unix

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/devstack/proctest"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
	"github.com/loanflow/loans/projector-service/internal/projector"
	"github.com/loanflow/loans/projector-service/internal/projectortest"
)

// The crash test runs the projector service in a child process (this test
// binary, re-executed to run TestCrashChildProcess, which calls Main run),
// while the test appends lifecycles to an event store it runs itself. It
// kills the child with SIGKILL at random moments, restarts it on the same
// SQLite file, round after round; then stops appending, lets a last child
// catch up, stops it with SIGTERM, and checks that the read model equals
// both a fresh full replay into a new database and the independent fold.

const (
	crashChildEnv = "PROJECTOR_CRASH_CHILD" // makes TestCrashChildProcess run Main
	crashSeedEnv  = "PROJECTOR_CRASH_SEED"  // replays the kill delays and the events
)

// TestCrashChildProcess is not a test: it is the child process of
// TestCrash_KillAtRandomMomentsEndsAsAFreshReplay.
func TestCrashChildProcess(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("helper process of TestCrash_KillAtRandomMomentsEndsAsAFreshReplay; runs only when re-executed by it")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// End when the parent goes away, whatever killed it.
	proctest.WhenParentGone(stop)
	if code := Main(ctx, []string{"run", "-log-level", "info"}, os.Stdout, os.Stderr); code != exitOK {
		t.Fatalf("projector-service run: exit code %d", code)
	}
}

func TestCrash_KillAtRandomMomentsEndsAsAFreshReplay(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("this is the child process")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (replay the kill delays and events with %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	kills := 5
	if testing.Short() {
		kills = 2
	}

	es := eventstoretest.Start(t, eventstore.Config{})
	client := es.Client(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "readmodel.db")
	h := &crashHarness{t: t,
		env: []string{crashChildEnv + "=1", "EVENTSTORE_URL=" + es.ConnectionString, "READMODEL_URL=sqlite:" + path}}

	// Appenders write lifecycles (and some noise) all along.
	var (
		stopAppending atomic.Bool
		appended      atomic.Int64
		wg            sync.WaitGroup
		appendErr     = make(chan error, 2)
	)
	for w := range 2 {
		g := eventgen.New(seed+uint64(w), time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC))
		c := eventstoretest.Connect(t, es.ConnectionString)
		wg.Go(func() {
			for i := 0; !stopAppending.Load(); i++ {
				life := g.Lifecycle()
				if i%7 == 0 {
					life = append(life, g.Noise(3))
				}
				for _, a := range life {
					if _, err := c.AppendToStream(context.Background(), a.Stream, esdb.AppendToStreamOptions{ExpectedRevision: a.ExpectedRevision()}, a.Events...); err != nil {
						appendErr <- err
						return
					}
					appended.Add(int64(len(a.Events)))
				}
				time.Sleep(pause(w, i))
			}
		})
	}

	started := time.Now()
	for round := 1; round <= kills; round++ {
		child := h.start()
		delay := 300*time.Millisecond + time.Duration(rng.IntN(900))*time.Millisecond
		select { // the random moment of the kill
		case <-time.After(delay):
		case <-child.Exited():
			t.Fatalf("round %d: %s exited by itself before its kill: %v\n%s", round, child, child.ExitErr(), child.Log())
		}
		child.Kill()
		t.Logf("round %d: SIGKILL after %v; %d events appended so far, checkpoint %d", round, delay, appended.Load(), h.checkpoint(path))
		if t.Failed() {
			t.FailNow()
		}
	}
	stopAppending.Store(true)
	wg.Wait()
	select {
	case err := <-appendErr:
		t.Fatalf("append: %v", err)
	default:
	}

	t.Logf("kill rounds took %v", time.Since(started).Round(time.Millisecond))
	started = time.Now()
	// A last child catches up, then stops cleanly.
	model, lastLoan := projectortest.Fold(t, client)
	child := h.start()
	reader, err := sqlitestore.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	projectortest.WaitCheckpoint(t, reader, lastLoan, 2*time.Minute)
	t.Logf("the last child caught up in %v", time.Since(started).Round(time.Millisecond))
	child.Terminate(20 * time.Second)
	log := child.Log()
	for _, want := range []string{`"msg":"projector: stopped"`, `"service":"projector-service"`} {
		if !strings.Contains(log, want) {
			t.Errorf("the last child's log lacks %s:\n%s", want, log)
		}
	}
	for _, c := range h.children {
		if l := c.Log(); strings.Contains(l, "event parked") {
			t.Errorf("%s parked an event:\n%s", c, l)
		}
	}

	// A fresh replay into a new database.
	fresh, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "fresh.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	started = time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	conn := esdbconntest.Dial(t, es.ConnectionString)
	go func() { done <- projector.New(conn, fresh, quietLogger(), projector.Options{}).Run(ctx) }()
	projectortest.WaitCheckpoint(t, fresh, lastLoan, 2*time.Minute)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("the fresh replay took %v", time.Since(started).Round(time.Millisecond))
	got, want := projectortest.Read(t, reader), projectortest.Read(t, fresh)
	if d := projectortest.Diff(got, want); len(d) > 0 {
		t.Errorf("after %d kills the read model differs from a fresh replay:\n%s", kills, strings.Join(d, "\n"))
	}
	projectortest.Equal(t, reader, model)
	t.Logf("%d kills, %d events appended (%d applications), last loan event at %d", kills, appended.Load(), len(model.Applications), lastLoan)
}

// pause spaces a worker's lifecycles: 3 to 8 ms.
func pause(w, i int) time.Duration {
	return 3*time.Millisecond + time.Duration(((w+1)*7919+i*104729)%5000)*time.Microsecond
}

type crashHarness struct {
	t        *testing.T
	env      []string
	children []*proctest.Process
}

func (h *crashHarness) start() *proctest.Process {
	t := h.t
	t.Helper()
	cmd := proctest.Reexec(t, "TestCrashChildProcess")
	cmd.Env = append(os.Environ(), h.env...)
	c := proctest.Start(t, fmt.Sprintf("child %d", len(h.children)+1), cmd)
	h.children = append(h.children, c)
	return c
}

// checkpoint reads the read model's checkpoint (0 if there is none yet).
func (h *crashHarness) checkpoint(path string) uint64 {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	s, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		h.t.Errorf("open %s: %v", path, err)
		return 0
	}
	defer s.Close()
	p, err := s.Position(context.Background())
	if err != nil {
		h.t.Errorf("checkpoint: %v", err)
	}
	return p
}
