package query_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/query-service/internal/app/query"
	"github.com/loanflow/loans/query-service/internal/fixture"
)

// TestAuthorize is the policy written out as a matrix, independently of
// policy.go: for each set of roles a caller may hold, the scope each query
// gets (none: refused). One subtest a cell.
func TestAuthorize(t *testing.T) {
	const (
		none = query.ScopeNone
		own  = query.ScopeOwn
		anon = query.ScopeAnonymous
		all  = query.ScopeAll
	)
	// The columns, in order.
	queries := []query.Name{
		query.NameGetLoanApplication, query.NameGetLoanApplicationHistory, query.NameGetLoanApplicationAt,
		query.NameListLoanApplications, query.NameGetLoanStatistics,
	}
	for _, row := range []struct {
		rule  string
		roles []auth.Role
		want  [5]query.Scope // Get, History, At, List, Statistics
	}{
		{"ApplicantReadsOwnApplicationsNoStatistics", []auth.Role{auth.RoleApplicant}, [5]query.Scope{own, own, own, own, none}},
		{"LoanOfficerReadsAllApplicationsNoStatistics", []auth.Role{auth.RoleLoanOfficer}, [5]query.Scope{all, all, all, all, none}},
		{"OpsReadEverything", []auth.Role{auth.RoleOps}, [5]query.Scope{all, all, all, all, all}},
		{"AnalystReadsStatisticsAndAnonymousLists", []auth.Role{auth.RoleAnalyst}, [5]query.Scope{none, none, none, anon, all}},
		{"SystemReadsNothing", []auth.Role{auth.RoleSystem}, [5]query.Scope{none, none, none, none, none}},
		{"NoRoleReadsNothing", nil, [5]query.Scope{none, none, none, none, none}},
		{"UnknownRoleReadsNothing", []auth.Role{"admin"}, [5]query.Scope{none, none, none, none, none}},
		// Several roles: each query takes the broadest scope any of them gives.
		{"ApplicantAndAnalyst", []auth.Role{auth.RoleApplicant, auth.RoleAnalyst}, [5]query.Scope{own, own, own, anon, all}},
		{"ApplicantAndLoanOfficer", []auth.Role{auth.RoleApplicant, auth.RoleLoanOfficer}, [5]query.Scope{all, all, all, all, none}},
		{"AnalystAndLoanOfficer", []auth.Role{auth.RoleAnalyst, auth.RoleLoanOfficer}, [5]query.Scope{all, all, all, all, all}},
		{"SystemAndApplicant", []auth.Role{auth.RoleSystem, auth.RoleApplicant}, [5]query.Scope{own, own, own, own, none}},
	} {
		p := auth.NewPrincipal("ada", "https://issuer.test", row.roles...)
		for i, n := range queries {
			t.Run(row.rule+"/"+string(n), func(t *testing.T) {
				got, err := query.Authorize(p, n)
				if want := row.want[i]; want != none {
					if err != nil || got != want {
						t.Fatalf("got %s, %v; want %s", got, err, want)
					}
					return
				}
				qerr := refusedWith(t, err, query.KindPermissionDenied, query.ReasonRoleRequired)
				if got != none {
					t.Errorf("refused with scope %s", got)
				}
				if !strings.Contains(qerr.Message, string(n)) || !strings.Contains(qerr.Message, rolesAllowed[n]) {
					t.Errorf("message %q; want it to name %s and the roles %s", qerr.Message, n, rolesAllowed[n])
				}
				if qerr.Metadata["roles"] != strings.ReplaceAll(rolesAllowed[n], ", ", ",") {
					t.Errorf("metadata %v", qerr.Metadata)
				}
			})
		}
	}
	t.Run("EveryQueryIsInTheMatrix", func(t *testing.T) {
		if len(query.Names()) != len(queries) {
			t.Fatalf("the service has %d queries, the matrix %d", len(query.Names()), len(queries))
		}
	})
	// A history names people in every entry and payload: it cannot be shown
	// without identities, so no role may get it so.
	t.Run("NoHistoryWithoutIdentities", func(t *testing.T) {
		for _, r := range []auth.Role{auth.RoleApplicant, auth.RoleLoanOfficer, auth.RoleOps, auth.RoleAnalyst, auth.RoleSystem} {
			if s, _ := query.Authorize(auth.NewPrincipal("ada", "iss", r), query.NameGetLoanApplicationHistory); s == query.ScopeAnonymous {
				t.Errorf("%s gets histories without identities", r)
			}
		}
	})
}

