package command

import (
	"errors"
	"testing"

	"github.com/loanflow/loans/platform/auth"
)

// The callers of the policy's rules.
var (
	ada  = auth.NewPrincipal("ada", "https://issuer.example", auth.RoleApplicant)
	bo   = auth.NewPrincipal("bo", "https://issuer.example", auth.RoleApplicant)
	lena = auth.NewPrincipal("lena", "https://issuer.example", auth.RoleLoanOfficer)
	// max is a loan officer who applies for a loan too.
	max     = auth.NewPrincipal("max", "https://issuer.example", auth.RoleLoanOfficer, auth.RoleApplicant)
	omar    = auth.NewPrincipal("omar", "https://issuer.example", auth.RoleOps)
	ana     = auth.NewPrincipal("ana", "https://issuer.example", auth.RoleAnalyst)
	nobody  = auth.Principal{}
	manager = auth.Service("process-manager/loanReview")
	// impostor holds the system role without being a service (a principal
	// built by mistake; tokens never give it).
	impostor = auth.NewPrincipal("system:process-manager/loanReview", "https://issuer.example", auth.RoleSystem)
)

// want is the policy's answer: allowed, hidden (answered as if the
// application did not exist) or refused with a reason.
type want struct {
	hidden bool
	reason string
}

var (
	allow        = want{}
	hide         = want{hidden: true}
	roleRequired = want{reason: ReasonRoleRequired}
)

