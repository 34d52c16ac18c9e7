package service_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// ok decodes a 200 JSON answer into m.
func (r restReply) ok(t *testing.T, m proto.Message) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("HTTP %d %s; want 200", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q; want application/json", ct)
	}
	if err := protojson.Unmarshal(r.body, m); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// refused checks an error answer: the HTTP status and a google.rpc.Status
// body with the gRPC code and an ErrorInfo of this reason.
func (r restReply) refused(t *testing.T, httpStatus int, code codes.Code, reason string) *errdetails.ErrorInfo {
	t.Helper()
	if r.status != httpStatus {
		t.Fatalf("HTTP %d %s; want %d %s", r.status, r.body, httpStatus, reason)
	}
	var st spb.Status
	if err := protojson.Unmarshal(r.body, &st); err != nil {
		t.Fatalf("body %s is not a google.rpc.Status: %v", r.body, err)
	}
	if codes.Code(st.GetCode()) != code || st.GetMessage() == "" {
		t.Fatalf("body %s; want code %s and a message", r.body, code)
	}
	for _, d := range st.GetDetails() {
		info := &errdetails.ErrorInfo{}
		if d.UnmarshalTo(info) == nil {
			if info.GetReason() != reason || info.GetDomain() != errorDomain {
				t.Fatalf("ErrorInfo %s/%s; want %s/%s", info.GetDomain(), info.GetReason(), errorDomain, reason)
			}
			return info
		}
	}
	t.Fatalf("body %s has no ErrorInfo", r.body)
	return nil
}

