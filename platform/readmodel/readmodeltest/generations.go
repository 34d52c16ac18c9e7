package readmodeltest

import (
	"errors"
	"slices"
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
)

// generationData is one generation's view of the world, distinct enough
// that reads show which generation answered.
type generationData struct {
	apps       []readmodel.Application
	history    []readmodel.HistoryEntry
	contribs   []readmodel.Contribution
	checkpoint uint64
}

func (g generationData) batch() readmodel.Batch {
	return readmodel.Batch{Applications: g.apps, History: g.history, Contributions: g.contribs, Checkpoint: g.checkpoint}
}

// readers sees what the Reader methods answer and fails unless it is g.
func readersSee(t *testing.T, st readmodel.Store, what string, g generationData) {
	t.Helper()
	if got := position(t, st); got != g.checkpoint {
		t.Errorf("%s: Position = %d; want %d", what, got, g.checkpoint)
	}
	for _, a := range g.apps {
		got, err := st.Get(t.Context(), a.ID)
		if err != nil {
			t.Errorf("%s: Get(%s): %v", what, a.ID, err)
			continue
		}
		checkApp(t, what+": Get", got, a)
	}
	items, _ := list(t, st, readmodel.Filter{}, readmodel.Page{Order: readmodel.OrderAmountAsc, Size: readmodel.MaxPageSize})
	if got, want := ids(items), reference(g.apps, readmodel.Filter{}, readmodel.OrderAmountAsc); !slices.Equal(got, want) {
		t.Errorf("%s: List = %v; want %v", what, got, want)
	}
	byApp := map[string][]readmodel.HistoryEntry{}
	for _, e := range g.history {
		byApp[e.ApplicationID] = append(byApp[e.ApplicationID], e)
	}
	for _, a := range g.apps {
		h := history(t, st, a.ID)
		if len(h) != len(byApp[a.ID]) {
			t.Errorf("%s: History(%s) has %d entries; want %d", what, a.ID, len(h), len(byApp[a.ID]))
			continue
		}
		for i := range h {
			checkEntry(t, what+": History", h[i], byApp[a.ID][i])
		}
	}
	wantDays, wantFunnel := sum(g.contribs, "2026-01-01", "2026-12-31")
	d, f := stats(t, st, "2026-01-01", "2026-12-31")
	checkStats(t, d, wantDays)
	checkFunnel(t, f, wantFunnel)
}

