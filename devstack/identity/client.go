package identity

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// opClient is a client of the directory as zitadel's op sees it.
type opClient struct {
	*client
	loginURL string // the login page; the auth request ID is appended
	ttl      time.Duration
}

var _ op.HasRedirectGlobs = opClient{}

func (c opClient) GetID() string { return c.id }

func (c opClient) RedirectURIs() []string {
	var uris []string
	for _, p := range c.redirects {
		if p.exact() {
			uris = append(uris, p.raw)
		}
	}
	return uris
}

func (c opClient) RedirectURIGlobs() []string {
	var globs []string
	for _, p := range c.redirects {
		if !p.exact() {
			globs = append(globs, p.globs()...)
		}
	}
	return globs
}

func (c opClient) PostLogoutRedirectURIs() []string     { return c.postLogout }
func (c opClient) PostLogoutRedirectURIGlobs() []string { return nil }

func (c opClient) ApplicationType() op.ApplicationType {
	switch c.kind {
	case clientNative:
		return op.ApplicationTypeNative
	case clientBrowser:
		return op.ApplicationTypeUserAgent
	default:
		return op.ApplicationTypeWeb
	}
}

func (c opClient) AuthMethod() oidc.AuthMethod {
	if c.public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic // the secret in the form is accepted as well (op.Config.AuthMethodPost)
}

func (c opClient) ResponseTypes() []oidc.ResponseType {
	if c.allows(grantAuthorizationCode) {
		return []oidc.ResponseType{oidc.ResponseTypeCode}
	}
	return nil
}

func (c opClient) GrantTypes() []oidc.GrantType {
	grants := make([]oidc.GrantType, len(c.grants))
	for i, g := range c.grants {
		grants[i] = oidc.GrantType(g)
	}
	return grants
}

func (c opClient) LoginURL(authRequestID string) string {
	return c.loginURL + "?id=" + url.QueryEscape(authRequestID)
}

func (c opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c opClient) IDTokenLifetime() time.Duration      { return c.ttl }

// DevMode lets a browser client redirect to plain http (localhost:5173):
// op refuses that otherwise. redirectAllowed still checks every redirect.
func (c opClient) DevMode() bool { return c.kind == clientBrowser }

func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

// IsScopeAllowed: only the standard scopes, which op allows by itself.
func (c opClient) IsScopeAllowed(string) bool           { return false }
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c opClient) ClockSkew() time.Duration             { return 0 }
