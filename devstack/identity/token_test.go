package identity

import (
	"crypto"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestDiscovery(t *testing.T) {
	srv := start(t, Config{})
	doc := discovery(t, srv.Issuer())

	if !strings.HasPrefix(srv.Issuer(), "http://127.0.0.1:") {
		t.Errorf("issuer %q, want http://127.0.0.1:<port>", srv.Issuer())
	}
	for field, want := range map[string]string{
		"issuer":                 srv.Issuer(),
		"token_endpoint":         srv.Issuer() + "/token",
		"authorization_endpoint": srv.Issuer() + "/authorize",
		"jwks_uri":               srv.Issuer() + "/keys",
	} {
		if doc[field] != want {
			t.Errorf("%s = %v, want %s", field, doc[field], want)
		}
	}
	for field, want := range map[string][]string{
		"grant_types_supported":                 {"authorization_code", "client_credentials", "password", "refresh_token"},
		"response_types_supported":              {"code"},
		"code_challenge_methods_supported":      {"S256"},
		"id_token_signing_alg_values_supported": {"RS256"},
	} {
		var got []string
		for _, v := range doc[field].([]any) {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s = %v, want %v", field, got, want)
		}
	}

	set := keySet(t, srv.Issuer())
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys, want 1", len(set.Keys))
	}
	k := set.Keys[0]
	if k.KeyID != srv.KeyID() || k.Algorithm != "RS256" || k.Use != "sig" || !k.IsPublic() || !k.Valid() {
		t.Errorf("key %+v, want the public RS256 signing key with kid %s", k, srv.KeyID())
	}
}

// The users of the embedded users.yaml, as the task specifies them.
var wantRoles = map[string][]string{
	"ada":  {"applicant"},
	"bo":   {"applicant"},
	"lena": {"loan_officer"},
	"max":  {"loan_officer", "applicant"},
	"omar": {"ops"},
	"ana":  {"analyst"},
}

func TestPasswordGrant_EveryUser(t *testing.T) {
	srv := start(t, Config{TokenTTL: 30 * time.Minute})
	if got := srv.storage.directory().Usernames(); len(got) != len(wantRoles) {
		t.Errorf("users %v, want %d", got, len(wantRoles))
	}
	for name, roles := range wantRoles {
		t.Run(name, func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			c := verify(t, srv.Issuer(), accessToken(t, passwordGrant(t, srv, "loans-cli", name, name)))
			if c.Subject != name || c.PreferredUsername != name {
				t.Errorf("sub %q preferred_username %q, want %q", c.Subject, c.PreferredUsername, name)
			}
			if !slices.Equal(c.Roles, roles) {
				t.Errorf("roles %v, want %v", c.Roles, roles)
			}
			if !slices.Contains(c.Audience, DefaultAudience) {
				t.Errorf("aud %v, want it to contain %s", c.Audience, DefaultAudience)
			}
			if c.Issuer != srv.Issuer() {
				t.Errorf("iss %q, want %q", c.Issuer, srv.Issuer())
			}
			if c.AuthorizedParty != "loans-cli" || c.ClientID != "loans-cli" {
				t.Errorf("azp %q client_id %q, want loans-cli", c.AuthorizedParty, c.ClientID)
			}
			if c.ID == "" || c.IssuedAt == nil || c.NotBefore == nil || c.Scope == "" {
				t.Errorf("jti %q iat %v nbf %v scope %q: want all set", c.ID, c.IssuedAt, c.NotBefore, c.Scope)
			}
			if exp := c.Expiry.Time(); exp.Before(before.Add(30*time.Minute)) || exp.After(time.Now().Add(30*time.Minute+time.Second)) {
				t.Errorf("exp %s, want 30m from now", exp)
			}
			if c.kid != srv.KeyID() {
				t.Errorf("kid %q, want %q", c.kid, srv.KeyID())
			}
		})
	}
}