// generations: a rebuild projects into a new generation that readers see
// only once it is activated.
func (s suite) generations(t *testing.T) {
	// one is what generation 1 holds; two is a rebuild with other content
	// (one application changed, one more, other history and stats).
	one := generationData{
		apps:       []readmodel.Application{full(1, 10), app(2, 11, at(1), 900)},
		history:    []readmodel.HistoryEntry{entry(1, 10), entry(2, 11)},
		contribs:   []readmodel.Contribution{contrib(10, "2026-03-02", 1), contrib(11, "2026-03-03", 2)},
		checkpoint: 11,
	}
	changed := full(1, 30)
	changed.Status, changed.Amount = readmodel.StatusSigned, 99
	two := generationData{
		apps:       []readmodel.Application{changed, app(2, 11, at(1), 900), app(3, 31, at(2), 5000)},
		history:    []readmodel.HistoryEntry{entry(1, 10), entry(1, 30), entry(2, 11), entry(3, 31)},
		contribs:   []readmodel.Contribution{contrib(10, "2026-03-02", 5), contrib(11, "2026-03-04", 6), contrib(31, "2026-03-04", 7)},
		checkpoint: 40,
	}

	t.Run("NewStoreActiveIs1", func(t *testing.T) {
		st := s.open(t)
		if got := activeGeneration(t, st); got != 1 {
			t.Errorf("ActiveGeneration = %d on a new store; want 1", got)
		}
	})
	t.Run("NewGenerationIsNextAndEmpty", func(t *testing.T) {
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		g2 := newGeneration(t, st)
		if g2 != 2 {
			t.Errorf("first NewGeneration = %d; want 2", g2)
		}
		if got := checkpoint(t, st, g2); got != 0 {
			t.Errorf("Checkpoint(%d) = %d; want 0", g2, got)
		}
		got, err := st.Applications(t.Context(), g2, []string{id(1), id(2)})
		if err != nil || len(got) != 0 {
			t.Errorf("Applications(%d) = %v, %v; want empty", g2, got, err)
		}
		if g3 := newGeneration(t, st); g3 != 3 {
			t.Errorf("second NewGeneration = %d; want 3", g3)
		}
		if got := activeGeneration(t, st); got != gen {
			t.Errorf("ActiveGeneration = %d after NewGeneration; want still %d", got, gen)
		}
		// Empty tables: the new generation counts statistics from zero.
		apply(t, st, g2, readmodel.Batch{Checkpoint: one.checkpoint}) // caught up, with nothing in it
		activate(t, st, g2)
		readersSee(t, st, "activated empty generation", generationData{checkpoint: one.checkpoint})
	})
	t.Run("WritesToInactiveInvisible", func(t *testing.T) {
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		g2 := newGeneration(t, st)
		apply(t, st, g2, two.batch())
		readersSee(t, st, "before Activate", one)
		if got := checkpoint(t, st, g2); got != two.checkpoint {
			t.Errorf("Checkpoint(%d) = %d; want %d", g2, got, two.checkpoint)
		}
		if _, err := st.Get(t.Context(), id(3)); !isNotFound(err) {
			t.Errorf("Get of an application only in the inactive generation: %v; want ErrNotFound", err)
		}
		// And the active generation's writes do not leak into the new one.
		apply(t, st, gen, readmodel.Batch{Applications: []readmodel.Application{app(4, 12, at(0), 1)}, Checkpoint: 12})
		if got, _ := st.Applications(t.Context(), g2, []string{id(4)}); len(got) != 0 {
			t.Errorf("an application written to generation %d shows in generation %d", gen, g2)
		}
	})
	t.Run("ActivateSwitchesEveryRead", func(t *testing.T) {
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		g2 := newGeneration(t, st)
		apply(t, st, g2, two.batch())
		activate(t, st, g2)
		if got := activeGeneration(t, st); got != g2 {
			t.Errorf("ActiveGeneration = %d after Activate(%d)", got, g2)
		}
		readersSee(t, st, "after Activate", two)
		// The old generation is kept, untouched, until dropped: switching
		// back works once it has caught up.
		apply(t, st, gen, readmodel.Batch{Checkpoint: two.checkpoint})
		activate(t, st, gen)
		oneCaughtUp := one
		oneCaughtUp.checkpoint = two.checkpoint
		readersSee(t, st, "after switching back", oneCaughtUp)
	})
	t.Run("ActivateRefusesAGenerationBehind", func(t *testing.T) {
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		g2 := newGeneration(t, st)
		behind := two
		behind.checkpoint = one.checkpoint - 1
		apply(t, st, g2, behind.batch())
		err := st.Activate(t.Context(), g2)
		if !errors.Is(err, readmodel.ErrGenerationBehind) {
			t.Fatalf("Activate of generation %d at %d, the active one at %d: %v; want ErrGenerationBehind",
				g2, behind.checkpoint, one.checkpoint, err)
		}
		if got := activeGeneration(t, st); got != gen {
			t.Errorf("ActiveGeneration = %d after a refused Activate; want still %d", got, gen)
		}
		readersSee(t, st, "after a refused Activate", one)

		// At the same checkpoint it is caught up: activated.
		apply(t, st, g2, readmodel.Batch{Checkpoint: one.checkpoint})
		activate(t, st, g2)
		caughtUp := behind
		caughtUp.checkpoint = one.checkpoint
		readersSee(t, st, "after Activate at the active checkpoint", caughtUp)
	})
	t.Run("ActivateComparesWithTheActiveCheckpointNow", func(t *testing.T) {
		// The active generation keeps moving while a rebuild catches up:
		// what counts is its checkpoint at the switch.
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		g2 := newGeneration(t, st)
		apply(t, st, g2, readmodel.Batch{Checkpoint: one.checkpoint})
		apply(t, st, gen, readmodel.Batch{Checkpoint: one.checkpoint + 5})
		if err := st.Activate(t.Context(), g2); !errors.Is(err, readmodel.ErrGenerationBehind) {
			t.Fatalf("Activate of generation %d at %d, the active one moved on to %d: %v; want ErrGenerationBehind",
				g2, one.checkpoint, one.checkpoint+5, err)
		}
		if got := position(t, st); got != one.checkpoint+5 {
			t.Errorf("Position = %d after a refused Activate; want %d", got, one.checkpoint+5)
		}
		apply(t, st, g2, readmodel.Batch{Checkpoint: one.checkpoint + 9})
		activate(t, st, g2)
		if got := position(t, st); got != one.checkpoint+9 {
			t.Errorf("Position = %d after Activate; want %d", got, one.checkpoint+9)
		}
	})
	t.Run("ActivateActiveIsNoOp", func(t *testing.T) {
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		activate(t, st, gen)
		readersSee(t, st, "after Activate(active)", one)
	})
	t.Run("ActivateUnknownFails", func(t *testing.T) { // settled here
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		if err := st.Activate(t.Context(), gen+7); err == nil {
			t.Errorf("Activate of a generation that does not exist: no error")
		}
		readersSee(t, st, "after a failed Activate", one)
	})
	t.Run("DropGenerationRemovesInactive", func(t *testing.T) {
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		g2 := newGeneration(t, st)
		apply(t, st, g2, two.batch())
		activate(t, st, g2)
		if err := st.DropGeneration(t.Context(), gen); err != nil {
			t.Fatalf("DropGeneration(%d), inactive: %v", gen, err)
		}
		readersSee(t, st, "after dropping the old generation", two)
		if _, err := st.Checkpoint(t.Context(), gen); err == nil {
			t.Errorf("Checkpoint of a dropped generation: no error")
		}
		if err := st.Activate(t.Context(), gen); err == nil {
			t.Errorf("Activate of a dropped generation: no error")
		}
		if err := st.Apply(t.Context(), gen, one.batch()); err == nil {
			t.Errorf("Apply to a dropped generation: no error")
		}
		readersSee(t, st, "after writes to the dropped generation were refused", two)
	})
	t.Run("DropGenerationRefusesActive", func(t *testing.T) {
		st, gen := s.fresh(t)
		apply(t, st, gen, one.batch())
		if err := st.DropGeneration(t.Context(), gen); err == nil {
			t.Errorf("DropGeneration of the active generation: no error")
		}
		readersSee(t, st, "after refusing to drop the active generation", one)
	})
	t.Run("NumbersNeverReused", func(t *testing.T) { // settled here
		st, gen := s.fresh(t)
		g2 := newGeneration(t, st)
		apply(t, st, g2, two.batch())
		if err := st.DropGeneration(t.Context(), g2); err != nil {
			t.Fatalf("DropGeneration(%d): %v", g2, err)
		}
		g3 := newGeneration(t, st)
		if g3 <= g2 || g3 == gen {
			t.Errorf("NewGeneration after dropping %d = %d; want a number never used", g2, g3)
		}
		if got := checkpoint(t, st, g3); got != 0 {
			t.Errorf("Checkpoint(%d) = %d; want 0", g3, got)
		}
		if got, _ := st.Applications(t.Context(), g3, []string{id(1), id(3)}); len(got) != 0 {
			t.Errorf("a new generation holds a dropped one's applications: %v", got)
		}
	})
}