// rolesAllowed are the roles a ROLE_REQUIRED refusal names, by query.
var rolesAllowed = map[query.Name]string{
	query.NameGetLoanApplication:        "applicant, loan_officer, ops",
	query.NameGetLoanApplicationHistory: "applicant, loan_officer, ops",
	query.NameGetLoanApplicationAt:      "applicant, loan_officer, ops",
	query.NameListLoanApplications:      "analyst, applicant, loan_officer, ops",
	query.NameGetLoanStatistics:         "analyst, ops",
}

// runQuery runs query n in ctx with valid arguments for application id.
func runQuery(ctx context.Context, q *query.Queries, n query.Name, id string, token uint64) error {
	var err error
	switch n {
	case query.NameGetLoanApplication:
		_, err = q.GetLoanApplication(ctx, query.GetLoanApplication{ID: id, ConsistencyToken: token})
	case query.NameGetLoanApplicationHistory:
		_, err = q.GetLoanApplicationHistory(ctx, query.GetLoanApplicationHistory{ID: id, ConsistencyToken: token})
	case query.NameGetLoanApplicationAt:
		_, err = q.GetLoanApplicationAt(ctx, query.GetLoanApplicationAt{ID: id, At: at(time.Hour), ConsistencyToken: token})
	case query.NameListLoanApplications:
		_, err = q.ListLoanApplications(ctx, query.ListLoanApplications{ConsistencyToken: token})
	case query.NameGetLoanStatistics:
		_, err = q.GetLoanStatistics(ctx, query.GetLoanStatistics{ConsistencyToken: token})
	default:
		err = errors.New("unknown query " + string(n))
	}
	return err
}

// TestQueries_FailClosed: a query refused by the policy is refused before
// anything else (no wait, no read), and one without a caller is refused
// outright.
func TestQueries_FailClosed(t *testing.T) {
	reader := newFakeReader()
	reader.apply(fixture.New(0).Request(idA, 1200, 24, "ada", at(0)).Batch())
	q := query.New(reader, query.Config{})
	for _, n := range query.Names() {
		t.Run("NoPrincipal/"+string(n), func(t *testing.T) {
			qerr := refusedWith(t, runQuery(t.Context(), q, n, idA, 0), query.KindUnauthenticated, query.ReasonPrincipalMissing)
			if !strings.Contains(qerr.Message, string(n)) {
				t.Errorf("message %q does not name the query", qerr.Message)
			}
		})
		t.Run("PrincipalWithoutSubject/"+string(n), func(t *testing.T) {
			refusedWith(t, runQuery(as(t.Context(), "", auth.RoleOps), q, n, idA, 0), query.KindUnauthenticated, query.ReasonPrincipalMissing)
		})
		t.Run("RefusedBeforeWaitingOrReading/"+string(n), func(t *testing.T) {
			before := reader.positionCalls
			// A token far ahead would make an allowed query wait.
			refusedWith(t, runQuery(as(t.Context(), "sam", auth.RoleSystem), q, n, idA, 1<<40), query.KindPermissionDenied, query.ReasonRoleRequired)
			if reader.positionCalls != before {
				t.Errorf("the read model's position was read %d times", reader.positionCalls-before)
			}
		})
	}
}