func TestQueryService_REST(t *testing.T) {
	e := newEnv(t)
	id, other := uuidOf(1), uuidOf(2)
	e.b.Request(id, 12_000, 24, "ada", at(0)).Submit(id, at(time.Minute)).Review(id, at(2*time.Minute)).Approve(id, at(time.Hour)).
		Request(other, 500, 6, "ada", at(time.Hour)).Submit(other, at(2*time.Hour)).Review(other, at(2*time.Hour)).Deny(other, "no", at(3*time.Hour))
	e.apply(t)

	t.Run("GetLoanApplication200", func(t *testing.T) {
		r := e.get(t, "/v1/loan-applications/"+id)
		var fields struct {
			LoanApplication map[string]any `json:"loanApplication"`
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &fields) != nil {
			t.Fatalf("HTTP %d %s", r.status, r.body)
		}
		for name, want := range map[string]any{
			"loanApplicationUuid": id, "amount": "12000", "duration": float64(24), "status": "LOAN_STATUS_APPROVED",
			"applicant": "ada", "requestedAt": "2026-11-02T09:00:00Z", "decidedAt": "2026-11-02T10:00:00Z",
		} {
			if got := fields.LoanApplication[name]; got != want {
				t.Errorf("loanApplication.%s = %#v; want %#v (body %s)", name, got, want, r.body)
			}
		}
		var resp loansv1.GetLoanApplicationResponse
		r.ok(t, &resp)
		grpcResp, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id})
		if err != nil || !proto.Equal(&resp, grpcResp) {
			t.Errorf("REST %v\ngRPC %v (%v)", &resp, grpcResp, err)
		}
	})
	t.Run("ListLoanApplications200", func(t *testing.T) {
		q := url.Values{
			"statuses":       {"LOAN_STATUS_APPROVED", "LOAN_STATUS_DENIED"},
			"applicant":      {"ada"},
			"minAmount":      {"100"},
			"max_amount":     {"20000"}, // proto names work too
			"order":          {"LOAN_APPLICATION_ORDER_AMOUNT_ASC"},
			"pageSize":       {"1"},
			"requestedAfter": {"2026-11-02T09:00:00Z"},
		}
		var first, second loansv1.ListLoanApplicationsResponse
		e.get(t, "/v1/loan-applications?"+q.Encode()).ok(t, &first)
		if len(first.GetLoanApplications()) != 1 || first.GetLoanApplications()[0].GetLoanApplicationUuid() != other || first.GetNextPageToken() == "" {
			t.Fatalf("first page %v", &first)
		}
		q.Set("pageToken", first.GetNextPageToken())
		e.get(t, "/v1/loan-applications?"+q.Encode()).ok(t, &second)
		if len(second.GetLoanApplications()) != 1 || second.GetLoanApplications()[0].GetLoanApplicationUuid() != id || second.GetNextPageToken() != "" {
			t.Fatalf("second page %v", &second)
		}
	})
	t.Run("GetLoanApplicationHistory200", func(t *testing.T) {
		var resp loansv1.GetLoanApplicationHistoryResponse
		e.get(t, "/v1/loan-applications/"+other+"/history").ok(t, &resp)
		if len(resp.GetEntries()) != 4 || resp.GetEntries()[3].GetEventType() != "LoanDenied" ||
			resp.GetEntries()[3].GetPayload().GetFields()["reason"].GetStringValue() != "no" {
			t.Fatalf("history %v", &resp)
		}
	})
	t.Run("GetLoanApplicationAt200", func(t *testing.T) {
		var resp loansv1.GetLoanApplicationAtResponse
		e.get(t, "/v1/loan-applications/"+id+"/as-of?at=2026-11-02T09:30:00Z").ok(t, &resp)
		if resp.GetLoanApplication().GetStatus() != loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW {
			t.Fatalf("as of 09:30 %v", &resp)
		}
	})
	t.Run("GetLoanStatistics200", func(t *testing.T) {
		var resp loansv1.GetLoanStatisticsResponse
		e.get(t, "/v1/loan-statistics?fromDay=2026-11-01&toDay=2026-11-03").ok(t, &resp)
		if len(resp.GetDays()) != 3 || resp.GetDays()[1].GetRequestedCount() != 2 || resp.GetFunnel().GetDenied() != 1 {
			t.Fatalf("statistics %v", &resp)
		}
		if resp.GetAverageDecisionSeconds() != (3540.0+3600.0)/2 {
			t.Errorf("average %v", resp.GetAverageDecisionSeconds())
		}
	})
	t.Run("400", func(t *testing.T) {
		for path, reason := range map[string]string{
			"/v1/loan-applications/not-a-uuid":                                                               "LOAN_APPLICATION_UUID_INVALID",
			"/v1/loan-applications/not-a-uuid/history":                                                       "LOAN_APPLICATION_UUID_INVALID",
			"/v1/loan-applications?minAmount=10&maxAmount=5":                                                 "AMOUNT_RANGE_INVALID",
			"/v1/loan-applications?pageToken=garbage":                                                        "PAGE_TOKEN_INVALID",
			"/v1/loan-applications?pageSize=-3":                                                              "PAGE_SIZE_INVALID",
			"/v1/loan-applications/" + id + "/as-of":                                                         "AT_REQUIRED",
			"/v1/loan-statistics?fromDay=2026-11-1":                                                          "DAY_INVALID",
			"/v1/loan-statistics?fromDay=2025-01-01&toDay=2026-11-01":                                        "DAY_RANGE_TOO_LONG",
			"/v1/loan-statistics?fromDay=2026-11-02&toDay=2026-11-01":                                        "DAY_RANGE_INVALID",
			"/v1/loan-applications?statuses=LOAN_STATUS_UNSPECIFIED":                                         "STATUS_INVALID",
			"/v1/loan-applications?requestedAfter=2026-11-03T00:00:00Z&requestedBefore=2026-11-02T00:00:00Z": "REQUESTED_RANGE_INVALID",
		} {
			t.Run(path, func(t *testing.T) {
				e.get(t, path).refused(t, http.StatusBadRequest, codes.InvalidArgument, reason)
			})
		}
		// What the gateway itself cannot parse is a 400 too (no ErrorInfo).
		for _, path := range []string{"/v1/loan-applications?pageSize=many", "/v1/loan-applications/" + id + "/as-of?at=yesterday"} {
			if r := e.get(t, path); r.status != http.StatusBadRequest {
				t.Errorf("GET %s: HTTP %d %s; want 400", path, r.status, r.body)
			}
		}
	})
	t.Run("404", func(t *testing.T) {
		for _, path := range []string{
			"/v1/loan-applications/" + uuidOf(3),
			"/v1/loan-applications/" + uuidOf(3) + "/history",
			"/v1/loan-applications/" + id + "/as-of?at=2026-11-02T08:59:59Z",
		} {
			e.get(t, path).refused(t, http.StatusNotFound, codes.NotFound, "LOAN_APPLICATION_NOT_FOUND")
		}
	})
	t.Run("503", func(t *testing.T) {
		start := time.Now()
		r := e.get(t, "/v1/loan-applications/"+id+"?consistencyToken=999999999", "Grpc-Timeout", "1S")
		info := r.refused(t, http.StatusServiceUnavailable, codes.Unavailable, "READ_MODEL_BEHIND")
		if info.GetMetadata()["consistency_token"] != "999999999" {
			t.Errorf("metadata %v", info.GetMetadata())
		}
		if waited := time.Since(start); waited > 3*time.Second {
			t.Errorf("answered after %s; want about 1s", waited)
		}
	})
}
