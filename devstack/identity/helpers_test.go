package identity

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// start runs a provider on 127.0.0.1:0 until the test ends.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Start(lis, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { shutdown(t, srv) })
	return srv
}

func shutdown(t *testing.T, srv *Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// client follows no redirect: the tests read every Location themselves.
var browser = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("status %d, body %q: %v", r.status, r.body, err)
	}
	return m
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func get(t *testing.T, rawURL string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// postForm posts form to url; with basicUser set, with HTTP Basic
// authentication too.
func postForm(t *testing.T, rawURL string, form url.Values, basicUser, basicPassword string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicUser != "" {
		req.SetBasicAuth(url.QueryEscape(basicUser), url.QueryEscape(basicPassword))
	}
	return do(t, req)
}

func passwordGrant(t *testing.T, srv *Server, clientID, username, password string) response {
	t.Helper()
	return postForm(t, srv.Issuer()+"/token", url.Values{
		"grant_type": {"password"}, "client_id": {clientID}, "username": {username}, "password": {password},
	}, "", "")
}

// wantError checks an OAuth error response (RFC 6749 section 5.2).
func wantError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d (body %s)", r.status, status, r.body)
	}
	if got := r.json(t)["error"]; got != code {
		t.Errorf("error %v, want %s (body %s)", got, code, r.body)
	}
}

// accessToken checks a successful token response and returns its token.
func accessToken(t *testing.T, r response) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	m := r.json(t)
	if m["token_type"] != "Bearer" {
		t.Errorf("token_type %v, want Bearer", m["token_type"])
	}
	if exp, _ := m["expires_in"].(float64); exp <= 0 {
		t.Errorf("expires_in %v, want > 0", m["expires_in"])
	}
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("no access_token in %s", r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	return tok
}

// claims are the claims of a token verified with go-jose against the key
// set the provider serves (found through its discovery document).
type claims struct {
	jwt.Claims
	AuthorizedParty   string   `json:"azp"`
	ClientID          string   `json:"client_id"`
	Roles             []string `json:"roles"`
	PreferredUsername string   `json:"preferred_username"`
	Scope             string   `json:"scope"`
	Nonce             string   `json:"nonce"`
	kid               string
}

func verify(t *testing.T, issuer, raw string) claims {
	t.Helper()
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("parse token: %v", err)
	}
	kid := tok.Headers[0].KeyID
	set := keySet(t, issuer)
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("the key set has %d keys with kid %q, want 1", len(keys), kid)
	}
	var c claims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("verify token: %v", err)
	}
	c.kid = kid
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: issuer, Time: time.Now()}, 0); err != nil {
		t.Errorf("claims: %v", err)
	}
	return c
}

func discovery(t *testing.T, issuer string) map[string]any {
	t.Helper()
	r := get(t, issuer+"/.well-known/openid-configuration")
	if r.status != http.StatusOK {
		t.Fatalf("discovery: status %d: %s", r.status, r.body)
	}
	return r.json(t)
}

func keySet(t *testing.T, issuer string) jose.JSONWebKeySet {
	t.Helper()
	jwksURI, _ := discovery(t, issuer)["jwks_uri"].(string)
	r := get(t, jwksURI)
	if r.status != http.StatusOK {
		t.Fatalf("jwks: status %d: %s", r.status, r.body)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.body, &set); err != nil {
		t.Fatal(err)
	}
	return set
}
