package readmodeltest

import (
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
)

// applications: an application is upserted only over one with a lower
// LastPosition, and reads back whole (Get for readers, Applications for the
// projector).
func (s suite) applications(t *testing.T) {
	t.Run("EveryFieldRoundTrips", func(t *testing.T) {
		st, gen := s.fresh(t)
		a := full(1, 10)
		b := app(2, 11, at(9), 700) // optional fields unset
		applyApps(t, st, gen, 11, a, b)
		checkApp(t, "Get full", get(t, st, a.ID), a)
		checkApp(t, "Get sparse", get(t, st, b.ID), b)
	})
	t.Run("OlderLastPositionNeverOverwrites", func(t *testing.T) {
		st, gen := s.fresh(t)
		a := full(1, 10)
		applyApps(t, st, gen, 10, a)
		older := a
		older.Status, older.Amount, older.LastPosition = readmodel.StatusSubmitted, 1, 9
		applyApps(t, st, gen, 10, older)
		checkApp(t, "after an older write", get(t, st, a.ID), a)
	})
	t.Run("EqualLastPositionNeverOverwrites", func(t *testing.T) {
		st, gen := s.fresh(t)
		a := full(1, 10)
		applyApps(t, st, gen, 10, a)
		same := a
		same.Status, same.Applicant = readmodel.StatusSigned, "someone else"
		applyApps(t, st, gen, 10, same)
		checkApp(t, "after a write at the same position", get(t, st, a.ID), a)
	})
	t.Run("HigherLastPositionOverwrites", func(t *testing.T) {
		st, gen := s.fresh(t)
		a := app(1, 10, at(0), 1000)
		applyApps(t, st, gen, 10, a)
		newer := full(1, 11) // every field changes, unset ones included
		applyApps(t, st, gen, 11, newer)
		checkApp(t, "after a newer write", get(t, st, a.ID), newer)
		// And a cleared field is cleared (not merged).
		cleared := app(1, 12, at(0), 1000)
		applyApps(t, st, gen, 12, cleared)
		checkApp(t, "after a write that unsets fields", get(t, st, a.ID), cleared)
	})
	t.Run("HigherLastPositionOverwritesTheStepsAlone", func(t *testing.T) {
		// The usual update: the terms, applicant and request time stay.
		st, gen := s.fresh(t)
		a := full(1, 10)
		applyApps(t, st, gen, 10, a)
		next := a
		next.Status, next.UpdatedAt, next.DenialReason, next.LastPosition = readmodel.StatusDenied, at(90), "too risky", 11
		next.DecidedAt, next.ContractIssuedAt, next.ConcludedAt = at(90), at(91), at(95)
		applyApps(t, st, gen, 11, next)
		checkApp(t, "after a newer write of the steps", get(t, st, a.ID), next)
		again := next
		again.Status, again.LastPosition = readmodel.StatusSigned, 11
		applyApps(t, st, gen, 11, again)
		checkApp(t, "after the same position again", get(t, st, a.ID), next)
	})
	t.Run("HigherWinsWithinOneBatch", func(t *testing.T) {
		st, gen := s.fresh(t)
		lo, hi := app(1, 5, at(0), 1000), full(1, 8)
		applyApps(t, st, gen, 8, hi, lo)
		checkApp(t, "higher first", get(t, st, hi.ID), hi)
		lo2, hi2 := app(2, 5, at(0), 1000), full(2, 8)
		applyApps(t, st, gen, 8, lo2, hi2)
		checkApp(t, "higher last", get(t, st, hi2.ID), hi2)
	})
	t.Run("ApplicationsReturnsStoredOnes", func(t *testing.T) {
		st, gen := s.fresh(t)
		a, b := full(1, 10), app(2, 11, at(3), 500)
		applyApps(t, st, gen, 11, a, b)
		got, err := st.Applications(t.Context(), gen, []string{a.ID, id(99), b.ID})
		if err != nil {
			t.Fatalf("Applications: %v", err)
		}
		if len(got) != 2 {
			t.Fatalf("Applications returned %d; want 2 (the missing ID absent): %v", len(got), got)
		}
		checkApp(t, "Applications[a]", got[a.ID], a)
		checkApp(t, "Applications[b]", got[b.ID], b)
		if _, ok := got[id(99)]; ok {
			t.Errorf("Applications has an entry for a missing ID")
		}
		none, err := st.Applications(t.Context(), gen, nil)
		if err != nil || len(none) != 0 {
			t.Errorf("Applications(no IDs) = %v, %v; want empty, nil", none, err)
		}
	})
	t.Run("ApplicationsReadsTheGivenGeneration", func(t *testing.T) {
		st, gen := s.fresh(t)
		applyApps(t, st, gen, 10, full(1, 10))
		g2 := newGeneration(t, st)
		got, err := st.Applications(t.Context(), g2, []string{id(1)})
		if err != nil || len(got) != 0 {
			t.Errorf("Applications(new generation) = %v, %v; want empty", got, err)
		}
	})
	t.Run("ManyInOneBatch", func(t *testing.T) {
		st, gen := s.fresh(t)
		var apps []readmodel.Application
		var want []string
		for i := range 150 {
			apps = append(apps, app(i, uint64(i+1), at(i), int64(1000+i)))
			want = append(want, id(i))
		}
		applyApps(t, st, gen, 150, apps...)
		got, err := st.Applications(t.Context(), gen, want)
		if err != nil || len(got) != 150 {
			t.Fatalf("Applications(150 IDs) = %d, %v; want 150", len(got), err)
		}
		for _, a := range apps {
			checkApp(t, "Applications", got[a.ID], a)
		}
	})
}

// get: Get finds an application by ID or says ErrNotFound.
func (s suite) get(t *testing.T) {
	t.Run("ErrNotFound", func(t *testing.T) {
		st, gen := s.fresh(t)
		if _, err := st.Get(t.Context(), id(1)); !isNotFound(err) {
			t.Errorf("Get on an empty store: %v; want ErrNotFound", err)
		}
		applyApps(t, st, gen, 1, app(1, 1, at(0), 1000))
		if _, err := st.Get(t.Context(), id(2)); !isNotFound(err) {
			t.Errorf("Get of a missing ID: %v; want ErrNotFound", err)
		}
		if _, err := st.Get(t.Context(), ""); !isNotFound(err) {
			t.Errorf("Get of the empty ID: %v; want ErrNotFound", err)
		}
	})
	t.Run("Found", func(t *testing.T) {
		st, gen := s.fresh(t)
		a := full(1, 3)
		applyApps(t, st, gen, 3, a, app(2, 2, at(0), 1))
		checkApp(t, "Get", get(t, st, a.ID), a)
	})
}
