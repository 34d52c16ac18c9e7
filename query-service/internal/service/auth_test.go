package service_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/auth/authtest"
)

// endpoint is one query asked the same way over gRPC and over REST.
type endpoint struct {
	name string
	grpc func(context.Context, loansv1.LoanQueryServiceClient) (proto.Message, error)
	rest string
	// answer is an empty response to decode a REST answer into.
	answer func() proto.Message
}

func getEndpoint(id string) endpoint {
	return endpoint{
		name: "GetLoanApplication",
		grpc: func(c context.Context, cl loansv1.LoanQueryServiceClient) (proto.Message, error) {
			return cl.GetLoanApplication(c, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id})
		},
		rest:   "/v1/loan-applications/" + id,
		answer: func() proto.Message { return &loansv1.GetLoanApplicationResponse{} },
	}
}

func historyEndpoint(id string) endpoint {
	return endpoint{
		name: "GetLoanApplicationHistory",
		grpc: func(c context.Context, cl loansv1.LoanQueryServiceClient) (proto.Message, error) {
			return cl.GetLoanApplicationHistory(c, &loansv1.GetLoanApplicationHistoryRequest{LoanApplicationUuid: id})
		},
		rest:   "/v1/loan-applications/" + id + "/history",
		answer: func() proto.Message { return &loansv1.GetLoanApplicationHistoryResponse{} },
	}
}

func asOfEndpoint(id string, when time.Time) endpoint {
	return endpoint{
		name: "GetLoanApplicationAt",
		grpc: func(c context.Context, cl loansv1.LoanQueryServiceClient) (proto.Message, error) {
			return cl.GetLoanApplicationAt(c, &loansv1.GetLoanApplicationAtRequest{LoanApplicationUuid: id, At: timestamppb.New(when)})
		},
		rest:   "/v1/loan-applications/" + id + "/as-of?at=" + url.QueryEscape(when.Format(time.RFC3339Nano)),
		answer: func() proto.Message { return &loansv1.GetLoanApplicationAtResponse{} },
	}
}

func listEndpoint(applicant string) endpoint {
	rest := "/v1/loan-applications"
	if applicant != "" {
		rest += "?applicant=" + url.QueryEscape(applicant)
	}
	return endpoint{
		name: "ListLoanApplications",
		grpc: func(c context.Context, cl loansv1.LoanQueryServiceClient) (proto.Message, error) {
			return cl.ListLoanApplications(c, &loansv1.ListLoanApplicationsRequest{Applicant: applicant})
		},
		rest:   rest,
		answer: func() proto.Message { return &loansv1.ListLoanApplicationsResponse{} },
	}
}

func statisticsEndpoint() endpoint {
	return endpoint{
		name: "GetLoanStatistics",
		grpc: func(c context.Context, cl loansv1.LoanQueryServiceClient) (proto.Message, error) {
			return cl.GetLoanStatistics(c, &loansv1.GetLoanStatisticsRequest{FromDay: "2026-11-01", ToDay: "2026-11-03"})
		},
		rest:   "/v1/loan-statistics?fromDay=2026-11-01&toDay=2026-11-03",
		answer: func() proto.Message { return &loansv1.GetLoanStatisticsResponse{} },
	}
}

// every is each query once, for the rules that hold for all of them.
func every(id string) []endpoint {
	return []endpoint{getEndpoint(id), historyEndpoint(id), asOfEndpoint(id, at(time.Hour)), listEndpoint(""), statisticsEndpoint()}
}

// withApplication is an answer of one application (now, or as of a moment).
type withApplication interface {
	GetLoanApplication() *loansv1.LoanApplication
}

// outcome is what a caller gets: an answer that check accepts, or a refusal.
type outcome struct {
	check    func(*testing.T, proto.Message)
	code     codes.Code
	httpCode int
	reason   string
}

func refusal(code codes.Code, httpCode int, reason string) outcome {
	return outcome{code: code, httpCode: httpCode, reason: reason}
}

