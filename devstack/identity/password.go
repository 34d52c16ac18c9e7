package identity

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// passwordGrant serves grant_type=password (RFC 6749 section 4.3; Keycloak's
// direct access grants), which zitadel's op does not implement. The tokens
// are made by op's own functions, so they are signed and shaped exactly as
// the other grants' are; with offline_access granted, a refresh token
// begins a family as an authorization code's does. Parameters are read
// from the form body only, never from the URL.
func (p *Provider) passwordGrant(w http.ResponseWriter, r *http.Request) {
	refuse := func(e *oidc.Error, clientID, username string) {
		p.logger.Warn("identity: password grant refused", "error", string(e.ErrorType), "reason", e.Description,
			"client_id", clientID, "username", username)
		status := http.StatusBadRequest
		if e.ErrorType == oidc.InvalidClient {
			status = http.StatusUnauthorized // RFC 6749 section 5.2
			w.Header().Set("WWW-Authenticate", `Basic realm="identity"`)
		}
		httphelper.MarshalJSONWithStatus(w, e, status)
	}

	clientID, secret, e := clientCredentials(r)
	if e != nil {
		refuse(e, clientID, "")
		return
	}
	dir := p.storage.directory()
	c := dir.clients[clientID]
	switch {
	case clientID == "":
		refuse(oidc.ErrInvalidClient().WithDescription("client_id is missing"), clientID, "")
		return
	case c == nil:
		refuse(oidc.ErrInvalidClient().WithDescription("unknown client"), clientID, "")
		return
	case c.public() && secret != "":
		refuse(oidc.ErrInvalidClient().WithDescription("a public client has no secret"), clientID, "")
		return
	case !c.public():
		if _, ok := dir.authenticateClient(clientID, secret); !ok {
			refuse(oidc.ErrInvalidClient().WithDescription("wrong client secret"), clientID, "")
			return
		}
	}
	if !c.allows(grantPassword) {
		refuse(oidc.ErrUnauthorizedClient().WithDescription("the client may not use the password grant"), clientID, "")
		return
	}
	username, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	if username == "" || password == "" {
		refuse(oidc.ErrInvalidRequest().WithDescription("username and password are required"), clientID, username)
		return
	}
	u, ok := dir.authenticate(username, password)
	if !ok {
		refuse(oidc.ErrInvalidGrant().WithDescription("invalid user credentials"), clientID, username)
		return
	}

	req := &grant{
		subject:  u.subject,
		clientID: c.id,
		audience: []string{p.cfg.Audience},
		scopes:   grantScopes(strings.Fields(r.PostForm.Get("scope")), c.allows(grantRefreshToken)),
		amr:      []string{"pwd"},
		authTime: time.Now(),
	}
	ctx := r.Context() // carries the issuer: intercept runs behind op's issuer interceptor
	client := p.storage.opClient(c)
	accessToken, _, validity, err := op.CreateAccessToken(ctx, req, client.AccessTokenType(), p.op, client, "")
	if err != nil {
		op.RequestError(w, r, err, nil)
		return
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken: accessToken,
		TokenType:   oidc.BearerToken,
		ExpiresIn:   uint64(validity.Round(time.Second).Seconds()),
		Scope:       req.scopes,
	}
	if slices.Contains(req.scopes, oidc.ScopeOpenID) {
		resp.IDToken, err = op.CreateIDToken(ctx, p.cfg.Issuer, req, client.IDTokenLifetime(), accessToken, "", p.storage, client)
		if err != nil {
			op.RequestError(w, r, err, nil)
			return
		}
	}
	if slices.Contains(req.scopes, oidc.ScopeOfflineAccess) {
		resp.RefreshToken = p.storage.refresh.begin(*req)
	}
	p.logger.Info("identity: token issued", "grant_type", grantPassword, "client_id", c.id, "sub", u.subject,
		"refresh_token", resp.RefreshToken != "")
	httphelper.MarshalJSON(w, resp)
}

// clientCredentials reads the client's ID and secret from HTTP Basic
// authentication (RFC 6749 section 2.3.1, form-encoded inside) or the form,
// refusing a request that uses both.
func clientCredentials(r *http.Request) (id, secret string, e *oidc.Error) {
	formID, formSecret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	basicID, basicSecret, basic := r.BasicAuth()
	if !basic {
		return formID, formSecret, nil
	}
	id, err1 := url.QueryUnescape(basicID)
	secret, err2 := url.QueryUnescape(basicSecret)
	switch {
	case err1 != nil || err2 != nil:
		return "", "", oidc.ErrInvalidClient().WithDescription("malformed basic authentication")
	case formSecret != "" || (formID != "" && formID != id):
		return id, "", oidc.ErrInvalidRequest().WithDescription("client authentication must use one method only")
	}
	return id, secret, nil
}
