package identity

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// authRequestTTL is how long a user has to log in, and then how long the
// code stays valid.
const authRequestTTL = 10 * time.Minute

// supportedScopes are the scopes granted; others asked for are dropped.
var supportedScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeOfflineAccess}

// grantScopes keeps the supported scopes asked for, "profile" when none.
// offline_access (a refresh token) is kept only when offline is true: for a
// user's grant, password or authorization_code, to a client allowed the
// refresh_token grant.
func grantScopes(asked []string, offline bool) []string {
	var granted []string
	for _, s := range asked {
		if slices.Contains(supportedScopes, s) && !slices.Contains(granted, s) && (s != oidc.ScopeOfflineAccess || offline) {
			granted = append(granted, s)
		}
	}
	if len(granted) == 0 {
		granted = []string{oidc.ScopeProfile}
	}
	return granted
}

// storage is what zitadel's op needs from us (op.Storage and
// op.ClientCredentialsStorage): the directory, the key, and, in memory, the
// authorization requests in flight and the refresh tokens (refresh.go).
// Access and ID tokens are JWTs and not kept: they cannot be revoked before
// they expire.
type storage struct {
	dir      atomic.Pointer[Directory] // replaced whole by Provider.SetDirectory
	refresh  *refreshTokens
	key      *signingKey
	audience string
	ttl      time.Duration
	loginURL string
	logger   *slog.Logger

	mu       sync.Mutex
	requests map[string]*authRequest
	codes    map[string]string // code -> request ID
}

var (
	_ op.Storage                        = (*storage)(nil)
	_ op.ClientCredentialsStorage       = (*storage)(nil)
	_ op.CanGetPrivateClaimsFromRequest = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest      = (*storage)(nil)
)

var errNotFound = errors.New("not found")

func (s *storage) directory() *Directory { return s.dir.Load() }

func (s *storage) opClient(c *client) opClient {
	return opClient{client: c, loginURL: s.loginURL, ttl: s.ttl}
}

// ---- authorization requests ----

// authRequest is one authorization-code flow in progress. The storage hands
// out copies, so op never reads one while the login page changes it.
type authRequest struct {
	id           string
	created      time.Time
	clientID     string
	redirectURI  string
	state        string
	nonce        string
	scopes       []string
	responseType oidc.ResponseType
	responseMode oidc.ResponseMode
	challenge    *oidc.CodeChallenge
	audience     []string

	subject  string
	authTime time.Time
	done     bool
}

var _ op.AuthRequest = (*authRequest)(nil)

func (a *authRequest) GetID() string       { return a.id }
func (a *authRequest) GetACR() string      { return "" }
func (a *authRequest) GetClientID() string { return a.clientID }
func (a *authRequest) GetNonce() string    { return a.nonce }
func (a *authRequest) GetRedirectURI() string {
	return a.redirectURI
}
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) GetAudience() []string                 { return a.audience }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) Done() bool                            { return a.done }
func (a *authRequest) GetAMR() []string {
	if a.done {
		return []string{"pwd"}
	}
	return nil
}

func (a *authRequest) expired(now time.Time) bool { return now.Sub(a.created) > authRequestTTL }

