package service_test

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

func TestQueryService_GetLoanStatistics(t *testing.T) {
	e := newEnv(t)
	// 2026-11-02: a requested 1000 and b requested 300, both submitted;
	// a approved after 60 s, b denied after 120 s. 2026-11-04: c requested
	// 700, approved after 300 s, contract issued and signed on 2026-11-05.
	a, b, c := uuidOf(1), uuidOf(2), uuidOf(3)
	e.b.Request(a, 1000, 12, "ada", at(0)).Submit(a, at(0)).Review(a, at(time.Second)).Approve(a, at(time.Minute)).
		Request(b, 300, 12, "bob", at(0)).Submit(b, at(0)).Review(b, at(time.Second)).Deny(b, "no", at(2*time.Minute)).
		Request(c, 700, 12, "cy", at(48*time.Hour)).Submit(c, at(48*time.Hour)).Review(c, at(48*time.Hour+time.Second)).
		Approve(c, at(48*time.Hour+5*time.Minute)).IssueContract(c, at(48*time.Hour+6*time.Minute)).Sign(c, at(72*time.Hour))
	e.apply(t)
	stats := func(t *testing.T, from, to string) *loansv1.GetLoanStatisticsResponse {
		t.Helper()
		resp, err := e.client.GetLoanStatistics(ctx(t), &loansv1.GetLoanStatisticsRequest{FromDay: from, ToDay: to})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	wantFunnel := &loansv1.Funnel{Requested: 3, Submitted: 3, ReviewIssued: 3, Approved: 2, Denied: 1, ContractIssued: 1, Signed: 1}

	t.Run("EveryDayOfTheRange", func(t *testing.T) {
		resp := stats(t, "2026-11-01", "2026-11-06")
		want := []*loansv1.DailyStatistics{
			{Day: "2026-11-01"},
			{Day: "2026-11-02", RequestedCount: 2, RequestedAmount: 1300, SubmittedCount: 2, ApprovedCount: 1, ApprovedAmount: 1000,
				DeniedCount: 1, DeniedAmount: 300, Decisions: 2, DecisionSecondsTotal: 180},
			{Day: "2026-11-03"},
			{Day: "2026-11-04", RequestedCount: 1, RequestedAmount: 700, SubmittedCount: 1, ApprovedCount: 1, ApprovedAmount: 700,
				Decisions: 1, DecisionSecondsTotal: 300},
			{Day: "2026-11-05", SignedCount: 1, SignedAmount: 700},
			{Day: "2026-11-06"},
		}
		if len(resp.GetDays()) != len(want) {
			t.Fatalf("%d days; want %d: %v", len(resp.GetDays()), len(want), resp.GetDays())
		}
		for i := range want {
			if !proto.Equal(resp.GetDays()[i], want[i]) {
				t.Errorf("day %d:\n got %v\nwant %v", i, resp.GetDays()[i], want[i])
			}
		}
		if resp.GetAverageDecisionSeconds() != 160 {
			t.Errorf("average %v; want (60+120+300)/3 = 160", resp.GetAverageDecisionSeconds())
		}
		if !proto.Equal(resp.GetFunnel(), wantFunnel) {
			t.Errorf("funnel %v; want %v", resp.GetFunnel(), wantFunnel)
		}
	})
	t.Run("OneDay", func(t *testing.T) {
		resp := stats(t, "2026-11-02", "2026-11-02")
		if len(resp.GetDays()) != 1 || resp.GetDays()[0].GetRequestedCount() != 2 || resp.GetAverageDecisionSeconds() != 90 {
			t.Errorf("got %v; want one day, average 90", resp)
		}
	})
	t.Run("NoDecisionsAverageZero", func(t *testing.T) {
		resp := stats(t, "2026-11-05", "2026-11-30")
		if len(resp.GetDays()) != 26 || resp.GetAverageDecisionSeconds() != 0 {
			t.Errorf("%d days, average %v; want 26 days, 0", len(resp.GetDays()), resp.GetAverageDecisionSeconds())
		}
		if !proto.Equal(resp.GetFunnel(), wantFunnel) {
			t.Errorf("the funnel is over all time: got %v", resp.GetFunnel())
		}
	})
	t.Run("DefaultLast30Days", func(t *testing.T) {
		before := time.Now().UTC().Format("2006-01-02")
		days := stats(t, "", "").GetDays()
		after := time.Now().UTC().Format("2006-01-02") // the call may straddle midnight
		if len(days) != 30 {
			t.Fatalf("%d days; want 30", len(days))
		}
		last, err := time.Parse("2006-01-02", days[29].GetDay())
		if err != nil || (days[29].GetDay() != before && days[29].GetDay() != after) ||
			days[0].GetDay() != last.AddDate(0, 0, -29).Format("2006-01-02") {
			t.Errorf("days from %s to %s; want the 30 days to today (%s)", days[0].GetDay(), days[29].GetDay(), after)
		}
	})
	t.Run("366DaysAtMost", func(t *testing.T) {
		if resp := stats(t, "2028-01-01", "2028-12-31"); len(resp.GetDays()) != 366 {
			t.Errorf("%d days; want 366", len(resp.GetDays()))
		}
		_, err := e.client.GetLoanStatistics(ctx(t), &loansv1.GetLoanStatisticsRequest{FromDay: "2026-01-01", ToDay: "2027-01-02"})
		refused(t, err, codes.InvalidArgument, "DAY_RANGE_TOO_LONG")
	})
	t.Run("DayRangeInvalid", func(t *testing.T) {
		_, err := e.client.GetLoanStatistics(ctx(t), &loansv1.GetLoanStatisticsRequest{FromDay: "2026-11-03", ToDay: "2026-11-02"})
		refused(t, err, codes.InvalidArgument, "DAY_RANGE_INVALID")
	})
	t.Run("DayInvalid", func(t *testing.T) {
		for _, day := range []string{"2026-11-2", "02/11/2026", "2026-02-30", "today"} {
			_, err := e.client.GetLoanStatistics(ctx(t), &loansv1.GetLoanStatisticsRequest{FromDay: day, ToDay: "2026-11-30"})
			refused(t, err, codes.InvalidArgument, "DAY_INVALID")
		}
	})
}
