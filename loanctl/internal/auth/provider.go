// Package auth gets OpenID Connect access tokens for loanctl and keeps them:
// the authorization-code flow with PKCE and a loopback redirect (RFC 8252,
// as kubectl's oidc-login does), the resource owner password grant of the
// development provider, refresh, and the token cache.
package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultScopes are what login asks for: an ID token (openid), the user's
// name (profile), and a refresh token (offline_access), which issuers such
// as Keycloak, Entra and Auth0 give only when it is asked for.
func DefaultScopes() []string { return []string{"openid", "profile", "offline_access"} }

// Provider is an OpenID provider as its discovery document describes it.
type Provider struct {
	Issuer                string `json:"issuer"`
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	// RevocationEndpoint is where logout revokes a refresh token (RFC 7009);
	// "" where the issuer has none.
	RevocationEndpoint string `json:"revocation_endpoint"`

	http *http.Client
}

// Discover reads <issuer>/.well-known/openid-configuration and checks that
// it speaks for that issuer (OpenID Connect Discovery 1.0, section 4.3).
func Discover(ctx context.Context, hc *http.Client, issuer string) (*Provider, error) {
	issuer = strings.TrimSuffix(issuer, "/")
	u := issuer + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w (is the identity provider running at %s?)", err, issuer)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("discovery: GET %s: %s", u, resp.Status)
	}
	p := &Provider{http: hc}
	if err := json.Unmarshal(body, p); err != nil {
		return nil, fmt.Errorf("discovery: %s: %w", u, err)
	}
	if strings.TrimSuffix(p.Issuer, "/") != issuer {
		return nil, fmt.Errorf("discovery: %s names the issuer %q, not %q", u, p.Issuer, issuer)
	}
	if p.TokenEndpoint == "" {
		return nil, fmt.Errorf("discovery: %s has no token_endpoint", u)
	}
	return p, nil
}

// Token is what a token endpoint granted.
type Token struct {
	AccessToken  string
	TokenType    string
	RefreshToken string
	IDToken      string
	// Expiry is when the access token expires (zero: not said).
	Expiry time.Time
}

// Error is a refusal of the token endpoint (RFC 6749 section 5.2).
type Error struct {
	Status      int
	Code        string // such as invalid_grant
	Description string
}

func (e *Error) Error() string {
	if e.Description != "" {
		return e.Code + ": " + e.Description
	}
	return e.Code
}

// PasswordGrant asks for a token with a user's name and password (RFC 6749
// section 4.3; the development provider and Keycloak's direct access
// grants).
func (p *Provider) PasswordGrant(ctx context.Context, clientID, username, password string, scopes []string) (*Token, error) {
	form := url.Values{
		"grant_type": {"password"},
		"client_id":  {clientID},
		"username":   {username},
		"password":   {password},
	}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	return p.token(ctx, form)
}

// Refresh trades a refresh token for a new access token (RFC 6749 section
// 6). An issuer that rotates refresh tokens answers with a new one, which
// must replace the one sent: that one no longer works.
func (p *Provider) Refresh(ctx context.Context, clientID, refreshToken string) (*Token, error) {
	t, err := p.token(ctx, url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {clientID},
		"refresh_token": {refreshToken},
	})
	if err != nil {
		return nil, err
	}
	if t.RefreshToken == "" {
		t.RefreshToken = refreshToken // the same one stays valid (section 6)
	}
	return t, nil
}

// Revoke asks the issuer to revoke a refresh token (RFC 7009), which ends
// the login it belongs to there. An issuer that has no revocation endpoint
// gives ErrNoRevocation; an unknown or expired token is not an error (the
// RFC's 200).
func (p *Provider) Revoke(ctx context.Context, clientID, refreshToken string) error {
	if p.RevocationEndpoint == "" {
		return ErrNoRevocation
	}
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {clientID}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := p.http.Do(req)
	if err != nil {
		return fmt.Errorf("revocation endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	var r struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	if json.Unmarshal(body, &r) != nil || r.Error == "" {
		r.Error = resp.Status
	}
	return &Error{Status: resp.StatusCode, Code: r.Error, Description: r.ErrorDescription}
}

// ErrNoRevocation is Revoke's error where the issuer publishes no
// revocation endpoint.
var ErrNoRevocation = errors.New("the issuer has no revocation endpoint")

func (p *Provider) token(ctx context.Context, form url.Values) (*Token, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	sent := time.Now()
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("token endpoint: %w", err)
	}
	var r struct {
		AccessToken      string `json:"access_token"`
		TokenType        string `json:"token_type"`
		ExpiresIn        int64  `json:"expires_in"`
		RefreshToken     string `json:"refresh_token"`
		IDToken          string `json:"id_token"`
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/json" || json.Unmarshal(body, &r) != nil {
		return nil, fmt.Errorf("token endpoint: %s answered %s with %q", p.TokenEndpoint, resp.Status, truncate(string(body), 200))
	}
	if resp.StatusCode != http.StatusOK || r.Error != "" {
		if r.Error == "" {
			r.Error = resp.Status
		}
		return nil, &Error{Status: resp.StatusCode, Code: r.Error, Description: r.ErrorDescription}
	}
	if r.AccessToken == "" {
		return nil, errors.New("token endpoint: the answer has no access_token")
	}
	t := &Token{AccessToken: r.AccessToken, TokenType: r.TokenType, RefreshToken: r.RefreshToken, IDToken: r.IDToken}
	if r.ExpiresIn > 0 {
		t.Expiry = sent.Add(time.Duration(r.ExpiresIn) * time.Second)
	} else if c, err := DecodeClaims(r.AccessToken); err == nil && c.Expiry() != (time.Time{}) {
		t.Expiry = c.Expiry()
	}
	return t, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