// CreateAuthRequest is called once op has checked the client, the
// redirect_uri (against the globs) and the response type. It adds the rules
// op leaves to us: the redirect_uri checked again by parsing it, PKCE with
// S256 required of public clients, and no silent login (there are no
// sessions: every authorization asks for the password).
func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	c := s.directory().clients[req.ClientID]
	if c == nil {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client")
	}
	if !c.redirectAllowed(req.RedirectURI) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("the redirect_uri is not registered for this client")
	}
	if req.CodeChallenge == "" && c.public() {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if req.CodeChallenge != "" && req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	if slices.Contains(req.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired().WithDescription("this provider keeps no sessions: the user must log in")
	}
	now := time.Now()
	a := &authRequest{
		id:           rand.Text(),
		created:      now,
		clientID:     c.id,
		redirectURI:  req.RedirectURI,
		state:        req.State,
		nonce:        req.Nonce,
		scopes:       grantScopes(req.Scopes, c.allows(grantRefreshToken)),
		responseType: req.ResponseType,
		responseMode: req.ResponseMode,
		audience:     []string{s.audience},
	}
	if req.CodeChallenge != "" {
		a.challenge = &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, r := range s.requests {
		if r.expired(now) {
			s.deleteLocked(id)
		}
	}
	s.requests[a.id] = a
	copied := *a
	return &copied, nil
}

// pendingAuthRequest is a request the login page may complete.
func (s *storage) pendingAuthRequest(id string) (authRequest, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.requests[id]
	if a == nil || a.done || a.expired(time.Now()) {
		return authRequest{}, false
	}
	return *a, true
}

// completeAuthRequest records who logged in; false when the request is gone,
// expired or already completed.
func (s *storage) completeAuthRequest(id, subject string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.requests[id]
	now := time.Now()
	if a == nil || a.done || a.expired(now) {
		return false
	}
	a.subject, a.authTime, a.done = subject, now, true
	return true
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.requests[id]
	if a == nil || a.expired(time.Now()) {
		return nil, fmt.Errorf("auth request %w or expired", errNotFound)
	}
	copied := *a
	return &copied, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("code %w", errNotFound)
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.requests[id] == nil {
		return fmt.Errorf("auth request %w", errNotFound)
	}
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest is called once the code was exchanged: a code works once.
func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleteLocked(id)
	return nil
}

func (s *storage) deleteLocked(id string) {
	delete(s.requests, id)
	for code, rid := range s.codes {
		if rid == id {
			delete(s.codes, code)
		}
	}
}

// ---- tokens ----

// A *grant is also the token request of the password and
// client_credentials grants (op.TokenRequest and op.IDTokenRequest).
func (g *grant) GetSubject() string     { return g.subject }
func (g *grant) GetAudience() []string  { return g.audience }
func (g *grant) GetScopes() []string    { return g.scopes }
func (g *grant) GetClientID() string    { return g.clientID }
func (g *grant) GetAMR() []string       { return g.amr }
func (g *grant) GetAuthTime() time.Time { return g.authTime }

// refreshRequest is a refresh_token grant (op.RefreshTokenRequest): what
// the login granted, and the scopes of this refresh, which op checks are
// among them.
type refreshRequest struct {
	grant
	scopes []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

// GetScopes is this refresh's scopes; the other getters are the grant's.
func (r *refreshRequest) GetScopes() []string              { return r.scopes }
func (r *refreshRequest) SetCurrentScopes(scopes []string) { r.scopes = scopes }

// CreateAccessToken gives the token its ID (jti) and expiry; op signs it.
func (s *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return rand.Text(), time.Now().Add(s.ttl), nil
}

// CreateAccessAndRefreshTokens is called by op for an authorization code
// whose request had offline_access granted (a new family) and for the
// refresh_token grant (the family's token rotated). The password grant
// begins its families itself (password.go); client_credentials never gets
// here.
func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	var refreshToken, clientID string
	switch r := req.(type) {
	case *refreshRequest:
		t, e := s.refresh.rotate(current)
		if e != nil {
			return "", "", time.Time{}, e
		}
		refreshToken, clientID = t, r.GetClientID()
	case op.AuthRequest:
		clientID = r.GetClientID()
		refreshToken = s.refresh.begin(grant{
			subject: r.GetSubject(), clientID: clientID, scopes: r.GetScopes(), audience: r.GetAudience(),
			amr: r.GetAMR(), authTime: r.GetAuthTime(),
		})
	default:
		return "", "", time.Time{}, fmt.Errorf("no refresh token for a %T", req)
	}
	s.logger.Info("identity: refresh token issued", "client_id", clientID, "sub", req.GetSubject(), "rotated", current != "")
	return rand.Text(), refreshToken, time.Now().Add(s.ttl), nil
}

// TokenRequestByRefreshToken checks a refresh token (refresh.go: current,
// unexpired, else refused; a rotated one revokes its family) and that its
// user may still have tokens: removed from the directory or disabled, the
// family is revoked. The roles are not kept: the access token made next
// reads them from the directory.
func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	id, g, e := s.refresh.grantOf(token)
	if e != nil {
		return nil, e
	}
	if s.directory().active(g.subject) == nil {
		s.refresh.revoke(id)
		s.logger.Warn("identity: refresh refused: the user is disabled or no longer in the directory", "client_id", g.clientID, "sub", g.subject)
		return nil, oidc.ErrInvalidGrant().WithDescription("the user is disabled or no longer exists")
	}
	return &refreshRequest{grant: g, scopes: slices.Clone(g.scopes)}, nil
}

// refreshTokenIDPrefix marks the token IDs GetRefreshTokenInfo gives for
// RevokeToken, which also receives access tokens' jti.
const refreshTokenIDPrefix = "refresh-family:"

// GetRefreshTokenInfo tells op's revocation endpoint whether a token is one
// of our refresh tokens (op.ErrInvalidRefreshToken when not: it then tries
// it as an access token).
func (s *storage) GetRefreshTokenInfo(_ context.Context, _ string, token string) (string, string, error) {
	id, g, ok := s.refresh.familyOf(token)
	if !ok {
		return "", "", op.ErrInvalidRefreshToken
	}
	return g.subject, refreshTokenIDPrefix + base64.RawURLEncoding.EncodeToString(id[:]), nil
}