// TestQueries_ScopeOwn: an applicant's queries see their own applications
// and nothing of anyone else's, not even that it exists.
func TestQueries_ScopeOwn(t *testing.T) {
	const missing = "11111111-2222-4333-8444-555555555555"
	reader := newFakeReader()
	b := fixture.New(0).
		Request(idA, 1200, 24, "ada", at(0)).Submit(idA, at(time.Minute)).
		Request(idB, 500, 6, "bob", at(time.Minute)).Submit(idB, at(2*time.Minute))
	reader.apply(b.Batch())
	q := query.New(reader, query.Config{})
	ada := func(t *testing.T) context.Context { return as(t.Context(), "ada", auth.RoleApplicant) }

	t.Run("ReadsOwn", func(t *testing.T) {
		got, err := q.GetLoanApplication(ada(t), query.GetLoanApplication{ID: idA})
		if err != nil || got != b.App(idA) {
			t.Fatalf("got %+v, %v; want %+v", got, err, b.App(idA))
		}
		h, err := q.GetLoanApplicationHistory(ada(t), query.GetLoanApplicationHistory{ID: idA})
		if err != nil || len(h) != 2 {
			t.Fatalf("history %v, %v", h, err)
		}
		then, err := q.GetLoanApplicationAt(ada(t), query.GetLoanApplicationAt{ID: idA, At: at(0)})
		if err != nil || then.Status != readmodel.StatusPendingSubmission || then.Applicant != "ada" {
			t.Fatalf("as of the request %+v, %v", then, err)
		}
	})
	// Another's application is refused exactly as a missing one: same kind,
	// reason and message but for the UUID.
	for name, ask := range map[string]func(context.Context, string) error{
		"GetLoanApplication": func(ctx context.Context, id string) error {
			_, err := q.GetLoanApplication(ctx, query.GetLoanApplication{ID: id})
			return err
		},
		"GetLoanApplicationHistory": func(ctx context.Context, id string) error {
			_, err := q.GetLoanApplicationHistory(ctx, query.GetLoanApplicationHistory{ID: id})
			return err
		},
		"GetLoanApplicationAt": func(ctx context.Context, id string) error {
			_, err := q.GetLoanApplicationAt(ctx, query.GetLoanApplicationAt{ID: id, At: at(time.Hour)})
			return err
		},
		// Before bob's request: "not requested yet" would tell it was, later.
		"GetLoanApplicationAtBeforeTheRequest": func(ctx context.Context, id string) error {
			_, err := q.GetLoanApplicationAt(ctx, query.GetLoanApplicationAt{ID: id, At: at(0)})
			return err
		},
	} {
		t.Run("AnothersIsNotFound/"+name, func(t *testing.T) {
			others := refusedWith(t, ask(ada(t), idB), query.KindNotFound, query.ReasonLoanApplicationNotFound)
			absent := refusedWith(t, ask(ada(t), missing), query.KindNotFound, query.ReasonLoanApplicationNotFound)
			if want := strings.ReplaceAll(absent.Message, missing, idB); others.Message != want || len(others.Metadata) != len(absent.Metadata) {
				t.Errorf("another's: %q %v\nmissing:   %q %v", others.Message, others.Metadata, want, absent.Metadata)
			}
			// A loan officer, who may see it, learns what the applicant must not.
			officers := ask(as(t.Context(), "lou", auth.RoleLoanOfficer), idB)
			if strings.HasSuffix(name, "BeforeTheRequest") {
				if qerr := refusedWith(t, officers, query.KindNotFound, query.ReasonLoanApplicationNotFound); !strings.Contains(qerr.Message, "not requested yet") {
					t.Errorf("a loan officer reading it: %v", officers)
				}
			} else if officers != nil {
				t.Errorf("a loan officer reading it: %v", officers)
			}
		})
	}
	t.Run("ListShowsOnlyOwn", func(t *testing.T) {
		page, err := q.ListLoanApplications(ada(t), query.ListLoanApplications{})
		if err != nil || len(page.Items) != 1 || page.Items[0] != b.App(idA) {
			t.Fatalf("got %+v, %v; want ada's one", page, err)
		}
		if reader.lastFilter.Applicant != "ada" {
			t.Errorf("the store was asked for applicant %q", reader.lastFilter.Applicant)
		}
	})
	t.Run("ListOfOwnByName", func(t *testing.T) {
		page, err := q.ListLoanApplications(ada(t), query.ListLoanApplications{Filter: readmodel.Filter{Applicant: "ada"}})
		if err != nil || len(page.Items) != 1 || page.Items[0].ID != idA {
			t.Fatalf("got %+v, %v", page, err)
		}
	})
	t.Run("ListOfAnothersIsEmpty", func(t *testing.T) {
		calls := reader.listCalls
		page, err := q.ListLoanApplications(ada(t), query.ListLoanApplications{Filter: readmodel.Filter{Applicant: "bob"}})
		if err != nil || len(page.Items) != 0 || page.NextPageToken != "" {
			t.Fatalf("got %+v, %v; want an empty last page", page, err)
		}
		if reader.listCalls != calls {
			t.Errorf("the store was asked")
		}
	})
	t.Run("ListStillChecksTheQuery", func(t *testing.T) {
		_, err := q.ListLoanApplications(ada(t), query.ListLoanApplications{Filter: readmodel.Filter{Applicant: "bob"}, PageSize: -1})
		refusedWith(t, err, query.KindInvalidArgument, query.ReasonPageSizeInvalid)
	})
}

