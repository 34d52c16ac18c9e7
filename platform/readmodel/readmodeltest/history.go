package readmodeltest

import (
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
)

// history: entries are keyed by position and listed oldest first.
func (s suite) history(t *testing.T) {
	t.Run("SameEntryTwiceStoredOnce", func(t *testing.T) {
		st, gen := s.fresh(t)
		e := entry(1, 5)
		apply(t, st, gen, readmodel.Batch{History: []readmodel.HistoryEntry{e, e}, Checkpoint: 5})
		apply(t, st, gen, readmodel.Batch{History: []readmodel.HistoryEntry{e}, Checkpoint: 5})
		// A redelivery with other content does not replace it either (settled
		// here: the first write of a position wins, as for parked events).
		other := e
		other.Actor = "someone else"
		apply(t, st, gen, readmodel.Batch{History: []readmodel.HistoryEntry{other}, Checkpoint: 5})
		h := history(t, st, e.ApplicationID)
		if len(h) != 1 {
			t.Fatalf("History has %d entries; want 1", len(h))
		}
		checkEntry(t, "History[0]", h[0], e)
	})
	t.Run("OldestFirstEveryFieldRoundTrips", func(t *testing.T) {
		st, gen := s.fresh(t)
		a7, a3, a12 := entry(1, 7), entry(1, 3), entry(1, 12)
		a3.EventType, a3.StatusAfter, a3.Revision = "LoanRequested", readmodel.StatusPendingSubmission, 0
		a12.Payload = []byte(`{}`)
		a12.CommandID, a12.CausationID = "", "" // emitted by a process manager without a command
		b4 := entry(2, 4)
		apply(t, st, gen, readmodel.Batch{History: []readmodel.HistoryEntry{a7, b4}, Checkpoint: 7})
		apply(t, st, gen, readmodel.Batch{History: []readmodel.HistoryEntry{a12, a3}, Checkpoint: 12})
		h := history(t, st, a7.ApplicationID)
		if len(h) != 3 {
			t.Fatalf("History has %d entries; want 3", len(h))
		}
		for i, want := range []readmodel.HistoryEntry{a3, a7, a12} {
			checkEntry(t, "History", h[i], want)
		}
		hb := history(t, st, b4.ApplicationID)
		if len(hb) != 1 {
			t.Fatalf("History of the other application has %d entries; want 1", len(hb))
		}
		checkEntry(t, "other History[0]", hb[0], b4)
	})
	t.Run("UnknownApplicationIsEmpty", func(t *testing.T) { // settled here
		st, gen := s.fresh(t)
		apply(t, st, gen, readmodel.Batch{History: []readmodel.HistoryEntry{entry(1, 1)}, Checkpoint: 1})
		h, err := st.History(t.Context(), id(2))
		if err != nil || len(h) != 0 {
			t.Errorf("History of an application without entries = %v, %v; want empty, nil", h, err)
		}
	})
	t.Run("ManyEntries", func(t *testing.T) {
		st, gen := s.fresh(t)
		var hs []readmodel.HistoryEntry
		for p := uint64(200); p >= 1; p-- { // given newest first
			hs = append(hs, entry(int(p%2), p))
		}
		apply(t, st, gen, readmodel.Batch{History: hs, Checkpoint: 200})
		h := history(t, st, id(0))
		if len(h) != 100 {
			t.Fatalf("History has %d entries; want 100", len(h))
		}
		for i, e := range h {
			if want := uint64(2 * (i + 1)); e.Position != want {
				t.Fatalf("History[%d].Position = %d; want %d", i, e.Position, want)
			}
		}
	})
}
