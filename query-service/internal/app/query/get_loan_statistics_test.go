package query_test

import (
	"testing"
	"time"

	"github.com/loanflow/loans/query-service/internal/app/query"
	"github.com/loanflow/loans/query-service/internal/fixture"
)

func TestQueries_GetLoanStatistics(t *testing.T) {
	reader := newFakeReader()
	// Two decisions on 2026-11-02 (60 s and 120 s), one on 2026-11-04 (300 s).
	b := fixture.New(0).
		Request(idA, 1000, 12, "ada", at(0)).Submit(idA, at(0)).Approve(idA, at(time.Minute)).
		Request(idB, 300, 12, "bob", at(0)).Submit(idB, at(0)).Deny(idB, "no", at(2*time.Minute))
	id3 := "22222222-2222-4222-8222-222222222222"
	b.Request(id3, 700, 12, "cy", at(48*time.Hour)).Submit(id3, at(48*time.Hour)).Approve(id3, at(48*time.Hour+5*time.Minute))
	reader.apply(b.Batch())
	today := time.Date(2026, 11, 25, 17, 30, 0, 0, time.UTC)
	q := query.New(reader, query.Config{Now: func() time.Time { return today }})
	stats := func(t *testing.T, from, to string) query.Statistics {
		t.Helper()
		st, err := q.GetLoanStatistics(asOps(t.Context()), query.GetLoanStatistics{FromDay: from, ToDay: to})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	t.Run("EveryDayOfTheRange", func(t *testing.T) {
		st := stats(t, "2026-11-01", "2026-11-05")
		if len(st.Days) != 5 {
			t.Fatalf("%d days; want 5", len(st.Days))
		}
		for i, day := range []string{"2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"} {
			if st.Days[i].Day != day {
				t.Errorf("day %d is %s; want %s", i, st.Days[i].Day, day)
			}
		}
		d := st.Days[1]
		if d.RequestedCount != 2 || d.RequestedAmount != 1300 || d.ApprovedCount != 1 || d.ApprovedAmount != 1000 ||
			d.DeniedCount != 1 || d.DeniedAmount != 300 || d.Decisions != 2 || d.DecisionSecondsTotal != 180 {
			t.Errorf("2026-11-02: %+v", d)
		}
		if st.Days[0].RequestedCount != 0 || st.Days[2].Decisions != 0 {
			t.Errorf("days without events are not zero: %+v %+v", st.Days[0], st.Days[2])
		}
		if st.AverageDecisionSeconds != 160 { // (60 + 120 + 300) / 3
			t.Errorf("average %v; want 160", st.AverageDecisionSeconds)
		}
		if st.Funnel.Requested != 3 || st.Funnel.Approved != 2 || st.Funnel.Denied != 1 {
			t.Errorf("funnel %+v", st.Funnel)
		}
	})
	t.Run("AverageOverTheRangeOnly", func(t *testing.T) {
		if st := stats(t, "2026-11-04", "2026-11-04"); st.AverageDecisionSeconds != 300 || len(st.Days) != 1 {
			t.Errorf("got %+v; want one day, average 300", st)
		}
	})
	t.Run("NoDecisionsAverageZero", func(t *testing.T) {
		if st := stats(t, "2026-10-01", "2026-10-31"); st.AverageDecisionSeconds != 0 || len(st.Days) != 31 {
			t.Errorf("got average %v over %d days; want 0 over 31", st.AverageDecisionSeconds, len(st.Days))
		}
	})
	t.Run("DefaultLast30Days", func(t *testing.T) {
		st := stats(t, "", "")
		if len(st.Days) != 30 || st.Days[0].Day != "2026-10-27" || st.Days[29].Day != "2026-11-25" {
			t.Fatalf("%d days from %s to %s; want 30 from 2026-10-27 to 2026-11-25", len(st.Days), st.Days[0].Day, st.Days[len(st.Days)-1].Day)
		}
		if reader.statsRange != [2]string{"2026-10-27", "2026-11-25"} {
			t.Errorf("the store was asked for %v", reader.statsRange)
		}
	})
	t.Run("FromDayAloneEndsToday", func(t *testing.T) {
		if st := stats(t, "2026-11-20", ""); len(st.Days) != 6 {
			t.Errorf("%d days; want 6", len(st.Days))
		}
	})
	t.Run("ToDayAloneIs30Days", func(t *testing.T) {
		if st := stats(t, "", "2026-02-28"); len(st.Days) != 30 || st.Days[0].Day != "2026-01-30" {
			t.Errorf("%d days from %s", len(st.Days), st.Days[0].Day)
		}
	})
	t.Run("At366Days", func(t *testing.T) {
		if st := stats(t, "2028-01-01", "2028-12-31"); len(st.Days) != 366 {
			t.Errorf("%d days; want 366", len(st.Days))
		}
	})
	t.Run("DayRangeTooLong", func(t *testing.T) {
		for _, r := range [][2]string{{"2026-01-01", "2027-01-02"}, {"0001-01-01", "9999-12-31"}} {
			_, err := q.GetLoanStatistics(asOps(t.Context()), query.GetLoanStatistics{FromDay: r[0], ToDay: r[1]})
			refusedWith(t, err, query.KindInvalidArgument, query.ReasonDayRangeTooLong)
		}
	})
	t.Run("DayRangeInvalid", func(t *testing.T) {
		_, err := q.GetLoanStatistics(asOps(t.Context()), query.GetLoanStatistics{FromDay: "2026-11-05", ToDay: "2026-11-04"})
		refusedWith(t, err, query.KindInvalidArgument, query.ReasonDayRangeInvalid)
	})
	t.Run("DayInvalid", func(t *testing.T) {
		for _, day := range []string{"2026-1-05", "2026/11/05", "2026-11-31", "yesterday", "2026-11-05T00:00:00Z"} {
			_, err := q.GetLoanStatistics(asOps(t.Context()), query.GetLoanStatistics{FromDay: day, ToDay: "2026-11-30"})
			refusedWith(t, err, query.KindInvalidArgument, query.ReasonDayInvalid)
			_, err = q.GetLoanStatistics(asOps(t.Context()), query.GetLoanStatistics{ToDay: day})
			refusedWith(t, err, query.KindInvalidArgument, query.ReasonDayInvalid)
		}
	})
}