// TestQueries_ScopeAnonymous: an analyst lists every application without
// who applied, and may not ask by applicant.
func TestQueries_ScopeAnonymous(t *testing.T) {
	reader := newFakeReader()
	b := fixture.New(0).Request(idA, 1200, 24, "ada", at(0)).Request(idB, 500, 6, "bob", at(time.Minute)).Deny(idB, "no", at(time.Hour))
	reader.apply(b.Batch())
	q := query.New(reader, query.Config{})
	ann := func(t *testing.T) context.Context { return as(t.Context(), "ann", auth.RoleAnalyst) }

	t.Run("ListWithoutApplicants", func(t *testing.T) {
		page, err := q.ListLoanApplications(ann(t), query.ListLoanApplications{})
		if err != nil || len(page.Items) != 2 {
			t.Fatalf("got %+v, %v; want both applications", page, err)
		}
		for _, got := range page.Items {
			want := b.App(got.ID)
			want.Applicant = ""
			if got != want {
				t.Errorf("got %+v; want %+v", got, want)
			}
		}
	})
	t.Run("ApplicantFilterNotAllowed", func(t *testing.T) {
		calls := reader.listCalls
		_, err := q.ListLoanApplications(ann(t), query.ListLoanApplications{Filter: readmodel.Filter{Applicant: "ada"}})
		refusedWith(t, err, query.KindPermissionDenied, query.ReasonApplicantFilterNotAllowed)
		if reader.listCalls != calls {
			t.Errorf("the store was asked")
		}
	})
	t.Run("NoSingleApplication", func(t *testing.T) {
		for _, n := range []query.Name{query.NameGetLoanApplication, query.NameGetLoanApplicationHistory, query.NameGetLoanApplicationAt} {
			refusedWith(t, runQuery(ann(t), q, n, idA, 0), query.KindPermissionDenied, query.ReasonRoleRequired)
		}
	})
	t.Run("StatisticsWhole", func(t *testing.T) {
		st, err := q.GetLoanStatistics(ann(t), query.GetLoanStatistics{FromDay: "2026-11-02", ToDay: "2026-11-02"})
		if err != nil || st.Funnel.Requested != 2 || st.Funnel.Denied != 1 {
			t.Fatalf("got %+v, %v", st, err)
		}
	})
	t.Run("WithAnotherRoleTheBroadestWins", func(t *testing.T) {
		page, err := q.ListLoanApplications(as(t.Context(), "ann", auth.RoleAnalyst, auth.RoleLoanOfficer), query.ListLoanApplications{})
		if err != nil || len(page.Items) != 2 || page.Items[0].Applicant == "" {
			t.Fatalf("got %+v, %v; want both with their applicants", page, err)
		}
		page, err = q.ListLoanApplications(as(t.Context(), "ada", auth.RoleAnalyst, auth.RoleApplicant), query.ListLoanApplications{})
		if err != nil || len(page.Items) != 2 || page.Items[0].Applicant != "" || page.Items[1].Applicant != "" {
			t.Fatalf("got %+v, %v; want both, without applicants", page, err)
		}
	})
}