var (
	notFound         = refusal(codes.NotFound, http.StatusNotFound, "LOAN_APPLICATION_NOT_FOUND")
	roleRequired     = refusal(codes.PermissionDenied, http.StatusForbidden, "ROLE_REQUIRED")
	filterNotAllowed = refusal(codes.PermissionDenied, http.StatusForbidden, "APPLICANT_FILTER_NOT_ALLOWED")
	tokenMissing     = refusal(codes.Unauthenticated, http.StatusUnauthorized, "TOKEN_MISSING")
	tokenInvalid     = refusal(codes.Unauthenticated, http.StatusUnauthorized, "TOKEN_INVALID")
	tokenExpired     = refusal(codes.Unauthenticated, http.StatusUnauthorized, "TOKEN_EXPIRED")
)

// ask asks ep with token (none when empty) over both transports and checks
// that both give want.
func (e *env) ask(t *testing.T, token string, ep endpoint, want outcome) {
	t.Helper()
	t.Run("gRPC", func(t *testing.T) {
		c := ctx(t)
		if token != "" {
			c = authtest.Bearer(c, token)
		}
		// No default token on this connection: the call carries token or none.
		resp, err := ep.grpc(c, loansv1.NewLoanQueryServiceClient(e.bare))
		if want.check == nil {
			refused(t, err, want.code, want.reason)
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		want.check(t, resp)
	})
	t.Run("REST", func(t *testing.T) {
		r := e.getAs(t, token, ep.rest)
		if want.check == nil {
			r.refused(t, want.httpCode, want.code, want.reason)
			return
		}
		resp := ep.answer()
		r.ok(t, resp)
		want.check(t, resp)
	})
}

// TestQueryService_Authentication: every query needs a valid token, over
// gRPC (UNAUTHENTICATED) and REST (401); health and reflection do not
// (TestService_HealthAndReflection).
func TestQueryService_Authentication(t *testing.T) {
	e := newEnv(t)
	id := uuidOf(1)
	e.b.Request(id, 1000, 12, "ada", at(0))
	e.apply(t)
	expired := e.iss.Claims(opsSubject, auth.RoleOps)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	for name, c := range map[string]struct {
		token string
		want  outcome
	}{
		"NoToken":           {"", tokenMissing},
		"NotAToken":         {"not-a-jwt", tokenInvalid},
		"AnotherIssuers":    {authtest.Start(t).Token(t, opsSubject, auth.RoleOps), tokenInvalid},
		"Expired":           {e.iss.Sign(t, expired), tokenExpired},
		"ValidIsNotRefused": {e.token, outcome{check: func(*testing.T, proto.Message) {}}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, ep := range every(id) {
				t.Run(ep.name, func(t *testing.T) { e.ask(t, c.token, ep, c.want) })
			}
		})
	}
}

