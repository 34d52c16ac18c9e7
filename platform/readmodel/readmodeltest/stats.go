package readmodeltest

import (
	"slices"
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
)

// contrib is a contribution whose every counter differs (k scales them), so
// that a counter stored in the wrong column shows.
func contrib(pos uint64, day string, k int64) readmodel.Contribution {
	return readmodel.Contribution{
		Position: pos,
		Daily: readmodel.DailyStats{
			Day:            day,
			RequestedCount: k*100 + 1, RequestedAmount: k*100 + 2, SubmittedCount: k*100 + 3,
			ApprovedCount: k*100 + 4, ApprovedAmount: k*100 + 5, DeniedCount: k*100 + 6, DeniedAmount: k*100 + 7,
			SignedCount: k*100 + 8, SignedAmount: k*100 + 9, RejectedCount: k*100 + 10, RejectedAmount: k*100 + 11,
			Decisions:            k*100 + 12,
			DecisionSecondsTotal: float64(k)*0.1 + 0.25,
		},
		Funnel: readmodel.Funnel{
			Requested: k*10 + 1, Submitted: k*10 + 2, ReviewIssued: k*10 + 3, Approved: k*10 + 4,
			Denied: k*10 + 5, ContractIssued: k*10 + 6, Signed: k*10 + 7, Rejected: k*10 + 8,
		},
	}
}

// sum is what the contributions add up to, by day in order, and the funnel.
func sum(cs []readmodel.Contribution, from, to string) ([]readmodel.DailyStats, readmodel.Funnel) {
	byDay := map[string]*readmodel.DailyStats{}
	var order []string
	var f readmodel.Funnel
	for _, c := range cs {
		f.Add(c.Funnel)
		if c.Daily.Day < from || c.Daily.Day > to {
			continue
		}
		d, ok := byDay[c.Daily.Day]
		if !ok {
			d = &readmodel.DailyStats{Day: c.Daily.Day}
			byDay[c.Daily.Day] = d
			order = append(order, c.Daily.Day)
		}
		d.Add(c.Daily)
	}
	slices.Sort(order)
	var out []readmodel.DailyStats
	for _, day := range order {
		out = append(out, *byDay[day])
	}
	return out, f
}

func checkFunnel(t *testing.T, got, want readmodel.Funnel) {
	t.Helper()
	if got != want {
		t.Errorf("Funnel:\n got %+v\nwant %+v", got, want)
	}
}

