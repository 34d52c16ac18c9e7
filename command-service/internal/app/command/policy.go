package command

import (
	"fmt"
	"slices"
	"strings"

	"github.com/loanflow/loans/platform/auth"
)

// Action is a command as authorization sees it.
type Action string

// The actions, one per command.
const (
	ActionRequestLoan       Action = "RequestLoan"
	ActionSubmitLoanRequest Action = "SubmitLoanRequest"
	ActionApproveLoan       Action = "ApproveLoan"
	ActionDenyLoan          Action = "DenyLoan"
	ActionSignContract      Action = "SignContract"
	ActionRejectContract    Action = "RejectContract"
	ActionIssueLoanReview   Action = "IssueLoanReview"
	ActionIssueLoanContract Action = "IssueLoanContract"
)

// Reasons of the refusals authorization gives (PERMISSION_DENIED).
const (
	ReasonRoleRequired      = "ROLE_REQUIRED"
	ReasonSelfApproval      = "SELF_APPROVAL"
	ReasonApplicantMismatch = "APPLICANT_IS_NOT_CALLER"
	ReasonUnauthenticated   = "UNAUTHENTICATED"
)

// condition is what must also hold, besides the role, for a grant to apply.
// owner is the application's applicant ("" while it does not exist); for
// RequestLoan, the applicant the command names.
type condition int

const (
	// anyApplication: the role alone is enough.
	anyApplication condition = iota
	// forThemselves: the caller requests a loan for themselves only.
	forThemselves
	// ownApplication: the caller is the application's applicant. Another's
	// application is answered as if it did not exist, so that applicants
	// learn nothing of each other's applications.
	ownApplication
	// notOwnApplication: four eyes; nobody decides their own application.
	notOwnApplication
)

// grant: holders of Role may perform Action when Condition holds.
type grant struct {
	Action    Action
	Role      auth.Role
	Condition condition
}

// policy is who may do what: every command the service runs is here, and
// anything not granted is refused. A caller may hold several roles; a
// command is allowed when one grant for it applies.
var policy = []grant{
	{ActionRequestLoan, auth.RoleApplicant, forThemselves},
	{ActionSubmitLoanRequest, auth.RoleApplicant, ownApplication},
	{ActionSignContract, auth.RoleApplicant, ownApplication},
	{ActionRejectContract, auth.RoleApplicant, ownApplication},
	{ActionApproveLoan, auth.RoleLoanOfficer, notOwnApplication},
	{ActionDenyLoan, auth.RoleLoanOfficer, notOwnApplication},
	// The process managers, under the services' own identity.
	{ActionIssueLoanReview, auth.RoleSystem, anyApplication},
	{ActionIssueLoanContract, auth.RoleSystem, anyApplication},
}

// AccessError is a command refused by the policy. The command changed nothing.
type AccessError struct {
	Reason  string
	Message string
	// Metadata goes into the refusal's ErrorInfo (the command, the roles
	// that would allow it), for clients to show.
	Metadata map[string]string
	// Unauthenticated: the call carried no principal at all.
	Unauthenticated bool
}

func (e *AccessError) Error() string { return e.Reason + ": " + e.Message }

// decision is the policy's answer once the owner is known.
type decision int

const (
	allowed decision = iota
	// hidden: proceed as if the application did not exist.
	hidden
)

// grantsFor returns the grants of action that p's roles hold, or the
// refusal when there are none: checked before anything is loaded.
func grantsFor(p auth.Principal, action Action) ([]grant, error) {
	if p.Subject == "" {
		return nil, &AccessError{Reason: ReasonUnauthenticated, Message: "the command has no verified caller", Unauthenticated: true}
	}
	var held, all []grant
	for _, g := range policy {
		if g.Action != action {
			continue
		}
		all = append(all, g)
		// The system role counts only on the services' own identities,
		// whatever a principal was built with.
		if p.Has(g.Role) && (g.Role != auth.RoleSystem || p.IsService()) {
			held = append(held, g)
		}
	}
	if len(held) == 0 {
		roles := make([]string, 0, len(all))
		for _, g := range all {
			roles = append(roles, string(g.Role))
		}
		slices.Sort(roles)
		roles = slices.Compact(roles)
		return nil, &AccessError{Reason: ReasonRoleRequired,
			Message:  fmt.Sprintf("%s needs the role %s", action, strings.Join(roles, " or ")),
			Metadata: map[string]string{"command": string(action), "roles": strings.Join(roles, ",")}}
	}
	return held, nil
}

// authorize decides, once the owner is known, with the grants grantsFor
// returned: allowed when one grant's condition holds; otherwise the first
// grant's refusal (the table's order puts the telling one first).
func authorize(p auth.Principal, action Action, held []grant, owner string) (decision, error) {
	for _, g := range held {
		if g.Condition.holds(p, owner) {
			return allowed, nil
		}
	}
	switch held[0].Condition {
	case ownApplication:
		return hidden, nil
	case forThemselves:
		return 0, &AccessError{Reason: ReasonApplicantMismatch,
			Message: fmt.Sprintf("%s may request loans for themselves only, not for %q", p.Subject, owner)}
	case notOwnApplication:
		return 0, &AccessError{Reason: ReasonSelfApproval,
			Message: fmt.Sprintf("%s requested this application and may not decide it: another loan officer must", p.Subject)}
	}
	return 0, &AccessError{Reason: ReasonRoleRequired, Message: fmt.Sprintf("%s is not allowed", action)}
}

func (c condition) holds(p auth.Principal, owner string) bool {
	switch c {
	case anyApplication:
		return true
	case forThemselves, ownApplication:
		return owner == p.Subject
	case notOwnApplication:
		return owner != p.Subject
	}
	return false
}
