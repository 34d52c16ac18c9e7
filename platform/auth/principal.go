// Package auth is who is calling: the verified principal of every API call.
//
// Both services verify OpenID Connect access tokens (JWTs) from the lender's
// issuer (Keycloak, Auth0, Entra ID; devstack's identity provider under
// `make run`). The token's subject and roles become a Principal, which the
// services' policies read and the events record. Nothing a caller writes in a
// header other than the verified token says who they are.
package auth

import (
	"context"
	"slices"
	"strings"
)

// Role is what a principal may do, as the issuer grants it (the roles claim).
type Role string

// The roles the services know. A token may carry others; they grant nothing.
const (
	// RoleApplicant requests loans and acts on their own applications.
	RoleApplicant Role = "applicant"
	// RoleLoanOfficer approves and denies loans, never their own (four eyes).
	RoleLoanOfficer Role = "loan_officer"
	// RoleOps reads everything.
	RoleOps Role = "ops"
	// RoleAnalyst reads statistics and lists without applicant identities.
	RoleAnalyst Role = "analyst"
	// RoleSystem is held only by the services' own identities (see Service);
	// a token that claims it is refused.
	RoleSystem Role = "system"
)

// ReservedSubjectPrefix starts the subjects of the services' own identities.
// A token whose subject starts with it is refused, so no caller can pass for
// a process manager.
const ReservedSubjectPrefix = "system:"

// InternalIssuer is the issuer recorded for the services' own identities.
const InternalIssuer = "loans:internal"

// Principal is a verified caller.
type Principal struct {
	// Subject is the token's verified `sub`: the applicant, officer or
	// service account. It is what the events record as the actor.
	Subject string
	// Issuer is the token's verified `iss` (InternalIssuer for Service).
	Issuer string
	// Roles are the roles the token grants, sorted, without repeats.
	Roles []Role
	// ClientID is the OAuth client the token was issued to (`azp` or
	// `client_id`), when the token says.
	ClientID string
}

// NewPrincipal returns a principal with its roles sorted and deduplicated.
func NewPrincipal(subject, issuer string, roles ...Role) Principal {
	rs := slices.Clone(roles)
	slices.Sort(rs)
	return Principal{Subject: subject, Issuer: issuer, Roles: slices.Compact(rs)}
}

// Service is the identity a service acts under when no caller is involved
// (the process managers): its subject is ReservedSubjectPrefix+name, which
// no verified token can carry.
func Service(name string) Principal {
	return NewPrincipal(ReservedSubjectPrefix+name, InternalIssuer, RoleSystem)
}

// Has tells whether the principal holds the role.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// IsService tells whether this is one of the services' own identities.
func (p Principal) IsService() bool {
	return p.Issuer == InternalIssuer && strings.HasPrefix(p.Subject, ReservedSubjectPrefix)
}

// RoleNames are the roles as strings, for metadata and logs.
func (p Principal) RoleNames() []string {
	out := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		out[i] = string(r)
	}
	return out
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal of the call ctx belongs to.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
