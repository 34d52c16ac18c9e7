package service_test

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/readmodel"
)

// listed is how many applications seedList writes.
const listed = 130

// seedList writes count applications: three applicants, amounts with
// ties, requests an hour apart in pairs (ties again), and every status.
func seedList(t *testing.T, e *env, count int) []readmodel.Application {
	t.Helper()
	for n := range count {
		id := uuidOf(n)
		requested := at(time.Duration(n/2) * time.Hour)
		e.b.Request(id, int64(100+(n*37%50)*100), int32(6+n%30), []string{"ada", "bob", "cy"}[n%3], requested)
		step := func(k int) time.Time { return requested.Add(time.Duration(k) * time.Minute) }
		switch n % 8 {
		case 1:
			e.b.Submit(id, step(1))
		case 2:
			e.b.Submit(id, step(1)).Review(id, step(2))
		case 3:
			e.b.Submit(id, step(1)).Review(id, step(2)).Approve(id, step(3))
		case 4:
			e.b.Submit(id, step(1)).Review(id, step(2)).Deny(id, "no", step(3))
		case 5:
			e.b.Submit(id, step(1)).Review(id, step(2)).Approve(id, step(3)).IssueContract(id, step(4))
		case 6:
			e.b.Submit(id, step(1)).Review(id, step(2)).Approve(id, step(3)).IssueContract(id, step(4)).Sign(id, step(5))
		case 7:
			e.b.Submit(id, step(1)).Review(id, step(2)).Approve(id, step(3)).IssueContract(id, step(4)).Reject(id, "no", step(5))
		}
		if n%20 == 19 {
			e.apply(t)
		}
	}
	e.apply(t)
	apps := make([]readmodel.Application, 0, count)
	for n := range count {
		apps = append(apps, e.b.App(uuidOf(n)))
	}
	return apps
}

// expected is the reference answer: the applications the filter keeps, in
// the order asked, ties broken by ID in the key's direction.
func expected(apps []readmodel.Application, req *loansv1.ListLoanApplicationsRequest) []string {
	var out []readmodel.Application
	for _, a := range apps {
		if len(req.Statuses) > 0 && !slices.Contains(req.Statuses, protoStatus[a.Status]) ||
			req.Applicant != "" && a.Applicant != req.Applicant ||
			req.RequestedAfter != nil && a.RequestedAt.Before(req.RequestedAfter.AsTime()) ||
			req.RequestedBefore != nil && !a.RequestedAt.Before(req.RequestedBefore.AsTime()) ||
			req.MinAmount > 0 && a.Amount < req.MinAmount ||
			req.MaxAmount > 0 && a.Amount > req.MaxAmount {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b readmodel.Application) int {
		var c int
		desc := true
		switch req.Order {
		case loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_UNSPECIFIED, loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_DESC:
			c = a.RequestedAt.Compare(b.RequestedAt)
		case loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_ASC:
			c, desc = a.RequestedAt.Compare(b.RequestedAt), false
		case loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_DESC:
			c = cmp.Compare(a.Amount, b.Amount)
		case loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_ASC:
			c, desc = cmp.Compare(a.Amount, b.Amount), false
		case loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_UPDATED_AT_DESC:
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		}
		if c == 0 {
			c = cmp.Compare(a.ID, b.ID)
		}
		if desc {
			return -c
		}
		return c
	})
	ids := make([]string, len(out))
	for i, a := range out {
		ids[i] = a.ID
	}
	return ids
}

var protoStatus = map[readmodel.Status]loansv1.LoanStatus{
	readmodel.StatusPendingSubmission: loansv1.LoanStatus_LOAN_STATUS_PENDING_SUBMISSION,
	readmodel.StatusSubmitted:         loansv1.LoanStatus_LOAN_STATUS_SUBMITTED,
	readmodel.StatusPendingReview:     loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW,
	readmodel.StatusApproved:          loansv1.LoanStatus_LOAN_STATUS_APPROVED,
	readmodel.StatusDenied:            loansv1.LoanStatus_LOAN_STATUS_DENIED,
	readmodel.StatusPendingSignature:  loansv1.LoanStatus_LOAN_STATUS_PENDING_SIGNATURE,
	readmodel.StatusSigned:            loansv1.LoanStatus_LOAN_STATUS_SIGNED,
	readmodel.StatusRejected:          loansv1.LoanStatus_LOAN_STATUS_REJECTED,
}