// TestQueryService_Policy asks, over gRPC and REST, every rule of the
// policy (internal/app/query/policy.go) of callers holding each role.
func TestQueryService_Policy(t *testing.T) {
	e := newEnv(t)
	// ada applied twice, bob once; bob's was denied.
	ada1, ada2, bob1, missing := uuidOf(1), uuidOf(2), uuidOf(3), uuidOf(99)
	e.b.Request(ada1, 1000, 12, "ada", at(0)).Submit(ada1, at(time.Minute)).Review(ada1, at(2*time.Minute)).Approve(ada1, at(time.Hour)).
		Request(ada2, 2000, 24, "ada", at(2*time.Hour)).
		Request(bob1, 300, 6, "bob", at(3*time.Hour)).Submit(bob1, at(3*time.Hour)).Review(bob1, at(3*time.Hour)).Deny(bob1, "no", at(4*time.Hour))
	e.apply(t)
	var (
		applicant   = e.iss.Token(t, "ada", auth.RoleApplicant)
		loanOfficer = e.iss.Token(t, "lou", auth.RoleLoanOfficer)
		ops         = e.iss.Token(t, "olga", auth.RoleOps)
		analyst     = e.iss.Token(t, "ann", auth.RoleAnalyst)
		noRole      = e.iss.Token(t, "nemo")
		unknownRole = e.iss.Token(t, "zed", "admin")
	)
	// What an answer must hold.
	application := func(id, applicant string) outcome {
		return outcome{check: func(t *testing.T, m proto.Message) {
			t.Helper()
			a := m.(withApplication).GetLoanApplication()
			if a.GetLoanApplicationUuid() != id || a.GetApplicant() != applicant {
				t.Fatalf("got %v; want %s of %s", a, id, applicant)
			}
		}}
	}
	history := func(entries int) outcome {
		return outcome{check: func(t *testing.T, m proto.Message) {
			t.Helper()
			if got := len(m.(*loansv1.GetLoanApplicationHistoryResponse).GetEntries()); got != entries {
				t.Fatalf("%d entries; want %d", got, entries)
			}
		}}
	}
	// list: these applications, newest first, with or without who applied.
	list := func(withApplicants bool, ids ...string) outcome {
		return outcome{check: func(t *testing.T, m proto.Message) {
			t.Helper()
			var got []string
			for _, a := range m.(*loansv1.ListLoanApplicationsResponse).GetLoanApplications() {
				got = append(got, a.GetLoanApplicationUuid())
				if (a.GetApplicant() != "") != withApplicants {
					t.Errorf("%s has applicant %q; want it shown: %v", a.GetLoanApplicationUuid(), a.GetApplicant(), withApplicants)
				}
			}
			if !slices.Equal(got, ids) {
				t.Fatalf("listed %v; want %v", got, ids)
			}
		}}
	}
	statistics := outcome{check: func(t *testing.T, m proto.Message) {
		t.Helper()
		if f := m.(*loansv1.GetLoanStatisticsResponse).GetFunnel(); f.GetRequested() != 3 || f.GetDenied() != 1 {
			t.Fatalf("funnel %v", f)
		}
	}}

	for _, rule := range []struct {
		name  string
		token string
		ep    endpoint
		want  outcome
	}{
		{"ApplicantReadsOwn", applicant, getEndpoint(ada1), application(ada1, "ada")},
		{"ApplicantReadsOwnHistory", applicant, historyEndpoint(ada1), history(4)},
		{"ApplicantReadsOwnAsOf", applicant, asOfEndpoint(ada1, at(30*time.Minute)), application(ada1, "ada")},
		{"ApplicantReadsAnothersNotFound", applicant, getEndpoint(bob1), notFound},
		{"ApplicantReadsAnothersHistoryNotFound", applicant, historyEndpoint(bob1), notFound},
		{"ApplicantReadsAnothersAsOfNotFound", applicant, asOfEndpoint(bob1, at(5*time.Hour)), notFound},
		{"ApplicantReadsAnothersBeforeItsRequestNotFound", applicant, asOfEndpoint(bob1, at(0)), notFound},
		{"ApplicantListsOwnOnly", applicant, listEndpoint(""), list(true, ada2, ada1)},
		{"ApplicantListsOwnByName", applicant, listEndpoint("ada"), list(true, ada2, ada1)},
		{"ApplicantListsAnothersEmpty", applicant, listEndpoint("bob"), list(true)},
		{"ApplicantNoStatistics", applicant, statisticsEndpoint(), roleRequired},

		{"LoanOfficerReadsAnyone", loanOfficer, getEndpoint(bob1), application(bob1, "bob")},
		{"LoanOfficerReadsAnyonesHistory", loanOfficer, historyEndpoint(bob1), history(4)},
		{"LoanOfficerReadsAnyoneAsOf", loanOfficer, asOfEndpoint(bob1, at(5*time.Hour)), application(bob1, "bob")},
		{"LoanOfficerListsAll", loanOfficer, listEndpoint(""), list(true, bob1, ada2, ada1)},
		{"LoanOfficerListsByApplicant", loanOfficer, listEndpoint("bob"), list(true, bob1)},
		{"LoanOfficerNoStatistics", loanOfficer, statisticsEndpoint(), roleRequired},

		{"OpsReadAnyone", ops, getEndpoint(bob1), application(bob1, "bob")},
		{"OpsReadAnyonesHistory", ops, historyEndpoint(ada1), history(4)},
		{"OpsReadAnyoneAsOf", ops, asOfEndpoint(ada1, at(5*time.Hour)), application(ada1, "ada")},
		{"OpsListAll", ops, listEndpoint(""), list(true, bob1, ada2, ada1)},
		{"OpsReadStatistics", ops, statisticsEndpoint(), statistics},

		{"AnalystReadsStatistics", analyst, statisticsEndpoint(), statistics},
		{"AnalystListsWithoutApplicants", analyst, listEndpoint(""), list(false, bob1, ada2, ada1)},
		{"AnalystApplicantFilterRefused", analyst, listEndpoint("ada"), filterNotAllowed},
		{"AnalystNoSingleApplication", analyst, getEndpoint(ada1), roleRequired},
		{"AnalystNoHistory", analyst, historyEndpoint(ada1), roleRequired},
		{"AnalystNoAsOf", analyst, asOfEndpoint(ada1, at(5*time.Hour)), roleRequired},
	} {
		t.Run(rule.name, func(t *testing.T) { e.ask(t, rule.token, rule.ep, rule.want) })
	}
	for name, token := range map[string]string{"NoRoleRefused": noRole, "UnknownRoleRefused": unknownRole} {
		t.Run(name, func(t *testing.T) {
			for _, ep := range every(ada1) {
				t.Run(ep.name, func(t *testing.T) { e.ask(t, token, ep, roleRequired) })
			}
		})
	}
	t.Run("RoleRequiredNamesTheRoles", func(t *testing.T) {
		_, err := e.client.GetLoanStatistics(e.as(t, applicant), &loansv1.GetLoanStatisticsRequest{})
		info := refused(t, err, codes.PermissionDenied, "ROLE_REQUIRED")
		if msg := status.Convert(err).Message(); !strings.Contains(msg, "analyst, ops") || info.GetMetadata()["roles"] != "analyst,ops" {
			t.Errorf("message %q, metadata %v; want the roles analyst and ops named", msg, info.GetMetadata())
		}
	})
	// Another's application is answered byte for byte as a missing one, but
	// for the UUID: nothing tells an applicant that it exists.
	t.Run("AnothersIsExactlyAsMissing", func(t *testing.T) {
		for _, pair := range [][2]endpoint{
			{getEndpoint(bob1), getEndpoint(missing)},
			{historyEndpoint(bob1), historyEndpoint(missing)},
			{asOfEndpoint(bob1, at(0)), asOfEndpoint(missing, at(0))},
			{asOfEndpoint(bob1, at(5*time.Hour)), asOfEndpoint(missing, at(5*time.Hour))},
		} {
			t.Run(pair[0].name, func(t *testing.T) {
				_, others := pair[0].grpc(e.as(t, applicant), e.client)
				_, absent := pair[1].grpc(e.as(t, applicant), e.client)
				o, a := status.Convert(others).Proto(), status.Convert(absent).Proto()
				a.Message = strings.ReplaceAll(a.Message, missing, bob1)
				if o.GetCode() != int32(codes.NotFound) || !proto.Equal(o, a) {
					t.Errorf("gRPC: another's %v\nmissing %v", o, a)
				}
				restOthers, restAbsent := e.getAs(t, applicant, pair[0].rest), e.getAs(t, applicant, pair[1].rest)
				if restOthers.status != http.StatusNotFound || restAbsent.status != restOthers.status ||
					!bytes.Equal(restOthers.body, bytes.ReplaceAll(restAbsent.body, []byte(missing), []byte(bob1))) {
					t.Errorf("REST: another's %d %s\nmissing %d %s", restOthers.status, restOthers.body, restAbsent.status, restAbsent.body)
				}
			})
		}
	})
}