func TestPasswordGrant_OpenIDScopeGivesAnIDToken(t *testing.T) {
	srv := start(t, Config{})
	r := postForm(t, srv.Issuer()+"/token", url.Values{
		"grant_type": {"password"}, "client_id": {"loans-cli"}, "username": {"lena"}, "password": {"lena"},
		"scope": {"openid profile made-up"},
	}, "", "")
	c := verify(t, srv.Issuer(), accessToken(t, r))
	if c.Scope != "openid profile" {
		t.Errorf("scope %q, want the supported scopes asked for: openid profile", c.Scope)
	}
	idToken, _ := r.json(t)["id_token"].(string)
	if idToken == "" {
		t.Fatalf("no id_token: %s", r.body)
	}
	id := verify(t, srv.Issuer(), idToken)
	if id.Subject != "lena" || !slices.Contains(id.Audience, "loans-cli") || id.AuthorizedParty != "loans-cli" {
		t.Errorf("id token sub %q aud %v azp %q, want lena, loans-cli", id.Subject, id.Audience, id.AuthorizedParty)
	}
}

func TestPasswordGrant_Refused(t *testing.T) {
	srv := start(t, Config{})
	tokenURL := srv.Issuer() + "/token"
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"password"}}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	t.Run("WrongPassword", func(t *testing.T) {
		wantError(t, passwordGrant(t, srv, "loans-cli", "ada", "bo"), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("UnknownUser", func(t *testing.T) {
		wantError(t, passwordGrant(t, srv, "loans-cli", "eve", "eve"), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("ClientNotAllowedTheGrant", func(t *testing.T) {
		wantError(t, passwordGrant(t, srv, "loans-web", "ada", "ada"), http.StatusBadRequest, "unauthorized_client")
	})
	t.Run("ServiceAccountNotAllowedTheGrant", func(t *testing.T) {
		r := postForm(t, tokenURL, form("username", "ada", "password", "ada"), "loans-integration", "loans-integration-secret")
		wantError(t, r, http.StatusBadRequest, "unauthorized_client")
	})
	t.Run("UnknownClient", func(t *testing.T) {
		r := passwordGrant(t, srv, "nobody", "ada", "ada")
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
		if r.header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}
	})
	t.Run("NoClientID", func(t *testing.T) {
		wantError(t, postForm(t, tokenURL, form("username", "ada", "password", "ada"), "", ""), http.StatusUnauthorized, "invalid_client")
	})
	t.Run("SecretForAPublicClient", func(t *testing.T) {
		r := postForm(t, tokenURL, form("client_id", "loans-cli", "client_secret", "x", "username", "ada", "password", "ada"), "", "")
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("NoPassword", func(t *testing.T) {
		wantError(t, postForm(t, tokenURL, form("client_id", "loans-cli", "username", "ada"), "", ""), http.StatusBadRequest, "invalid_request")
	})
	t.Run("CredentialsInTheURLAreNotRead", func(t *testing.T) {
		r := postForm(t, tokenURL+"?username=ada&password=ada", form("client_id", "loans-cli"), "", "")
		wantError(t, r, http.StatusBadRequest, "invalid_request")
	})
	t.Run("UnsupportedGrantType", func(t *testing.T) {
		wantError(t, postForm(t, tokenURL, url.Values{"grant_type": {"magic"}, "client_id": {"loans-cli"}}, "", ""),
			http.StatusBadRequest, "unsupported_grant_type")
	})
}

func TestClientCredentials(t *testing.T) {
	srv := start(t, Config{Audience: "other-api"})
	tokenURL := srv.Issuer() + "/token"
	check := func(t *testing.T, r response) {
		t.Helper()
		c := verify(t, srv.Issuer(), accessToken(t, r))
		if c.Subject != "loans-integration" || !slices.Equal(c.Roles, []string{"ops"}) {
			t.Errorf("sub %q roles %v, want loans-integration [ops]", c.Subject, c.Roles)
		}
		if !slices.Equal(c.Audience, []string{"other-api"}) || c.AuthorizedParty != "loans-integration" {
			t.Errorf("aud %v azp %q, want [other-api] loans-integration", c.Audience, c.AuthorizedParty)
		}
	}
	t.Run("SecretInTheForm", func(t *testing.T) {
		check(t, postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"},
			"client_id": {"loans-integration"}, "client_secret": {"loans-integration-secret"}}, "", ""))
	})
	t.Run("SecretInBasicAuthentication", func(t *testing.T) {
		check(t, postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}}, "loans-integration", "loans-integration-secret"))
	})
	t.Run("WrongSecretInTheForm", func(t *testing.T) {
		r := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"},
			"client_id": {"loans-integration"}, "client_secret": {"wrong"}}, "", "")
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("WrongSecretInBasicAuthentication", func(t *testing.T) {
		r := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}}, "loans-integration", "wrong")
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("PublicClient", func(t *testing.T) {
		r := postForm(t, tokenURL, url.Values{"grant_type": {"client_credentials"}, "client_id": {"loans-cli"}}, "", "")
		wantError(t, r, http.StatusUnauthorized, "invalid_client")
	})
}