// walk lists every page of a request and returns the IDs in order and the
// page sizes; it fails the test if the walk does not end.
func (e *env) walk(t *testing.T, req *loansv1.ListLoanApplicationsRequest, between func(page int)) (ids []string, pages []int) {
	t.Helper()
	req = proto.Clone(req).(*loansv1.ListLoanApplicationsRequest)
	for page := 0; ; page++ {
		if page > 2*listed {
			t.Fatalf("the walk does not end (%d pages)", page)
		}
		resp, err := e.client.ListLoanApplications(ctx(t), req)
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		pages = append(pages, len(resp.GetLoanApplications()))
		for _, a := range resp.GetLoanApplications() {
			ids = append(ids, a.GetLoanApplicationUuid())
		}
		if resp.GetNextPageToken() == "" {
			return ids, pages
		}
		if between != nil {
			between(page)
		}
		req.PageToken = resp.GetNextPageToken()
	}
}

func TestQueryService_ListLoanApplications(t *testing.T) {
	e := newEnv(t)
	apps := seedList(t, e, listed)
	ts := func(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(at(d)) }
	const (
		approved = loansv1.LoanStatus_LOAN_STATUS_APPROVED
		denied   = loansv1.LoanStatus_LOAN_STATUS_DENIED
		rejected = loansv1.LoanStatus_LOAN_STATUS_REJECTED
		signed   = loansv1.LoanStatus_LOAN_STATUS_SIGNED
	)
	filters := map[string]*loansv1.ListLoanApplicationsRequest{
		"All":                 {},
		"OneStatus":           {Statuses: []loansv1.LoanStatus{approved}},
		"SeveralStatuses":     {Statuses: []loansv1.LoanStatus{denied, rejected, signed}},
		"Applicant":           {Applicant: "bob"},
		"UnknownApplicant":    {Applicant: "zed"},
		"RequestedAfter":      {RequestedAfter: ts(40 * time.Hour)},  // inclusive
		"RequestedBefore":     {RequestedBefore: ts(10 * time.Hour)}, // exclusive
		"RequestedBetween":    {RequestedAfter: ts(10 * time.Hour), RequestedBefore: ts(20 * time.Hour)},
		"EmptyRequestedRange": {RequestedAfter: ts(10 * time.Hour), RequestedBefore: ts(10 * time.Hour)},
		"MinAmount":           {MinAmount: 4000},
		"MaxAmount":           {MaxAmount: 1000},
		"AmountRange":         {MinAmount: 1000, MaxAmount: 2000},
		"OneAmount":           {MinAmount: 2500, MaxAmount: 2500},
		"Everything":          {Statuses: []loansv1.LoanStatus{approved, signed, rejected}, Applicant: "ada", MinAmount: 500, MaxAmount: 4000, RequestedAfter: ts(5 * time.Hour), RequestedBefore: ts(60 * time.Hour)},
	}
	orders := []loansv1.LoanApplicationOrder{
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_UNSPECIFIED,
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_DESC,
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_ASC,
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_DESC,
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_ASC,
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_UPDATED_AT_DESC,
	}

	t.Run("EveryFilterAndOrder", func(t *testing.T) {
		for name, f := range filters {
			for _, o := range orders {
				t.Run(fmt.Sprintf("%s/%s", name, o), func(t *testing.T) {
					req := proto.Clone(f).(*loansv1.ListLoanApplicationsRequest)
					req.Order, req.PageSize = o, 9
					got, _ := e.walk(t, req, nil)
					want := expected(apps, req)
					if !slices.Equal(got, want) {
						t.Fatalf("got %d applications %v\nwant %d %v", len(got), got, len(want), want)
					}
				})
			}
		}
		if n := len(expected(apps, filters["Everything"])); n == 0 || n == listed {
			t.Errorf("the combined filter keeps %d applications: it tests nothing", n)
		}
	})
	t.Run("PageSizes", func(t *testing.T) {
		for _, c := range []struct {
			size  int32
			pages []int
		}{
			{0, []int{20, 20, 20, 20, 20, 20, 10}},              // default 20
			{13, []int{13, 13, 13, 13, 13, 13, 13, 13, 13, 13}}, // the last page full: no token after it
			{99, []int{99, 31}},
			{130, []int{100, 30}}, // above the maximum: 100
			{100, []int{100, 30}},
			{5000, []int{100, 30}},
			{1, nil}, // one at a time: 130 pages
		} {
			t.Run(fmt.Sprint(c.size), func(t *testing.T) {
				got, pages := e.walk(t, &loansv1.ListLoanApplicationsRequest{PageSize: c.size}, nil)
				if c.pages == nil {
					c.pages = slices.Repeat([]int{1}, listed)
				}
				if !slices.Equal(pages, c.pages) {
					t.Errorf("pages of %v; want %v", pages, c.pages)
				}
				if want := expected(apps, &loansv1.ListLoanApplicationsRequest{}); !slices.Equal(got, want) {
					t.Errorf("got %v\nwant %v", got, want)
				}
			})
		}
	})
	t.Run("ContentOfAnItem", func(t *testing.T) {
		resp, err := e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{Statuses: []loansv1.LoanStatus{denied}, PageSize: 1})
		if err != nil || len(resp.GetLoanApplications()) != 1 {
			t.Fatalf("got %v, %v", resp, err)
		}
		a := resp.GetLoanApplications()[0]
		one, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: a.GetLoanApplicationUuid()})
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(a, one.GetLoanApplication()) || a.GetDenialReason() != "no" || a.GetDecidedAt() == nil {
			t.Fatalf("listed %v\nget    %v", a, one.GetLoanApplication())
		}
	})
	t.Run("PageTokenInvalid", func(t *testing.T) {
		_, err := e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{PageToken: "not-a-token"})
		refused(t, err, codes.InvalidArgument, "PAGE_TOKEN_INVALID")
		first, err := e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{PageSize: 5})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{
			PageToken: first.GetNextPageToken(), Order: loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_ASC,
		})
		refused(t, err, codes.InvalidArgument, "PAGE_TOKEN_INVALID")
	})
	t.Run("PageSizeInvalid", func(t *testing.T) {
		_, err := e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{PageSize: -1})
		refused(t, err, codes.InvalidArgument, "PAGE_SIZE_INVALID")
	})
	t.Run("AmountRangeInvalid", func(t *testing.T) {
		for _, req := range []*loansv1.ListLoanApplicationsRequest{{MinAmount: 2001, MaxAmount: 2000}, {MinAmount: -1}, {MaxAmount: -5}} {
			_, err := e.client.ListLoanApplications(ctx(t), req)
			refused(t, err, codes.InvalidArgument, "AMOUNT_RANGE_INVALID")
		}
	})
	t.Run("RequestedRangeInvalid", func(t *testing.T) {
		_, err := e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{RequestedAfter: ts(time.Hour), RequestedBefore: ts(0)})
		refused(t, err, codes.InvalidArgument, "REQUESTED_RANGE_INVALID")
	})
	t.Run("StatusInvalid", func(t *testing.T) {
		for _, s := range []loansv1.LoanStatus{loansv1.LoanStatus_LOAN_STATUS_UNSPECIFIED, 42} {
			_, err := e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{Statuses: []loansv1.LoanStatus{approved, s}})
			refused(t, err, codes.InvalidArgument, "STATUS_INVALID")
		}
	})
	t.Run("OrderInvalid", func(t *testing.T) {
		_, err := e.client.ListLoanApplications(ctx(t), &loansv1.ListLoanApplicationsRequest{Order: 42})
		refused(t, err, codes.InvalidArgument, "ORDER_INVALID")
	})
}

