package readmodeltest

import (
	"fmt"
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
)

func parkedEvent(pos uint64) readmodel.ParkedEvent {
	return readmodel.ParkedEvent{
		Position:  pos,
		Stream:    fmt.Sprintf("loanRequest-%s", id(int(pos))),
		EventType: "LoanApproved",
		EventID:   fmt.Sprintf("6a1d2e1c-4a0e-4c57-9c1e-%012d", pos),
		Error:     fmt.Sprintf("projecting: unexpected status %d", pos),
		ParkedAt:  at(int(100 - pos)).Add(987_654_321), // parked in another order than positions
	}
}

func park(t *testing.T, st readmodel.Store, e readmodel.ParkedEvent) {
	t.Helper()
	if err := st.Park(t.Context(), e); err != nil {
		t.Fatalf("Park(%d): %v", e.Position, err)
	}
}

func unpark(t *testing.T, st readmodel.Store, pos uint64) {
	t.Helper()
	if err := st.Unpark(t.Context(), pos); err != nil {
		t.Fatalf("Unpark(%d): %v", pos, err)
	}
}

// parked: events the projector could not project, kept for replay.
func (s suite) parked(t *testing.T) {
	t.Run("EmptyStore", func(t *testing.T) {
		st := s.open(t)
		checkParked(t, parked(t, st))
	})
	t.Run("OldestFirstEveryFieldRoundTrips", func(t *testing.T) { // by position: settled here
		st := s.open(t)
		for _, p := range []uint64{30, 5, 12} {
			park(t, st, parkedEvent(p))
		}
		checkParked(t, parked(t, st), parkedEvent(5), parkedEvent(12), parkedEvent(30))
	})
	t.Run("ParkIdempotentByPosition", func(t *testing.T) {
		st := s.open(t)
		park(t, st, parkedEvent(5))
		park(t, st, parkedEvent(5))
		again := parkedEvent(5)
		again.Error, again.ParkedAt = "failed again", at(500)
		park(t, st, again) // the first one is kept: settled here
		checkParked(t, parked(t, st), parkedEvent(5))
	})
	t.Run("UnparkRemovesOne", func(t *testing.T) {
		st := s.open(t)
		for _, p := range []uint64{3, 4, 5} {
			park(t, st, parkedEvent(p))
		}
		unpark(t, st, 4)
		checkParked(t, parked(t, st), parkedEvent(3), parkedEvent(5))
	})
	t.Run("UnparkIdempotent", func(t *testing.T) { // settled here
		st := s.open(t)
		park(t, st, parkedEvent(3))
		unpark(t, st, 3)
		unpark(t, st, 3)
		unpark(t, st, 99)
		checkParked(t, parked(t, st))
	})
	t.Run("NotPerGeneration", func(t *testing.T) {
		// Parked events belong to the store, not to a generation.
		st := s.open(t)
		park(t, st, parkedEvent(3))
		g2 := newGeneration(t, st)
		activate(t, st, g2)
		checkParked(t, parked(t, st), parkedEvent(3))
	})
}