// RevokeToken (RFC 7009) ends a refresh token's family, whichever of its
// tokens is presented, if the client revoking it is the one it was issued
// to. An access token is accepted and forgotten: a JWT stays valid until it
// expires. An unknown token is no error (RFC 7009 section 2.2).
func (s *storage) RevokeToken(_ context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	raw, ok := strings.CutPrefix(tokenOrID, refreshTokenIDPrefix)
	if !ok {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(raw)
	var id familyID
	if err != nil || len(b) != len(id) {
		return nil
	}
	copy(id[:], b)
	if g, ok := s.refresh.grantOfFamily(id); ok {
		if g.clientID != clientID {
			return oidc.ErrUnauthorizedClient().WithDescription("the token was issued to another client")
		}
		s.refresh.revoke(id)
		s.logger.Info("identity: refresh token revoked", "client_id", clientID, "sub", g.subject)
	}
	return nil
}

// TerminateSession has nothing to end: no sessions are kept. Refresh
// tokens are ended by the revocation endpoint.
func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// GetPrivateClaimsFromRequest adds to every access token what the services
// read: roles, preferred_username, scope, and azp (the client).
func (s *storage) GetPrivateClaimsFromRequest(_ context.Context, req op.TokenRequest, _ []string) (map[string]any, error) {
	clientID := ""
	if c, ok := req.(interface{ GetClientID() string }); ok {
		clientID = c.GetClientID()
	}
	return s.privateClaims(req.GetSubject(), clientID, req.GetScopes())
}

func (s *storage) GetPrivateClaimsFromScopes(_ context.Context, subject, clientID string, scopes []string) (map[string]any, error) {
	return s.privateClaims(subject, clientID, scopes)
}

// privateClaims reads the roles from the directory as it is now: a refresh
// carries the roles the user has then.
func (s *storage) privateClaims(subject, clientID string, scopes []string) (map[string]any, error) {
	p := s.directory().active(subject)
	if p == nil {
		return nil, oidc.ErrInvalidGrant().WithDescription("the user is disabled or no longer exists")
	}
	claims := map[string]any{
		"roles":              slices.Clone(p.roles),
		"preferred_username": p.username,
		"scope":              strings.Join(scopes, " "),
	}
	if clientID != "" {
		claims["azp"] = clientID
	}
	return claims, nil
}

// SetUserinfoFromScopes is deprecated in op but still called first.
func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, scopes []string) error {
	return s.setUserinfo(info, subject, scopes)
}

func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.setUserinfo(info, req.GetSubject(), scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, _, subject, _ string) error {
	p := s.directory().active(subject)
	if p == nil {
		return fmt.Errorf("subject %q %w or disabled", subject, errNotFound)
	}
	if err := s.setUserinfo(info, subject, []string{oidc.ScopeProfile}); err != nil {
		return err
	}
	info.AppendClaims("roles", slices.Clone(p.roles))
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, _, subject, _ string) error {
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, subject, []string{oidc.ScopeProfile}); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	return nil
}

func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	p := s.directory().active(subject)
	if p == nil {
		return fmt.Errorf("subject %q %w or disabled", subject, errNotFound)
	}
	info.Subject = p.subject
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.PreferredUsername = p.username
	}
	return nil
}

// ---- clients ----

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c := s.directory().clients[id]
	if c == nil {
		return nil, fmt.Errorf("client %q %w", id, errNotFound)
	}
	return s.opClient(c), nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	if _, ok := s.directory().authenticateClient(id, secret); !ok {
		return errors.New("unknown client or wrong secret")
	}
	return nil
}

func (s *storage) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	c, ok := s.directory().authenticateClient(id, secret)
	if !ok {
		return nil, errors.New("unknown client or wrong secret")
	}
	return s.opClient(c), nil
}

func (s *storage) ClientCredentialsTokenRequest(_ context.Context, id string, scopes []string) (op.TokenRequest, error) {
	s.logger.Info("identity: issuing a token", "grant_type", grantClientCredentials, "client_id", id, "sub", id)
	return &grant{
		subject:  id,
		clientID: id,
		audience: []string{s.audience},
		scopes:   grantScopes(scopes, false), // never offline_access: a refresh token is a user's
	}, nil
}

// ---- keys ----

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

// GetKeyByIDAndClientID: no client authenticates with a key of its own
// (private_key_jwt and the JWT bearer grant are not offered).
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("no client keys")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT bearer grant is not offered")
}

func (s *storage) Health(context.Context) error { return nil }
