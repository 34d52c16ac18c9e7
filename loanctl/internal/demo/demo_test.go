package demo

import (
	"slices"
	"testing"
)

func TestPlan(t *testing.T) {
	plan := Plan(60, 7)
	t.Run("EveryOutcomeFirst", func(t *testing.T) {
		var first []Outcome
		for _, a := range plan[:len(Outcomes)] {
			first = append(first, a.Outcome)
		}
		slices.Sort(first)
		want := slices.Sorted(slices.Values(Outcomes))
		if !slices.Equal(first, want) {
			t.Errorf("first outcomes %v, want each of %v", first, want)
		}
	})
	t.Run("FourEyes", func(t *testing.T) {
		for _, a := range plan {
			if a.Officer == a.Applicant {
				t.Errorf("%s reviews their own application", a.Officer)
			}
			needsOfficer := a.Outcome != LeftPendingSubmission && a.Outcome != LeftPendingReview
			if needsOfficer != (a.Officer != "") || (a.Officer != "" && !slices.Contains(Officers, a.Officer)) {
				t.Errorf("%s outcome with officer %q", a.Outcome, a.Officer)
			}
		}
	})
	t.Run("ASpreadOfAmountsAndDurations", func(t *testing.T) {
		amounts, durs := map[int64]bool{}, map[int32]bool{}
		for _, a := range plan {
			if a.Amount < 500 || a.Amount > 250_000 || a.Amount%50 != 0 {
				t.Errorf("amount %d", a.Amount)
			}
			amounts[a.Amount], durs[a.Duration] = true, true
		}
		if len(amounts) < 30 || len(durs) < 5 {
			t.Errorf("%d amounts and %d durations in 60 applications", len(amounts), len(durs))
		}
	})
	t.Run("TheSeedGivesThePlan", func(t *testing.T) {
		again := Plan(60, 7)
		for i := range plan {
			a, b := plan[i], again[i]
			if a.Amount != b.Amount || a.Outcome != b.Outcome || a.Applicant != b.Applicant || a.ID == b.ID {
				t.Fatalf("application %d: %+v, then %+v", i, a, b)
			}
		}
	})
}