// TestPolicy has a case for each rule of the policy table, allowed and refused.
func TestPolicy(t *testing.T) {
	for _, c := range []struct {
		rule   string
		who    auth.Principal
		action Action
		owner  string // the application's applicant ("" when it does not exist)
		want   want
	}{
		// RequestLoan: applicants, for themselves.
		{"an applicant requests a loan for themselves", ada, ActionRequestLoan, "ada", allow},
		{"an applicant may not request a loan for someone else", ada, ActionRequestLoan, "bo", want{reason: ReasonApplicantMismatch}},
		{"a loan officer who applies requests a loan for themselves", max, ActionRequestLoan, "max", allow},
		{"a loan officer alone may not request a loan", lena, ActionRequestLoan, "lena", roleRequired},
		{"ops may not request a loan", omar, ActionRequestLoan, "omar", roleRequired},

		// SubmitLoanRequest, SignContract, RejectContract: applicants, on their own applications.
		{"an applicant submits their own application", ada, ActionSubmitLoanRequest, "ada", allow},
		{"another's application is hidden from an applicant's submit", bo, ActionSubmitLoanRequest, "ada", hide},
		{"a missing application is hidden from an applicant's submit", ada, ActionSubmitLoanRequest, "", hide},
		{"a loan officer may not submit", lena, ActionSubmitLoanRequest, "ada", roleRequired},
		{"an applicant signs their own contract", ada, ActionSignContract, "ada", allow},
		{"another's contract is hidden from an applicant's signature", bo, ActionSignContract, "ada", hide},
		{"a loan officer may not sign an applicant's contract", lena, ActionSignContract, "ada", roleRequired},
		{"a loan officer who applies may not sign another's contract", max, ActionSignContract, "ada", hide},
		{"an applicant rejects their own contract", ada, ActionRejectContract, "ada", allow},
		{"another's contract is hidden from an applicant's rejection", bo, ActionRejectContract, "ada", hide},
		{"ops may not reject a contract", omar, ActionRejectContract, "ada", roleRequired},

		// ApproveLoan, DenyLoan: loan officers, never on their own application.
		{"a loan officer approves an applicant's loan", lena, ActionApproveLoan, "ada", allow},
		{"a loan officer may not approve their own loan", max, ActionApproveLoan, "max", want{reason: ReasonSelfApproval}},
		{"a loan officer who applies approves another's loan", max, ActionApproveLoan, "ada", allow},
		{"an applicant may not approve", ada, ActionApproveLoan, "ada", roleRequired},
		{"an analyst may not approve", ana, ActionApproveLoan, "ada", roleRequired},
		{"a loan officer denies an applicant's loan", lena, ActionDenyLoan, "ada", allow},
		{"a loan officer may not deny their own loan", max, ActionDenyLoan, "max", want{reason: ReasonSelfApproval}},
		{"an applicant may not deny", ada, ActionDenyLoan, "ada", roleRequired},
		{"a missing review goes on to be refused as missing", lena, ActionApproveLoan, "", allow},

		// IssueLoanReview, IssueLoanContract: the process managers only.
		{"a process manager issues a review", manager, ActionIssueLoanReview, "ada", allow},
		{"a process manager issues a contract", manager, ActionIssueLoanContract, "ada", allow},
		{"a loan officer may not issue a review", lena, ActionIssueLoanReview, "ada", roleRequired},
		{"ops may not issue a contract", omar, ActionIssueLoanContract, "ada", roleRequired},
		{"the system role counts only on a service's own identity", impostor, ActionIssueLoanReview, "ada", roleRequired},
	} {
		t.Run(c.rule, func(t *testing.T) {
			got, err := decide(c.who, c.action, c.owner)
			var access *AccessError
			switch {
			case c.want.reason != "":
				if !errors.As(err, &access) || access.Reason != c.want.reason {
					t.Fatalf("%s by %s on %q's application: %v; want refused with %s", c.action, c.who.Subject, c.owner, err, c.want.reason)
				}
			case err != nil:
				t.Fatalf("%s by %s on %q's application: refused with %v; want it allowed (hidden: %v)", c.action, c.who.Subject, c.owner, err, c.want.hidden)
			case (got == hidden) != c.want.hidden:
				t.Fatalf("%s by %s on %q's application: hidden = %v; want %v", c.action, c.who.Subject, c.owner, got == hidden, c.want.hidden)
			}
		})
	}
	t.Run("a command without a verified caller is refused as unauthenticated", func(t *testing.T) {
		for _, a := range allActions {
			_, err := decide(nobody, a, "ada")
			var access *AccessError
			if !errors.As(err, &access) || !access.Unauthenticated {
				t.Errorf("%s without a caller: %v; want unauthenticated", a, err)
			}
		}
	})
	t.Run("the refusal names the roles that would allow it", func(t *testing.T) {
		_, err := decide(ada, ActionApproveLoan, "bo")
		if err == nil || err.Error() != "ROLE_REQUIRED: ApproveLoan needs the role loan_officer" {
			t.Fatalf("got %v", err)
		}
		var access *AccessError
		if !errors.As(err, &access) || access.Metadata["roles"] != "loan_officer" || access.Metadata["command"] != "ApproveLoan" {
			t.Fatalf("metadata %v; want the command and the roles", access.Metadata)
		}
	})
}

// allActions are the use cases' actions: each must have a rule, or no one
// could ever perform it.
var allActions = []Action{ActionRequestLoan, ActionSubmitLoanRequest, ActionApproveLoan, ActionDenyLoan,
	ActionSignContract, ActionRejectContract, ActionIssueLoanReview, ActionIssueLoanContract}

func TestPolicy_EveryActionHasARule(t *testing.T) {
	for _, a := range allActions {
		found := false
		for _, g := range policy {
			found = found || g.Action == a
		}
		if !found {
			t.Errorf("%s has no rule in the policy", a)
		}
	}
	for _, g := range policy {
		found := false
		for _, a := range allActions {
			found = found || g.Action == a
		}
		if !found {
			t.Errorf("the policy has a rule for %s, which no use case performs", g.Action)
		}
	}
}

// decide runs both steps of the policy as execute does.
func decide(p auth.Principal, a Action, owner string) (decision, error) {
	held, err := grantsFor(p, a)
	if err != nil {
		return 0, err
	}
	return authorize(p, a, held, owner)
}
