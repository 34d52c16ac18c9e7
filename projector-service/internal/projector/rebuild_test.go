package projector_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projector"
	"github.com/loanflow/loans/projector-service/internal/projectortest"
)

// Commands keep coming while a rebuild runs; the running projector keeps the
// active generation moving. Readers must never go back: a consistency token
// they saw satisfied stays satisfied.
func TestProjector_Rebuild_AppendsDuringItNeverMoveReadersBack(t *testing.T) {
	e := newEnv(t)
	projectortest.AppendLifecycles(t, e.client, eventgen.New(13, t0), 1000, 8)
	_, last := projectortest.Fold(t, e.client)
	start(t, projector.New(e.conn, e.store, testLogger(t), fastOptions()))
	projectortest.WaitCheckpoint(t, e.reader, last, wait)
	old := active(t, e.store)

	appenders := startAppending(t, e.client, 14, 2)
	positions := watchPosition(t, e.reader)

	// Once the rebuild has begun writing, the running projector surely
	// moves the active generation past the head the rebuild started at.
	var during uint64
	rs := &hookedStore{Writer: e.store}
	rs.beforeApply = func() {
		during = projectortest.AppendLifecycles(t, e.client, eventgen.New(15, t0), 30, 2)
		projectortest.WaitCheckpoint(t, e.reader, during, wait)
	}
	// Around the switch itself: what readers see just before and just after.
	var before, after uint64
	rs.aroundActivate = func(activate func() error) error {
		before = position(t, e.reader)
		err := activate()
		after = position(t, e.reader)
		return err
	}
	res, err := projector.New(e.conn, rs, testLogger(t), fastOptions()).Rebuild(t.Context(), 0)
	appended := appenders.stop(t)
	backs := positions.stop()
	if err != nil {
		t.Fatalf("rebuild: %v", err)
	}
	if after < before {
		t.Errorf("the switch to generation %d moved readers back from position %d to %d", res.New, before, after)
	}
	if len(backs) > 0 {
		t.Errorf("readers went back during the rebuild:\n%s", strings.Join(backs, "\n"))
	}
	if res.Old != old || res.Checkpoint < during {
		t.Errorf("rebuild %+v: want generation %d replaced, at a checkpoint ≥ %d (written by the running projector during the rebuild)",
			res, old, during)
	}
	t.Logf("rebuild %+v; %d events appended during it; position %d → %d at the switch", res, appended, before, after)

	// The running projector follows the new generation; nothing is lost.
	projectortest.WaitCheckpoint(t, e.reader, max(last, during, appenders.last.Load()), wait)
	if got := active(t, e.store); got != res.New {
		t.Errorf("active generation %d, want %d", got, res.New)
	}
	model, _ := projectortest.Fold(t, e.client)
	projectortest.Equal(t, e.reader, model)
}

