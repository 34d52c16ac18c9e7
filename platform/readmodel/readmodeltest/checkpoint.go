package readmodeltest

import (
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
)

// checkpoint: Apply moves a generation's checkpoint, with or without events.
func (s suite) checkpoint(t *testing.T) {
	t.Run("NewStoreIsZero", func(t *testing.T) {
		st, gen := s.fresh(t)
		if got := checkpoint(t, st, gen); got != 0 {
			t.Errorf("Checkpoint = %d on a new store; want 0", got)
		}
	})
	t.Run("ApplyRoundTrip", func(t *testing.T) {
		st, gen := s.fresh(t)
		applyApps(t, st, gen, 7, app(1, 7, at(0), 1000))
		if got := checkpoint(t, st, gen); got != 7 {
			t.Errorf("Checkpoint = %d; want 7", got)
		}
		applyApps(t, st, gen, 9, app(2, 9, at(0), 1000))
		if got := checkpoint(t, st, gen); got != 9 {
			t.Errorf("Checkpoint = %d; want 9", got)
		}
	})
	t.Run("EmptyBatchMovesIt", func(t *testing.T) {
		// Filtered-out events count: the checkpoint may pass the last event.
		st, gen := s.fresh(t)
		apply(t, st, gen, readmodel.Batch{Checkpoint: 1234})
		if got := checkpoint(t, st, gen); got != 1234 {
			t.Errorf("Checkpoint = %d; want 1234", got)
		}
	})
	t.Run("NeverMovesBackward", func(t *testing.T) { // settled here
		st, gen := s.fresh(t)
		apply(t, st, gen, readmodel.Batch{Checkpoint: 50})
		applyApps(t, st, gen, 20, app(1, 20, at(0), 1000))
		if got := checkpoint(t, st, gen); got != 50 {
			t.Errorf("Checkpoint = %d after a batch reaching 20; want it kept at 50", got)
		}
		// The batch's writes still happened (each guarded by its own position).
		get(t, st, id(1))
	})
	t.Run("UnknownGenerationFails", func(t *testing.T) { // settled here
		st, gen := s.fresh(t)
		if _, err := st.Checkpoint(t.Context(), gen+41); err == nil {
			t.Errorf("Checkpoint of generation %d that does not exist: no error", gen+41)
		}
		if err := st.Apply(t.Context(), gen+41, readmodel.Batch{Checkpoint: 3}); err == nil {
			t.Errorf("Apply to generation %d that does not exist: no error", gen+41)
		}
	})
}