// TestQueryService_ListLoanApplications_UnderWrites walks every page while
// new applications arrive between pages, on either side of the cursor: no
// item shows up twice and none present all along is lost.
func TestQueryService_ListLoanApplications_UnderWrites(t *testing.T) {
	for _, o := range []loansv1.LoanApplicationOrder{
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_DESC,
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_ASC,
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_DESC,
		loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_ASC,
	} {
		t.Run(o.String(), func(t *testing.T) {
			e := newEnv(t)
			apps := seedList(t, e, listed)
			before := expected(apps, &loansv1.ListLoanApplicationsRequest{Order: o})
			next := listed
			got, _ := e.walk(t, &loansv1.ListLoanApplicationsRequest{Order: o, PageSize: 10}, func(page int) {
				// One application at each end of every order, one in the middle.
				for _, c := range []struct {
					requested time.Duration
					amount    int64
				}{{-time.Duration(page+1) * time.Hour, 1}, {1000 * time.Hour, 1_000_000}, {30 * time.Hour, 2500}} {
					e.b.Request(uuidOf(next), c.amount, 12, "late", at(c.requested))
					next++
				}
				e.apply(t)
			})
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Fatalf("%s listed twice", id)
				}
				seen[id] = true
			}
			for _, id := range before {
				if !seen[id] {
					t.Errorf("%s, present all along, was not listed", id)
				}
			}
			// What was listed is in order: the reference order of all the
			// applications now stored, restricted to those listed.
			all := make([]readmodel.Application, 0, next)
			for n := range next {
				all = append(all, e.b.App(uuidOf(n)))
			}
			var want []string
			for _, id := range expected(all, &loansv1.ListLoanApplicationsRequest{Order: o}) {
				if seen[id] {
					want = append(want, id)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("listed out of order:\n got %v\nwant %v", got, want)
			}
			late := 0
			for n := listed; n < next; n++ {
				if seen[uuidOf(n)] {
					late++
				}
			}
			if late == 0 || late == next-listed {
				t.Errorf("%d of the %d applications added during the walk were listed; want those ahead of the cursor only", late, next-listed)
			}
			if next-listed < 3*5 {
				t.Errorf("only %d applications were added during the walk", next-listed)
			}
		})
	}
}