// A rebuild that cannot catch up with the active generation in time gives
// up with ErrRebuildBehind and leaves readers where they were.
func TestProjector_Rebuild_ChaseGivesUpAtItsDeadline(t *testing.T) {
	e := newEnv(t)
	last := projectortest.AppendLifecycles(t, e.client, eventgen.New(16, t0), 20, 2)
	old := active(t, e.store)
	// The active generation claims a position no event reaches (as one
	// written faster than the rebuild can follow would stay ahead).
	beyond := last + 1_000_000
	if err := e.store.Apply(t.Context(), old, readmodel.Batch{Checkpoint: beyond}); err != nil {
		t.Fatal(err)
	}
	opts := fastOptions()
	opts.ChaseTimeout = 300 * time.Millisecond
	_, err := projector.New(e.conn, e.store, testLogger(t), opts).Rebuild(t.Context(), 0)
	if !errors.Is(err, projector.ErrRebuildBehind) {
		t.Fatalf("rebuild behind an active generation out of reach: %v; want ErrRebuildBehind", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprint(beyond)) {
		t.Errorf("the error does not say where the active generation is (%d): %v", beyond, err)
	}
	if got := active(t, e.store); got != old {
		t.Errorf("active generation %d, want %d still", got, old)
	}
	if got := position(t, e.reader); got != beyond {
		t.Errorf("Position %d after the failed rebuild, want %d still", got, beyond)
	}
	if _, err := e.store.Checkpoint(t.Context(), old+1); err == nil {
		t.Errorf("the generation that did not catch up (%d) was not dropped", old+1)
	}
}

// hookedStore runs hooks on the rebuild's first Apply and around its
// Activate.
type hookedStore struct {
	readmodel.Writer
	applied        atomic.Bool
	beforeApply    func()
	aroundActivate func(activate func() error) error
}

func (h *hookedStore) Apply(ctx context.Context, gen int, b readmodel.Batch) error {
	if h.beforeApply != nil && !h.applied.Swap(true) {
		h.beforeApply()
	}
	return h.Writer.Apply(ctx, gen, b)
}

func (h *hookedStore) Activate(ctx context.Context, gen int) error {
	if h.aroundActivate == nil {
		return h.Writer.Activate(ctx, gen)
	}
	return h.aroundActivate(func() error { return h.Writer.Activate(ctx, gen) })
}

// appending is lifecycles appended by workers until stopped.
type appending struct {
	halt   atomic.Bool
	wg     sync.WaitGroup
	events atomic.Int64
	last   atomic.Uint64
	mu     sync.Mutex
	err    error
}

func startAppending(t *testing.T, c *esdb.Client, seed uint64, workers int) *appending {
	t.Helper()
	a := &appending{}
	for w := range workers {
		g := eventgen.New(seed+uint64(w)*1000, t0)
		a.wg.Go(func() {
			for !a.halt.Load() {
				for _, ap := range g.Lifecycle() {
					res, err := c.AppendToStream(context.Background(), ap.Stream, esdb.AppendToStreamOptions{ExpectedRevision: ap.ExpectedRevision()}, ap.Events...)
					if err != nil {
						a.mu.Lock()
						a.err = errors.Join(a.err, err)
						a.mu.Unlock()
						return
					}
					a.events.Add(int64(len(ap.Events)))
					for cur := a.last.Load(); cur < res.CommitPosition && !a.last.CompareAndSwap(cur, res.CommitPosition); cur = a.last.Load() {
					}
				}
			}
		})
	}
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop ends the appends and returns how many events were appended.
func (a *appending) stop(t *testing.T) int64 {
	t.Helper()
	a.halt.Store(true)
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		t.Errorf("appending: %v", a.err)
		a.err = nil
	}
	return a.events.Load()
}

// positionWatch is a reader polling Position in its own connection; it
// notes every step back.
type positionWatch struct {
	halt  atomic.Bool
	done  chan []string
	reads atomic.Int64
}

func watchPosition(t *testing.T, r readmodel.Reader) *positionWatch {
	w := &positionWatch{done: make(chan []string, 1)}
	go func() {
		var backs []string
		var seen uint64
		for !w.halt.Load() {
			p, err := r.Position(context.Background())
			w.reads.Add(1)
			switch {
			case err != nil:
				backs = append(backs, "Position: "+err.Error())
			case p < seen:
				backs = append(backs, fmt.Sprintf("position %d after %d", p, seen))
			}
			seen = max(seen, p)
			if len(backs) >= 10 {
				break
			}
			time.Sleep(time.Millisecond) // a reader's pace, not a synchronisation
		}
		w.done <- backs
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *positionWatch) stop() []string {
	if w.halt.Swap(true) {
		return nil
	}
	return <-w.done
}

func position(t *testing.T, r readmodel.Reader) uint64 {
	t.Helper()
	p, err := r.Position(context.Background())
	if err != nil {
		t.Fatalf("Position: %v", err)
	}
	return p
}
