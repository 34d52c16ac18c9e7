package projector_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/projector-service/internal/projector"
	"github.com/loanflow/loans/projector-service/internal/projectortest"
)

// outageEnv sets how long the event store outage of
// TestProjector_EventStoreOutage lasts (a Go duration); the is 30s.
const outageEnv = "PROJECTOR_OUTAGE"

// goroutineSlack is how far the goroutine count may wander without growing:
// the client's discovery dials and drops a connection every attempt, and
// after the outage the official client (v4.2.0) keeps the connection it
// lost track of (its reconnect forgets it without closing it: impl.go,
// case reconnect), four goroutines that keep redialling the store.
const goroutineSlack = 8

// The event store goes away for longer than the official client's own
// discovery lasts (after which, on its defaults, it is dead for good);
// commands keep being appended meanwhile. The projector waits it out
// without piling up goroutines, says it is not ready, and once the store is
// back resumes where it was: nothing lost, nothing twice.
func TestProjector_EventStoreOutage(t *testing.T) {
	outage := 3 * time.Second
	if s := os.Getenv(outageEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("%s=%q: %v", outageEnv, s, err)
		}
		outage = d
	}
	if discovery := defaultDiscovery(t); outage < 2*discovery {
		t.Fatalf("an outage of %v is not clearly longer than the client's default discovery (%v): it would show nothing", outage, discovery)
	}
	es := eventstoretest.Start(t, eventstore.Config{})
	client := es.Client(t) // the commands' way in, not through the proxy
	proxy := esdbconntest.NewProxy(t, es.Addr.String())
	conn := esdbconntest.Dial(t, proxy.ConnectionString())
	path := filepath.Join(t.TempDir(), "readmodel.db")
	store, reader := openStore(t, path), openStore(t, path)

	g := eventgen.New(17, t0)
	projectortest.AppendLifecycles(t, client, g, 100, 4)
	_, before := projectortest.Fold(t, client) // the last loan event: noise moves no checkpoint
	p := projector.New(conn, store, testLogger(t), fastOptions())
	start(t, p)
	projectortest.WaitCheckpoint(t, reader, before, wait)
	waitReady(t, p)
	goroutinesBefore := runtime.NumGoroutine()
	checkpoint := position(t, reader)

	proxy.Cut()
	cut := time.Now()
	projectortest.AppendLifecycles(t, client, g, 100, 4)
	model, during := projectortest.Fold(t, client)
	eventually(t, wait, func() (bool, string) {
		err := p.Ready(readyCtx(t))
		return errors.Is(err, projector.ErrNotReady), fmt.Sprintf("Ready with the event store cut off: %v", err)
	})
	t.Logf("not ready %v after the cut: %v", time.Since(cut).Round(time.Millisecond), p.Ready(readyCtx(t)))

	// Through the outage: still not ready, nothing projected, and no
	// goroutine growth once the first failures have settled (counted from
	// when the client's default discovery would have given up): the count
	// in the outage's second half is that of its first half.
	var counts []int
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for time.Since(cut) < outage {
		<-tick.C
		if time.Since(cut) > 2*defaultDiscovery(t) {
			counts = append(counts, runtime.NumGoroutine())
		}
		if err := p.Ready(readyCtx(t)); err == nil {
			t.Fatalf("Ready %v into the outage: nil", time.Since(cut).Round(time.Millisecond))
		}
	}
	if len(counts) < 4 {
		t.Fatalf("%d goroutine counts during the outage: too short to tell", len(counts))
	}
	settled, later := median(counts[:len(counts)/2]), median(counts[len(counts)/2:])
	grown := slices.Max(counts) - settled
	if got := position(t, reader); got != checkpoint {
		t.Errorf("checkpoint %d during the outage; want %d, where it was", got, checkpoint)
	}
	if later > settled+1 || grown > goroutineSlack {
		t.Errorf("goroutines during the outage: %d (median) in its first half, %d in its second, at most %d more at any time; "+
			"want no growth (within %d)", settled, later, grown, goroutineSlack)
	}
	t.Logf("outage of %v: goroutines %d before, %d and %d during (medians of its halves, at most %d more at any time)",
		outage, goroutinesBefore, settled, later, grown)

	proxy.Restore()
	restored := time.Now()
	projectortest.WaitCheckpoint(t, reader, during, wait)
	t.Logf("caught up %v after the store came back", time.Since(restored).Round(time.Millisecond))
	projectortest.Equal(t, reader, model)
	if p := parked(t, store); len(p) != 0 {
		t.Errorf("parked %+v, want none", p)
	}
	waitReady(t, p)
	eventually(t, wait, func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= goroutinesBefore+goroutineSlack, fmt.Sprintf("%d goroutines after the outage, %d before", n, goroutinesBefore)
	})
	t.Logf("goroutines after the outage: %d", runtime.NumGoroutine())
}

func median(xs []int) int {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// defaultDiscovery is how long the official client, on its defaults, tries
// to find the store before giving up for good.
func defaultDiscovery(t *testing.T) time.Duration {
	cfg, err := esdb.ParseConnectionString("esdb://127.0.0.1:1?tls=false")
	if err != nil {
		t.Fatal(err)
	}
	return time.Duration(cfg.MaxDiscoverAttempts) * time.Duration(cfg.DiscoveryInterval) * time.Millisecond
}

func readyCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}

func waitReady(t *testing.T, p *projector.Projector) {
	t.Helper()
	eventually(t, wait, func() (bool, string) {
		err := p.Ready(readyCtx(t))
		return err == nil, fmt.Sprintf("Ready: %v", err)
	})
}

// Ready says no until Run has caught up, and again once it has stopped.
func TestProjector_Ready(t *testing.T) {
	e := newEnv(t)
	projectortest.AppendLifecycles(t, e.client, eventgen.New(18, t0), 20, 2)
	p := projector.New(e.conn, e.store, testLogger(t), fastOptions())
	if err := p.Ready(readyCtx(t)); !errors.Is(err, projector.ErrNotReady) || !strings.Contains(err.Error(), "not started") {
		t.Errorf("Ready before Run: %v; want ErrNotReady, not started", err)
	}
	r := start(t, p)
	waitReady(t, p)
	r.stop(t)
	if err := p.Ready(readyCtx(t)); !errors.Is(err, projector.ErrNotReady) || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("Ready after Run returned: %v; want ErrNotReady, stopped", err)
	}
}
