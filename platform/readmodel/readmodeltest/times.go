package readmodeltest

import (
	"testing"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// times: stores keep times at microsecond precision (truncated) and give
// them back in UTC; zero times stay zero.
func (s suite) times(t *testing.T) {
	paris := time.FixedZone("UTC+1", 3600)
	// Nanoseconds that a millisecond or a rounding store would get wrong.
	odd := time.Date(2026, 3, 2, 10, 11, 12, 345_678_999, paris)

	t.Run("MicrosecondsInUTC", func(t *testing.T) {
		st, gen := s.fresh(t)
		a := full(1, 5)
		a.RequestedAt, a.SubmittedAt, a.ReviewIssuedAt = odd, odd.Add(1), odd.Add(999)
		a.DecidedAt, a.ContractIssuedAt, a.ConcludedAt = odd.Add(1001), odd.Add(time.Hour), odd.Add(-time.Microsecond)
		a.UpdatedAt = odd.Add(24 * time.Hour)
		e := entry(1, 5)
		e.OccurredAt = odd
		p := parkedEvent(6)
		p.ParkedAt = odd
		apply(t, st, gen, readmodel.Batch{Applications: []readmodel.Application{a}, History: []readmodel.HistoryEntry{e}, Checkpoint: 5})
		park(t, st, p)

		got := get(t, st, a.ID)
		checkApp(t, "Get", got, a)
		if want := time.Date(2026, 3, 2, 9, 11, 12, 345_678_000, time.UTC); !got.RequestedAt.Equal(want) || got.RequestedAt.Location() != time.UTC {
			t.Errorf("RequestedAt = %s; want %s", ts(got.RequestedAt), ts(want))
		}
		byID, err := st.Applications(t.Context(), gen, []string{a.ID})
		if err != nil {
			t.Fatalf("Applications: %v", err)
		}
		checkApp(t, "Applications", byID[a.ID], a)
		items, _ := list(t, st, readmodel.Filter{}, readmodel.Page{})
		if len(items) == 1 {
			checkApp(t, "List", items[0], a)
		}
		if h := history(t, st, a.ID); len(h) == 1 {
			checkEntry(t, "History", h[0], e)
		}
		checkParked(t, parked(t, st), p)
	})
	t.Run("ZeroStaysZero", func(t *testing.T) {
		st, gen := s.fresh(t)
		a := app(1, 5, odd, 1000) // SubmittedAt and the others unset
		e := entry(1, 5)
		e.OccurredAt = time.Time{}
		apply(t, st, gen, readmodel.Batch{Applications: []readmodel.Application{a}, History: []readmodel.HistoryEntry{e}, Checkpoint: 5})
		checkApp(t, "Get", get(t, st, a.ID), a)
		if h := history(t, st, a.ID); len(h) == 1 {
			checkEntry(t, "History", h[0], e)
		}
	})
	t.Run("FilterBoundsAtStoredPrecision", func(t *testing.T) {
		st, gen := s.fresh(t)
		a := app(1, 5, odd, 1000)
		applyApps(t, st, gen, 5, a)
		stored := normTime(odd)
		for _, c := range []struct {
			name string
			f    readmodel.Filter
			want int
		}{
			{"AfterEqual", readmodel.Filter{RequestedAfter: stored}, 1},
			{"AfterOneMicroLater", readmodel.Filter{RequestedAfter: stored.Add(time.Microsecond)}, 0},
			{"BeforeEqual", readmodel.Filter{RequestedBefore: stored}, 0},
			{"BeforeOneMicroLater", readmodel.Filter{RequestedBefore: stored.Add(time.Microsecond)}, 1},
			{"InAnotherZone", readmodel.Filter{RequestedAfter: stored.In(paris), RequestedBefore: stored.In(paris).Add(time.Microsecond)}, 1},
		} {
			if items, _ := list(t, st, c.f, readmodel.Page{}); len(items) != c.want {
				t.Errorf("%s: %d items; want %d", c.name, len(items), c.want)
			}
		}
	})
}