// stats: each contribution is counted once, into its day and the funnel.
func (s suite) stats(t *testing.T) {
	const from, to = "2026-01-01", "2026-12-31"
	t.Run("EmptyStore", func(t *testing.T) {
		st, _ := s.fresh(t)
		d, f := stats(t, st, from, to)
		checkStats(t, d, nil)
		checkFunnel(t, f, readmodel.Funnel{})
	})
	t.Run("DaysAndFunnelSum", func(t *testing.T) {
		st, gen := s.fresh(t)
		var all []readmodel.Contribution
		pos := uint64(0)
		for b, days := range [][]string{
			{"2026-03-02", "2026-03-02", "2026-03-02"},               // one day, several times in a batch
			{"2026-03-02", "2026-03-03", "2026-03-03", "2026-03-05"}, // a day carried on, new days
			{"2026-03-05"},
			{"2026-02-27", "2026-03-05"}, // an earlier day after later ones (events' own times)
		} {
			var cs []readmodel.Contribution
			for i, day := range days {
				pos++
				cs = append(cs, contrib(pos, day, int64(b*10+i)))
			}
			all = append(all, cs...)
			apply(t, st, gen, readmodel.Batch{Contributions: cs, Checkpoint: pos})
		}
		wantDays, wantFunnel := sum(all, from, to)
		d, f := stats(t, st, from, to)
		checkStats(t, d, wantDays)
		checkFunnel(t, f, wantFunnel)
	})
	t.Run("SameBatchTwiceCountsOnce", func(t *testing.T) {
		st, gen := s.fresh(t)
		cs := []readmodel.Contribution{contrib(1, "2026-03-02", 1), contrib(2, "2026-03-02", 2), contrib(3, "2026-03-03", 3)}
		b := readmodel.Batch{Contributions: cs, Checkpoint: 3}
		apply(t, st, gen, b)
		apply(t, st, gen, b)
		wantDays, wantFunnel := sum(cs, from, to)
		d, f := stats(t, st, from, to)
		checkStats(t, d, wantDays)
		checkFunnel(t, f, wantFunnel)
	})
	t.Run("OverlappingBatchCountsEachOnce", func(t *testing.T) {
		st, gen := s.fresh(t)
		var cs []readmodel.Contribution
		for p := uint64(1); p <= 15; p++ {
			day := "2026-03-02"
			if p%3 == 0 {
				day = "2026-03-03"
			}
			cs = append(cs, contrib(p, day, int64(p)))
		}
		// 1..10, then 6..15 (a redelivery that goes on), then 12..13 again.
		apply(t, st, gen, readmodel.Batch{Contributions: cs[0:10], Checkpoint: 10})
		apply(t, st, gen, readmodel.Batch{Contributions: cs[5:15], Checkpoint: 15})
		apply(t, st, gen, readmodel.Batch{Contributions: cs[11:13], Checkpoint: 13})
		wantDays, wantFunnel := sum(cs, from, to)
		d, f := stats(t, st, from, to)
		checkStats(t, d, wantDays)
		checkFunnel(t, f, wantFunnel)
	})
	t.Run("OnlyDaysInRangeWithDataInOrder", func(t *testing.T) {
		st, gen := s.fresh(t)
		cs := []readmodel.Contribution{
			contrib(1, "2026-03-07", 1), contrib(2, "2026-03-01", 2), contrib(3, "2026-03-04", 3),
			contrib(4, "2026-03-02", 4), contrib(5, "2026-04-01", 5),
		}
		apply(t, st, gen, readmodel.Batch{Contributions: cs, Checkpoint: 5})
		for _, r := range [][2]string{
			{"2026-03-02", "2026-03-04"}, // both ends inclusive
			{"2026-03-02", "2026-03-02"}, // one day
			{"2026-03-05", "2026-03-06"}, // no data in range
			{"2026-03-01", "2026-03-31"},
			{"2026-04-02", "2026-03-01"}, // reversed: nothing
		} {
			wantDays, wantFunnel := sum(cs, r[0], r[1])
			d, f := stats(t, st, r[0], r[1])
			checkStats(t, d, wantDays)
			checkFunnel(t, f, wantFunnel) // over all time, whatever the range
		}
	})
	t.Run("DecisionSecondsTotalExact", func(t *testing.T) {
		st, gen := s.fresh(t)
		var cs []readmodel.Contribution
		for i, secs := range []float64{0.1, 0.2, 0.3, 86_399.999_999, 1e-6, 3 * 24 * 3600.5, 12_345.678_901} {
			c := readmodel.Contribution{Position: uint64(i + 1)}
			c.Daily = readmodel.DailyStats{Day: "2026-03-02", Decisions: 1, DecisionSecondsTotal: secs}
			cs = append(cs, c)
			apply(t, st, gen, readmodel.Batch{Contributions: []readmodel.Contribution{c}, Checkpoint: c.Position})
		}
		wantDays, _ := sum(cs, from, to)
		d, _ := stats(t, st, from, to)
		checkStats(t, d, wantDays)
	})
	t.Run("FunnelOnlyContribution", func(t *testing.T) {
		// An event that only moves the funnel (e.g. a review issued) has no day.
		st, gen := s.fresh(t)
		c := readmodel.Contribution{Position: 1, Funnel: readmodel.Funnel{ReviewIssued: 1}}
		apply(t, st, gen, readmodel.Batch{Contributions: []readmodel.Contribution{c}, Checkpoint: 1})
		d, f := stats(t, st, from, to)
		checkStats(t, d, nil)
		checkFunnel(t, f, c.Funnel)
	})
}
