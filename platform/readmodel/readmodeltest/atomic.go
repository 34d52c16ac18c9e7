package readmodeltest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// ActivateAtomic holds an adapter to the rule that stores with transactions
// (SQLite, a MongoDB replica set) keep: Activate's check against the active
// generation's checkpoint and its switch are one step, so an Apply to the
// active generation running at the same time lands either before both (and
// is checked) or after both. Adapters call it beside Run where their store
// has transactions; open returns a new, empty store and a second handle on
// the same data for the concurrent writer (a rebuild and the running
// projector are two processes), or the same store twice.
//
// A writer moves the active generation's checkpoint as fast as it can while
// Activate switches to a generation a little ahead of it. Each Activate
// either refuses (ErrGenerationBehind, nothing changed) or switches; after
// a switch, no Apply to the old generation that finished while it was still
// active may have gone past the new generation's checkpoint (readers would
// have gone back).
func ActivateAtomic(t *testing.T, open func(t *testing.T) (st, writer readmodel.Store)) {
	st, writer := open(t)
	active := activeGeneration(t, st)
	const rounds = 25
	deadline := time.Now().Add(time.Minute)
	var switched, refused int
	for round := 0; round < rounds && time.Now().Before(deadline); round++ {
		next := newGeneration(t, st)
		w := startCheckpointWriter(t, writer, active)
		for time.Now().Before(deadline) {
			target := checkpoint(t, st, active) + 2
			apply(t, st, next, readmodel.Batch{Checkpoint: target})
			err := st.Activate(t.Context(), next)
			if errors.Is(err, readmodel.ErrGenerationBehind) {
				refused++
				if got := activeGeneration(t, st); got != active {
					t.Fatalf("round %d: Activate(%d) refused, but the active generation is %d; want %d", round, next, got, active)
				}
				continue
			}
			if err != nil {
				t.Fatalf("round %d: Activate(%d): %v", round, next, err)
			}
			switched++
			if seen := w.stop(t); seen > target {
				t.Fatalf("round %d: generation %d was activated at checkpoint %d, but an Apply to generation %d reached %d "+
					"while that one was still active: readers went back", round, next, target, active, seen)
			}
			break
		}
		w.stop(t)
		active = next
	}
	if switched == 0 {
		t.Fatalf("no Activate switched in a minute (%d refused)", refused)
	}
	t.Logf("%d switches, %d refusals with the active generation moving", switched, refused)
}

// checkpointWriter moves a generation's checkpoint one by one until
// stopped, and notes the highest checkpoint it wrote while the generation
// was still the active one after the write.
type checkpointWriter struct {
	halt   atomic.Bool
	done   chan struct{}
	once   sync.Once
	seen   uint64
	failed error
}

func startCheckpointWriter(t *testing.T, st readmodel.Store, gen int) *checkpointWriter {
	w := &checkpointWriter{done: make(chan struct{})}
	start := checkpoint(t, st, gen)
	go func() {
		defer close(w.done)
		for cp := start + 1; !w.halt.Load(); cp++ {
			if err := st.Apply(t.Context(), gen, readmodel.Batch{Checkpoint: cp}); err != nil {
				w.failed = err
				return
			}
			// Read after the write: if gen is still active now, it was
			// when the write committed.
			g, err := st.ActiveGeneration(t.Context())
			if err != nil {
				w.failed = err
				return
			}
			if g != gen {
				return
			}
			w.seen = cp
		}
	}()
	return w
}

// stop ends the writer and returns the highest checkpoint it saw written
// while its generation was active.
func (w *checkpointWriter) stop(t *testing.T) uint64 {
	t.Helper()
	w.once.Do(func() {
		w.halt.Store(true)
		<-w.done
		if w.failed != nil {
			t.Fatalf("the writer of the active generation: %v", w.failed)
		}
	})
	return w.seen
}
