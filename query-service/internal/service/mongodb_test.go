package service_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/loanflow/loans/devstack/docstore/docstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// TestQueryService_OnMongoDB runs the queries once on the MongoDB adapter,
// against an embedded FerretDB: the same answers as on SQLite. (The
// adapters' own contract suite pins the details; this checks the wiring.)
func TestQueryService_OnMongoDB(t *testing.T) {
	e := newEnvOn(t, docstoretest.Start(t))
	const count = 40 // FerretDB is slow to write
	apps := seedList(t, e, count)
	id := uuidOf(3) // approved

	t.Run("GetLoanApplication", func(t *testing.T) {
		resp, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: e.b.Position()})
		if err != nil || resp.GetLoanApplication().GetStatus() != loansv1.LoanStatus_LOAN_STATUS_APPROVED {
			t.Fatalf("got %v, %v", resp, err)
		}
		_, err = e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: uuidOf(10_000)})
		refused(t, err, codes.NotFound, "LOAN_APPLICATION_NOT_FOUND")
	})
	t.Run("ListLoanApplications", func(t *testing.T) {
		for _, req := range []*loansv1.ListLoanApplicationsRequest{
			{PageSize: 30},
			{PageSize: 7, Order: loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_ASC, Applicant: "bob", MinAmount: 1000},
			{PageSize: 7, Statuses: []loansv1.LoanStatus{loansv1.LoanStatus_LOAN_STATUS_SIGNED}, RequestedAfter: timestamppb.New(at(10 * time.Hour))},
		} {
			got, _ := e.walk(t, req, nil)
			if want := expected(apps, req); !slices.Equal(got, want) {
				t.Errorf("%v:\n got %v\nwant %v", req, got, want)
			}
		}
	})
	t.Run("HistoryAndAsOf", func(t *testing.T) {
		h, err := e.client.GetLoanApplicationHistory(ctx(t), &loansv1.GetLoanApplicationHistoryRequest{LoanApplicationUuid: id})
		if err != nil || len(h.GetEntries()) != 4 || h.GetEntries()[0].GetPayload().GetFields()["applicant"].GetStringValue() != "ada" {
			t.Fatalf("history %v, %v", h, err)
		}
		a, err := e.client.GetLoanApplicationAt(ctx(t), &loansv1.GetLoanApplicationAtRequest{LoanApplicationUuid: id, At: h.GetEntries()[1].GetOccurredAt()})
		if err != nil || a.GetLoanApplication().GetStatus() != loansv1.LoanStatus_LOAN_STATUS_SUBMITTED {
			t.Fatalf("as of the submission %v, %v", a, err)
		}
	})
	t.Run("GetLoanStatistics", func(t *testing.T) {
		st, err := e.client.GetLoanStatistics(ctx(t), &loansv1.GetLoanStatisticsRequest{FromDay: "2026-11-01", ToDay: "2026-11-06"})
		if err != nil || len(st.GetDays()) != 6 || st.GetFunnel().GetRequested() != count {
			t.Fatalf("statistics %v, %v", st, err)
		}
		var requested int64
		for _, d := range st.GetDays() {
			requested += d.GetRequestedCount()
		}
		if requested != count {
			t.Errorf("%d requested over the days; want %d", requested, count)
		}
	})
}
