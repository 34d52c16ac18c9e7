package readmodeltest

import (
	"context"
	"errors"
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
)

// contextCanceled: every method fails on a cancelled context, and a failed
// Apply leaves nothing behind.
func (s suite) contextCanceled(t *testing.T) {
	st, gen := s.fresh(t)
	applyApps(t, st, gen, 1, app(1, 1, at(0), 1000))
	park(t, st, parkedEvent(1))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	b := readmodel.Batch{
		Applications:  []readmodel.Application{app(2, 2, at(0), 1000)},
		History:       []readmodel.HistoryEntry{entry(2, 2)},
		Contributions: []readmodel.Contribution{contrib(2, "2026-03-02", 1)},
		Checkpoint:    2,
	}
	for _, c := range []struct {
		name string
		call func() error
	}{
		{"ActiveGeneration", func() error { _, err := st.ActiveGeneration(ctx); return err }},
		{"Checkpoint", func() error { _, err := st.Checkpoint(ctx, gen); return err }},
		{"Applications", func() error { _, err := st.Applications(ctx, gen, []string{id(1)}); return err }},
		{"Apply", func() error { return st.Apply(ctx, gen, b) }},
		{"NewGeneration", func() error { _, err := st.NewGeneration(ctx); return err }},
		{"Activate", func() error { return st.Activate(ctx, gen) }},
		{"DropGeneration", func() error { return st.DropGeneration(ctx, gen+1) }},
		{"Park", func() error { return st.Park(ctx, parkedEvent(2)) }},
		{"Parked", func() error { _, err := st.Parked(ctx); return err }},
		{"Unpark", func() error { return st.Unpark(ctx, 1) }},
		{"Position", func() error { _, err := st.Position(ctx); return err }},
		{"Get", func() error { _, err := st.Get(ctx, id(1)); return err }},
		{"List", func() error { _, _, err := st.List(ctx, readmodel.Filter{}, readmodel.Page{}); return err }},
		{"History", func() error { _, err := st.History(ctx, id(1)); return err }},
		{"Stats", func() error { _, _, err := st.Stats(ctx, "2026-01-01", "2026-12-31"); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if err == nil {
				t.Fatalf("no error on a cancelled context")
			}
			if errors.Is(err, readmodel.ErrNotFound) || errors.Is(err, readmodel.ErrInvalidCursor) {
				t.Errorf("error %v is the port's own; want the context's", err)
			}
		})
	}
	t.Run("NothingChanged", func(t *testing.T) {
		if got := checkpoint(t, st, gen); got != 1 {
			t.Errorf("Checkpoint = %d; want 1", got)
		}
		if _, err := st.Get(t.Context(), id(2)); !isNotFound(err) {
			t.Errorf("Get of the cancelled batch's application: %v; want ErrNotFound", err)
		}
		if h := history(t, st, id(2)); len(h) != 0 {
			t.Errorf("the cancelled batch's history was written")
		}
		if d, _ := stats(t, st, "2026-01-01", "2026-12-31"); len(d) != 0 {
			t.Errorf("the cancelled batch's statistics were counted")
		}
		if got := activeGeneration(t, st); got != gen {
			t.Errorf("ActiveGeneration = %d; want %d", got, gen)
		}
		checkParked(t, parked(t, st), parkedEvent(1))
		if g := newGeneration(t, st); g != gen+1 {
			t.Logf("NewGeneration = %d after a cancelled one (a number may have been used up)", g)
		}
	})
}