// position: Position is the active generation's checkpoint.
func (s suite) position(t *testing.T) {
	t.Run("EqualsActiveCheckpoint", func(t *testing.T) {
		st, gen := s.fresh(t)
		if got := position(t, st); got != 0 {
			t.Errorf("Position = %d on a new store; want 0", got)
		}
		apply(t, st, gen, readmodel.Batch{Checkpoint: 17})
		if got := position(t, st); got != 17 {
			t.Errorf("Position = %d; want 17", got)
		}
		g2 := newGeneration(t, st)
		apply(t, st, g2, readmodel.Batch{Checkpoint: 9})
		if got := position(t, st); got != 17 {
			t.Errorf("Position = %d after writing to an inactive generation; want 17", got)
		}
		if err := st.Activate(t.Context(), g2); !errors.Is(err, readmodel.ErrGenerationBehind) {
			t.Errorf("Activate of a generation at 9, the active one at 17: %v; want ErrGenerationBehind", err)
		}
		if got := position(t, st); got != 17 {
			t.Errorf("Position = %d after a refused Activate; want 17 still", got)
		}
		apply(t, st, g2, readmodel.Batch{Checkpoint: 23})
		activate(t, st, g2)
		if got := position(t, st); got != 23 {
			t.Errorf("Position = %d after Activate; want the new generation's 23", got)
		}
	})
}
