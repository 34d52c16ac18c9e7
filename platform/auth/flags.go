package auth

import "flag"

// Flags are the verifier's settings as command-line flags.
type Flags struct {
	IssuerURL, Audience, RolesClaim *string
}

// EnvVars names the environment variables that stand in for the flags (see
// platform/envflag).
var EnvVars = map[string]string{
	"oidc-issuer-url":  "OIDC_ISSUER_URL",
	"oidc-audience":    "OIDC_AUDIENCE",
	"oidc-roles-claim": "OIDC_ROLES_CLAIM",
}

// RegisterFlags adds -oidc-issuer-url, -oidc-audience and -oidc-roles-claim
// to fs. The issuer and audience have no default: a service without them
// refuses to start rather than serve without authentication.
func RegisterFlags(fs *flag.FlagSet) Flags {
	return Flags{
		IssuerURL:  fs.String("oidc-issuer-url", "", "OpenID Connect issuer whose access tokens are accepted (OIDC_ISSUER_URL); required"),
		Audience:   fs.String("oidc-audience", "", "audience the tokens must be meant for (OIDC_AUDIENCE); required"),
		RolesClaim: fs.String("oidc-roles-claim", "roles", "claim holding the roles, a dotted path such as realm_access.roles (OIDC_ROLES_CLAIM)"),
	}
}

// Config is the verifier configuration the flags give.
func (f Flags) Config() Config {
	return Config{IssuerURL: *f.IssuerURL, Audience: *f.Audience, RolesClaim: *f.RolesClaim}
}