func TestUserinfo(t *testing.T) {
	srv := start(t, Config{})
	tok := accessToken(t, passwordGrant(t, srv, "loans-cli", "max", "max"))
	req, err := http.NewRequest(http.MethodGet, srv.Issuer()+"/userinfo", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	r := do(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	if m := r.json(t); m["sub"] != "max" || m["preferred_username"] != "max" {
		t.Errorf("userinfo %s, want sub and preferred_username max", r.body)
	}
}

func TestSigningKey_KeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	first := start(t, Config{DataDir: dir})
	firstSet := keySet(t, first.Issuer())
	tok := accessToken(t, passwordGrant(t, first, "loans-cli", "ada", "ada"))
	shutdown(t, first)

	info, err := os.Stat(filepath.Join(dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode %s, want -rw-------", mode)
	}

	second := start(t, Config{DataDir: dir})
	if second.KeyID() != first.KeyID() {
		t.Errorf("kid %q after the restart, want %q", second.KeyID(), first.KeyID())
	}
	secondSet := keySet(t, second.Issuer())
	if len(secondSet.Keys) != 1 || !publicKeysEqual(firstSet.Keys[0], secondSet.Keys[0]) {
		t.Errorf("the published key changed across the restart")
	}
	// The first server's token verifies with the second server's key.
	parsed, err := jose.ParseSigned(tok, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parsed.Verify(secondSet.Keys[0].Key); err != nil {
		t.Errorf("a token signed before the restart does not verify after it: %v", err)
	}

	other := start(t, Config{DataDir: t.TempDir()})
	if other.KeyID() == first.KeyID() {
		t.Error("another data folder has the same key")
	}
	inMemory := start(t, Config{})
	if inMemory.KeyID() == first.KeyID() {
		t.Error("an in-memory provider has the data folder's key")
	}
}

func publicKeysEqual(a, b jose.JSONWebKey) bool {
	ta, errA := a.Thumbprint(crypto.SHA256)
	tb, errB := b.Thumbprint(crypto.SHA256)
	return errA == nil && errB == nil && string(ta) == string(tb) && a.KeyID == b.KeyID
}

func TestNew_RefusesABadConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"NoIssuer":           {},
		"IssuerWithQuery":    {Issuer: "http://127.0.0.1:1?x=1"},
		"IssuerEndsInSlash":  {Issuer: "http://127.0.0.1:1/"},
		"NotAnURL":           {Issuer: "127.0.0.1:1"},
		"NegativeTTL":        {Issuer: "http://127.0.0.1:1", TokenTTL: -time.Minute},
		"NegativeRefreshTTL": {Issuer: "http://127.0.0.1:1", RefreshTokenTTL: -time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := New(cfg); err == nil {
				t.Error("no error")
			}
		})
	}
}

// A single-page app on localhost:5173 reaches discovery and the token
// endpoint from the browser (op's CORS handling stays in front of ours).
func TestCORS(t *testing.T) {
	srv := start(t, Config{})
	for _, path := range []string{"/.well-known/openid-configuration", "/token", "/keys"} {
		req, err := http.NewRequest(http.MethodOptions, srv.Issuer()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", "http://localhost:5173")
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		r := do(t, req)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != "http://localhost:5173" {
			t.Errorf("preflight %s: Access-Control-Allow-Origin %q, want http://localhost:5173", path, got)
		}
	}
}

func TestEndSession(t *testing.T) {
	srv := start(t, Config{})
	endSession := func(clientID, redirect string) response {
		return get(t, srv.Issuer()+"/end_session?"+url.Values{"client_id": {clientID}, "post_logout_redirect_uri": {redirect}}.Encode())
	}
	for _, redirect := range []string{"http://localhost:5173/", "http://127.0.0.1:5173/"} {
		if r := endSession("loans-web", redirect); r.status != http.StatusFound || r.header.Get("Location") != redirect {
			t.Errorf("logout to %s: status %d Location %q, want 302 there", redirect, r.status, r.header.Get("Location"))
		}
	}
	if r := endSession("loans-web", "http://evil.example/"); r.status != http.StatusBadRequest {
		t.Errorf("logout to an unregistered URI: status %d, want 400", r.status)
	}
}
