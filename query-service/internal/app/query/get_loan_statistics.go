package query

import (
	"context"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// Bounds of a statistics range, in days (both ends included).
const (
	DefaultStatisticsDays = 30
	MaxStatisticsDays     = 366
)

// DayLayout is how days are written: UTC dates such as "2026-11-25".
const DayLayout = "2006-01-02"

// GetLoanStatistics asks for the statistics of a range of UTC days. An
// empty ToDay is today; an empty FromDay is DefaultStatisticsDays days
// before ToDay, so that both empty are the last 30 days.
type GetLoanStatistics struct {
	FromDay, ToDay   string
	ConsistencyToken uint64
}

// Statistics are the days of the range, every one of them present (zero
// when nothing happened), the funnel over all time and the average time from
// submission to decision over the range (0 without decisions).
type Statistics struct {
	Days                   []readmodel.DailyStats
	Funnel                 readmodel.Funnel
	AverageDecisionSeconds float64
}

// GetLoanStatistics returns the statistics of the range. They name no one,
// so a caller allowed them at all sees them whole.
func (q *Queries) GetLoanStatistics(ctx context.Context, qry GetLoanStatistics) (Statistics, error) {
	if _, err := authorize(ctx, NameGetLoanStatistics); err != nil {
		return Statistics{}, err
	}
	to := q.now().UTC().Truncate(24 * time.Hour)
	if qry.ToDay != "" {
		var err error
		if to, err = parseDay("to_day", qry.ToDay); err != nil {
			return Statistics{}, err
		}
	}
	from := to.AddDate(0, 0, -(DefaultStatisticsDays - 1))
	if qry.FromDay != "" {
		var err error
		if from, err = parseDay("from_day", qry.FromDay); err != nil {
			return Statistics{}, err
		}
	}
	if from.After(to) {
		return Statistics{}, Invalid(ReasonDayRangeInvalid, "from_day %s is after to_day %s", from.Format(DayLayout), to.Format(DayLayout))
	}
	if n := days(from, to); n > MaxStatisticsDays {
		return Statistics{}, Invalid(ReasonDayRangeTooLong, "from %s to %s is %d days; at most %d at once",
			from.Format(DayLayout), to.Format(DayLayout), n, MaxStatisticsDays)
	}
	if err := q.catchUp(ctx, qry.ConsistencyToken); err != nil {
		return Statistics{}, err
	}
	stored, funnel, err := q.reader.Stats(ctx, from.Format(DayLayout), to.Format(DayLayout))
	if err != nil {
		return Statistics{}, err
	}
	byDay := make(map[string]readmodel.DailyStats, len(stored))
	for _, d := range stored {
		byDay[d.Day] = d
	}
	out := Statistics{Days: make([]readmodel.DailyStats, 0, days(from, to)), Funnel: funnel}
	var decisions int64
	var seconds float64
	for day := from; !day.After(to); day = day.AddDate(0, 0, 1) {
		d, ok := byDay[day.Format(DayLayout)]
		if !ok {
			d = readmodel.DailyStats{Day: day.Format(DayLayout)}
		}
		decisions += d.Decisions
		seconds += d.DecisionSecondsTotal
		out.Days = append(out.Days, d)
	}
	if decisions > 0 {
		out.AverageDecisionSeconds = seconds / float64(decisions)
	}
	return out, nil
}

// parseDay reads a UTC day written as DayLayout.
func parseDay(field, s string) (time.Time, error) {
	t, err := time.Parse(DayLayout, s)
	if err != nil || t.Format(DayLayout) != s {
		return time.Time{}, Invalid(ReasonDayInvalid, "%s must be a day written as 2026-11-25, got %s", field, quote(s))
	}
	return t, nil
}

// days counts the days from from to to, both included.
func days(from, to time.Time) int {
	return int(to.Sub(from)/(24*time.Hour)) + 1
}
