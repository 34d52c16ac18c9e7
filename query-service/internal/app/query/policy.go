package query

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/readmodel"
)

// Who may ask what is decided here and nowhere else: every query starts
// with authorize(ctx, its Name), which holds the caller's principal (put in
// ctx by platform/auth's interceptors) against the policy table below; the
// grant it returns is what the query may then show.

// Name names a query in the policy and in refusals: its RPC's name.
type Name string

// The queries.
const (
	NameGetLoanApplication        Name = "GetLoanApplication"
	NameGetLoanApplicationHistory Name = "GetLoanApplicationHistory"
	NameGetLoanApplicationAt      Name = "GetLoanApplicationAt"
	NameListLoanApplications      Name = "ListLoanApplications"
	NameGetLoanStatistics         Name = "GetLoanStatistics"
)

// Names lists every query.
func Names() []Name {
	return []Name{NameGetLoanApplication, NameGetLoanApplicationHistory, NameGetLoanApplicationAt,
		NameListLoanApplications, NameGetLoanStatistics}
}

// Scope is how much of the read model a role lets a query see. Scopes are
// ordered from narrowest to broadest: when several of a caller's roles allow
// a query, the broadest wins.
type Scope int

const (
	// ScopeNone: the query is refused (PERMISSION_DENIED, ROLE_REQUIRED).
	ScopeNone Scope = iota
	// ScopeOwn: only the caller's own applications, those whose applicant
	// is the principal's subject. Another's is answered NOT_FOUND exactly
	// as a missing one, so that whether it exists does not leak; a list is
	// narrowed to the caller's own.
	ScopeOwn
	// ScopeAnonymous: every application, but not who applied: the
	// applicant is emptied and filtering by applicant is refused. A
	// history cannot be anonymised (its entries and payloads name people),
	// so the policy never gives this scope to one (policy_test checks).
	ScopeAnonymous
	// ScopeAll: everything.
	ScopeAll
)

func (s Scope) String() string {
	switch s {
	case ScopeNone:
		return "none"
	case ScopeOwn:
		return "own"
	case ScopeAnonymous:
		return "all-without-identities"
	case ScopeAll:
		return "all"
	}
	return fmt.Sprintf("Scope(%d)", int(s))
}

// rule is one line of the policy: role may run query over scope.
type rule struct {
	role  auth.Role
	query Name
	scope Scope
}

// policy lists every grant; whatever it does not list is refused. The
// system role (the services' own identities) appears nowhere: the query
// side answers people, and no process manager reads through it.
var policy = []rule{
	// An applicant reads their own applications, as they are and as they
	// were, and lists only their own; never the statistics.
	{auth.RoleApplicant, NameGetLoanApplication, ScopeOwn},
	{auth.RoleApplicant, NameGetLoanApplicationHistory, ScopeOwn},
	{auth.RoleApplicant, NameGetLoanApplicationAt, ScopeOwn},
	{auth.RoleApplicant, NameListLoanApplications, ScopeOwn},

	// A loan officer reads every application, to review it; the statistics
	// are not theirs.
	{auth.RoleLoanOfficer, NameGetLoanApplication, ScopeAll},
	{auth.RoleLoanOfficer, NameGetLoanApplicationHistory, ScopeAll},
	{auth.RoleLoanOfficer, NameGetLoanApplicationAt, ScopeAll},
	{auth.RoleLoanOfficer, NameListLoanApplications, ScopeAll},

	// Ops read everything.
	{auth.RoleOps, NameGetLoanApplication, ScopeAll},
	{auth.RoleOps, NameGetLoanApplicationHistory, ScopeAll},
	{auth.RoleOps, NameGetLoanApplicationAt, ScopeAll},
	{auth.RoleOps, NameListLoanApplications, ScopeAll},
	{auth.RoleOps, NameGetLoanStatistics, ScopeAll},

	// An analyst reads the statistics, and lists without who applied;
	// never one application or its history.
	{auth.RoleAnalyst, NameListLoanApplications, ScopeAnonymous},
	{auth.RoleAnalyst, NameGetLoanStatistics, ScopeAll},
}

// Authorize returns the broadest scope the principal's roles give over
// query n, or a ROLE_REQUIRED refusal naming the roles that would allow it.
func Authorize(p auth.Principal, n Name) (Scope, error) {
	best := ScopeNone
	for _, r := range policy {
		if r.query == n && p.Has(r.role) {
			best = max(best, r.scope)
		}
	}
	if best == ScopeNone {
		return ScopeNone, roleRequired(p, n)
	}
	return best, nil
}

func roleRequired(p auth.Principal, n Name) *Error {
	var allowed []string
	for _, r := range policy {
		if r.query == n {
			allowed = append(allowed, string(r.role))
		}
	}
	slices.Sort(allowed)
	allowed = slices.Compact(allowed)
	held := "no role"
	if len(p.Roles) > 0 {
		held = "only " + strings.Join(p.RoleNames(), ", ")
	}
	return &Error{
		Kind:     KindPermissionDenied,
		Reason:   ReasonRoleRequired,
		Message:  fmt.Sprintf("%s needs one of the roles %s; the caller has %s", n, strings.Join(allowed, ", "), held),
		Metadata: map[string]string{"query": string(n), "roles": strings.Join(allowed, ",")},
	}
}

// grant is what authorize let one caller see through one query.
type grant struct {
	scope   Scope
	subject string
}

// authorize decides, from the principal in ctx, whether query n may run
// and over what. A call without a principal, or with one without a subject,
// is refused: were the interceptor ever left out, the service would fail
// closed, not open.
func authorize(ctx context.Context, n Name) (grant, error) {
	p, ok := auth.FromContext(ctx)
	if !ok || p.Subject == "" {
		return grant{}, &Error{Kind: KindUnauthenticated, Reason: ReasonPrincipalMissing,
			Message: string(n) + " needs a verified caller, and none came with the call"}
	}
	scope, err := Authorize(p, n)
	if err != nil {
		return grant{}, err
	}
	return grant{scope: scope, subject: p.Subject}, nil
}

// covers tells whether the grant covers an application of this applicant.
func (g grant) covers(applicant string) bool {
	switch g.scope {
	case ScopeAll, ScopeAnonymous:
		return true
	case ScopeOwn:
		return g.subject != "" && applicant == g.subject
	}
	return false
}

// show is an application as the grant lets it be seen: with who applied
// only for the scopes that include identities.
func (g grant) show(a readmodel.Application) readmodel.Application {
	if g.scope != ScopeAll && g.scope != ScopeOwn {
		a.Applicant = ""
	}
	return a
}

// checkCovered answers NOT_FOUND, exactly as for a missing application, when
// application id is not the grant's to see; it reads who applied only when
// the scope depends on it.
func (q *Queries) checkCovered(ctx context.Context, g grant, id string) error {
	if g.scope == ScopeAll || g.scope == ScopeAnonymous {
		return nil
	}
	app, err := q.reader.Get(ctx, id)
	switch {
	case errors.Is(err, readmodel.ErrNotFound):
		return notFound(id)
	case err != nil:
		return err
	case !g.covers(app.Applicant):
		return notFound(id)
	}
	return nil
}

// filter narrows a list's filter to what the grant covers. empty is true
// when the filter asks only for applications the caller may not see (an
// applicant naming another applicant): the answer is then an empty page,
// as for an applicant who has applied for nothing.
func (g grant) filter(f readmodel.Filter) (_ readmodel.Filter, empty bool, err error) {
	switch g.scope {
	case ScopeAll:
		return f, false, nil
	case ScopeAnonymous:
		if f.Applicant != "" {
			return f, false, &Error{Kind: KindPermissionDenied, Reason: ReasonApplicantFilterNotAllowed,
				Message: "applicant: this caller lists applications without who applied, so may not filter on it"}
		}
		return f, false, nil
	case ScopeOwn:
		if f.Applicant != "" && f.Applicant != g.subject {
			return f, true, nil
		}
		f.Applicant = g.subject
		return f, g.subject == "", nil
	}
	return f, true, nil
}
