package identity

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// A refresh token is issued as a serious provider issues it: for a user's
// grant that asked for offline_access, from a client allowed refresh
// tokens; opaque, with at least 256 random bits.
func TestRefreshToken_IssuedOnlyWithOfflineAccess(t *testing.T) {
	dir, err := ParseDirectory("test.yaml", []byte(`
users:
  - {name: ada, password: ada, roles: [applicant]}
clients:
  - {id: no-refresh-cli, type: native, grants: [password]}
  - {id: service, type: confidential, secret: s, grants: [client_credentials], roles: [ops]}
  - id: loans-cli
    type: native
    grants: [password, authorization_code, refresh_token]
    redirect_uris: ["http://127.0.0.1:*/**"]
  - id: loans-web
    type: browser
    grants: [authorization_code, refresh_token]
    redirect_uris: ["http://localhost:5173/**"]
`))
	if err != nil {
		t.Fatal(err)
	}
	srv := start(t, Config{Directory: dir})

	t.Run("PasswordGrantWithOfflineAccess", func(t *testing.T) {
		r := passwordGrantScope(t, srv, "loans-cli", "ada", "openid profile offline_access")
		wantRefreshToken(t, r)
		if c := verify(t, srv.Issuer(), accessToken(t, r)); c.Scope != "openid profile offline_access" {
			t.Errorf("scope %q, want openid profile offline_access", c.Scope)
		}
	})
	t.Run("PasswordGrantWithoutOfflineAccess", func(t *testing.T) {
		wantNoRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "openid profile"))
	})
	t.Run("AuthorizationCodeWithOfflineAccess", func(t *testing.T) {
		wantRefreshToken(t, codeGrant(t, srv, "loans-cli", "http://127.0.0.1:50000/cb", "openid offline_access", "ada"))
		wantRefreshToken(t, codeGrant(t, srv, "loans-web", "http://localhost:5173/cb", "openid profile offline_access", "ada"))
	})
	t.Run("AuthorizationCodeWithoutOfflineAccess", func(t *testing.T) {
		wantNoRefreshToken(t, codeGrant(t, srv, "loans-web", "http://localhost:5173/cb", "openid profile", "ada"))
	})
	t.Run("ClientNotAllowedRefreshTokens", func(t *testing.T) {
		r := passwordGrantScope(t, srv, "no-refresh-cli", "ada", "openid offline_access")
		wantNoRefreshToken(t, r)
		if c := verify(t, srv.Issuer(), accessToken(t, r)); c.Scope != "openid" {
			t.Errorf("scope %q, want offline_access dropped: openid", c.Scope)
		}
	})
	t.Run("ClientCredentialsNever", func(t *testing.T) {
		r := postForm(t, srv.Issuer()+"/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"openid offline_access"}}, "service", "s")
		wantNoRefreshToken(t, r)
		if c := verify(t, srv.Issuer(), accessToken(t, r)); strings.Contains(c.Scope, "offline_access") {
			t.Errorf("scope %q, want no offline_access", c.Scope)
		}
	})
	t.Run("Discovery", func(t *testing.T) {
		doc := discovery(t, srv.Issuer())
		if !slices.Contains(doc["scopes_supported"].([]any), any("offline_access")) || doc["revocation_endpoint"] != srv.Issuer()+"/revoke" {
			t.Errorf("scopes_supported %v revocation_endpoint %v, want offline_access and %s/revoke",
				doc["scopes_supported"], doc["revocation_endpoint"], srv.Issuer())
		}
	})
}

func TestRefreshToken_Rotation(t *testing.T) {
	srv := start(t, Config{})
	t.Run("ANewAccessTokenWithTheCurrentRolesAndANewRefreshToken", func(t *testing.T) {
		// Given max logged in with offline_access,
		first := passwordGrantScope(t, srv, "loans-cli", "max", "openid profile offline_access")
		old := wantRefreshToken(t, first)
		loggedIn := verify(t, srv.Issuer(), accessToken(t, first))
		// and his roles changed since,
		srv.SetDirectory(withUser(t, "max", "roles: [ops]"))
		t.Cleanup(func() { srv.SetDirectory(mustDefaultDirectory(t)) })

		// when the refresh token is used,
		r := refresh(t, srv, "loans-cli", old, "")

		// then the access token is new and carries the roles he has now,
		c := verify(t, srv.Issuer(), accessToken(t, r))
		if c.ID == loggedIn.ID || c.Subject != "max" || !slices.Equal(c.Roles, []string{"ops"}) || c.AuthorizedParty != "loans-cli" {
			t.Errorf("refreshed token jti %q sub %q roles %v azp %q, want a new jti, max, [ops], loans-cli", c.ID, c.Subject, c.Roles, c.AuthorizedParty)
		}
		if c.Scope != "openid profile offline_access" {
			t.Errorf("scope %q, want the login's", c.Scope)
		}
		if id, _ := r.json(t)["id_token"].(string); verify(t, srv.Issuer(), id).Subject != "max" {
			t.Errorf("no ID token for max: %s", r.body)
		}
		// with a new refresh token,
		rotated := wantRefreshToken(t, r)
		if rotated == old {
			t.Fatal("the refresh token was not rotated")
		}
		// which works once again.
		wantRefreshToken(t, refresh(t, srv, "loans-cli", rotated, ""))
	})
	t.Run("TheRotatedTokenIsRefused", func(t *testing.T) {
		old := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))
		wantRefreshToken(t, refresh(t, srv, "loans-cli", old, ""))
		wantError(t, refresh(t, srv, "loans-cli", old, ""), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("ReuseRevokesTheFamily", func(t *testing.T) {
		// Given a login rotated twice (first -> second -> third),
		first := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))
		second := wantRefreshToken(t, refresh(t, srv, "loans-cli", first, ""))
		third := wantRefreshToken(t, refresh(t, srv, "loans-cli", second, ""))
		// and another login of the same user,
		other := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))

		// when a rotated token is used again (by a thief, or by the client
		// the thief raced),
		wantError(t, refresh(t, srv, "loans-cli", first, ""), http.StatusBadRequest, "invalid_grant")

		// then the family's current token is refused too,
		wantError(t, refresh(t, srv, "loans-cli", third, ""), http.StatusBadRequest, "invalid_grant")
		// and the other login is untouched.
		wantRefreshToken(t, refresh(t, srv, "loans-cli", other, ""))
	})
	t.Run("TwoRefreshesWithOneTokenAtOnce", func(t *testing.T) {
		// Given a refresh token,
		token := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "bo", "offline_access"))
		// when it is used four times at once,
		responses := make([]response, 4)
		var wg sync.WaitGroup
		form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"loans-cli"}, "refresh_token": {token}}.Encode()
		for i := range responses {
			wg.Go(func() {
				resp, err := browser.Post(srv.Issuer()+"/token", "application/x-www-form-urlencoded", strings.NewReader(form))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Error(err)
				}
				responses[i] = response{status: resp.StatusCode, header: resp.Header, body: body}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		// then one is answered and the others are reuses: the family,
		// with the token just given, is revoked.
		var won []string
		for _, r := range responses {
			if r.status == http.StatusOK {
				won = append(won, wantRefreshToken(t, r))
			} else {
				wantError(t, r, http.StatusBadRequest, "invalid_grant")
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d refreshes answered, want 1", len(won))
		}
		wantError(t, refresh(t, srv, "loans-cli", won[0], ""), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("AnotherClientIsRefusedAndTheTokenNotSpent", func(t *testing.T) {
		token := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))
		wantError(t, refresh(t, srv, "loans-web", token, ""), http.StatusBadRequest, "invalid_grant")
		wantRefreshToken(t, refresh(t, srv, "loans-cli", token, ""))
	})
	t.Run("Malformed", func(t *testing.T) {
		for _, token := range []string{"", "x", strings.Repeat("A", 64), "a.b.c"} {
			r := refresh(t, srv, "loans-cli", token, "")
			if r.status != http.StatusBadRequest {
				t.Errorf("refresh_token %q: status %d, want 400", token, r.status)
			}
		}
	})
}

func TestRefreshToken_ScopesCannotWiden(t *testing.T) {
	srv := start(t, Config{})
	// Given a login that granted profile and offline_access,
	token := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "lena", "profile offline_access"))

	// a refresh asking for more is refused, and spends nothing,
	wantError(t, refresh(t, srv, "loans-cli", token, "openid profile offline_access"), http.StatusBadRequest, "invalid_scope")

	// one asking for less gets an access token with less,
	r := refresh(t, srv, "loans-cli", token, "profile")
	if c := verify(t, srv.Issuer(), accessToken(t, r)); c.Scope != "profile" {
		t.Errorf("scope %q, want profile", c.Scope)
	}
	// and a refresh token with what the login granted.
	r = refresh(t, srv, "loans-cli", wantRefreshToken(t, r), "")
	if c := verify(t, srv.Issuer(), accessToken(t, r)); c.Scope != "profile offline_access" {
		t.Errorf("scope %q, want profile offline_access", c.Scope)
	}
}

func TestRefreshToken_Expiry(t *testing.T) {
	clock := newTestClock()
	srv := start(t, Config{RefreshTokenTTL: 8 * time.Hour, now: clock.now})
	t.Run("RefusedOnceTheLoginIsOlderThanItsLifetime", func(t *testing.T) {
		// Given a login rotated a minute before its lifetime ends,
		token := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))
		clock.advance(8*time.Hour - time.Minute)
		token = wantRefreshToken(t, refresh(t, srv, "loans-cli", token, ""))

		// when the lifetime has passed, the rotated token is refused:
		// rotation does not extend it.
		clock.advance(time.Minute)
		wantError(t, refresh(t, srv, "loans-cli", token, ""), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("ExpiredFamiliesAreDropped", func(t *testing.T) {
		for range 3 {
			wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "bo", "offline_access"))
		}
		clock.advance(8 * time.Hour)
		wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "bo", "offline_access"))
		if n := srv.storage.refresh.size(); n != 1 {
			t.Errorf("%d families kept, want 1: the expired ones dropped", n)
		}
	})
}

func TestRefreshToken_UserNoLongerActive(t *testing.T) {
	srv := start(t, Config{})
	t.Cleanup(func() { srv.SetDirectory(mustDefaultDirectory(t)) })
	for name, change := range map[string]*Directory{
		"Disabled": withUser(t, "ada", "roles: [applicant], disabled: true"),
		"Removed":  withoutUser(t, "ada"),
	} {
		t.Run(name, func(t *testing.T) {
			srv.SetDirectory(mustDefaultDirectory(t))
			// Given ada logged in with offline_access,
			token := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))
			other := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "bo", "offline_access"))
			// when she is disabled or removed,
			srv.SetDirectory(change)
			// then her refresh is refused,
			wantError(t, refresh(t, srv, "loans-cli", token, ""), http.StatusBadRequest, "invalid_grant")
			// she cannot log in,
			wantError(t, passwordGrant(t, srv, "loans-cli", "ada", "ada"), http.StatusBadRequest, "invalid_grant")
			// and her login stays ended once she is back,
			srv.SetDirectory(mustDefaultDirectory(t))
			wantError(t, refresh(t, srv, "loans-cli", token, ""), http.StatusBadRequest, "invalid_grant")
			// while others refresh as before.
			wantRefreshToken(t, refresh(t, srv, "loans-cli", other, ""))
		})
	}
}

func TestRefreshToken_Revoke(t *testing.T) {
	srv := start(t, Config{})
	revoke := func(clientID, token, hint string) response {
		form := url.Values{"client_id": {clientID}, "token": {token}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		return postForm(t, srv.Issuer()+"/revoke", form, "", "")
	}
	t.Run("TheFamilyEnds", func(t *testing.T) {
		token := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))
		if r := revoke("loans-cli", token, "refresh_token"); r.status != http.StatusOK {
			t.Fatalf("revoke: status %d: %s", r.status, r.body)
		}
		wantError(t, refresh(t, srv, "loans-cli", token, ""), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("ByARotatedTokenWithoutAHint", func(t *testing.T) {
		old := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))
		current := wantRefreshToken(t, refresh(t, srv, "loans-cli", old, ""))
		if r := revoke("loans-cli", old, ""); r.status != http.StatusOK {
			t.Fatalf("revoke: status %d: %s", r.status, r.body)
		}
		wantError(t, refresh(t, srv, "loans-cli", current, ""), http.StatusBadRequest, "invalid_grant")
	})
	t.Run("OnlyByItsClient", func(t *testing.T) {
		token := wantRefreshToken(t, passwordGrantScope(t, srv, "loans-cli", "ada", "offline_access"))
		wantError(t, revoke("loans-web", token, "refresh_token"), http.StatusBadRequest, "unauthorized_client")
		wantRefreshToken(t, refresh(t, srv, "loans-cli", token, ""))
	})
	t.Run("UnknownTokensAndAccessTokensAreAccepted", func(t *testing.T) {
		for _, token := range []string{"unknown", base64.RawURLEncoding.EncodeToString(make([]byte, 48)),
			accessToken(t, passwordGrant(t, srv, "loans-cli", "ada", "ada"))} {
			if r := revoke("loans-cli", token, ""); r.status != http.StatusOK {
				t.Errorf("revoke %.20s…: status %d, want 200 (RFC 7009 section 2.2): %s", token, r.status, r.body)
			}
		}
	})
}

// ---- helpers ----

func passwordGrantScope(t *testing.T, srv *Server, clientID, username, scope string) response {
	t.Helper()
	return postForm(t, srv.Issuer()+"/token", url.Values{
		"grant_type": {"password"}, "client_id": {clientID}, "username": {username}, "password": {username}, "scope": {scope},
	}, "", "")
}

// codeGrant runs the authorization-code flow with PKCE for username and
// returns the token response.
func codeGrant(t *testing.T, srv *Server, clientID, redirectURI, scope, username string) response {
	t.Helper()
	verifier, challenge := pkce()
	back := login(t, srv, authorizeURL(srv, url.Values{
		"client_id": {clientID}, "redirect_uri": {redirectURI}, "response_type": {"code"}, "scope": {scope},
		"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}), username, username)
	return exchange(t, srv, clientID, back.Query().Get("code"), redirectURI, verifier)
}

func refresh(t *testing.T, srv *Server, clientID, token, scope string) response {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {token}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return postForm(t, srv.Issuer()+"/token", form, "", "")
}

// wantRefreshToken checks a token response carries an opaque refresh token
// of at least 256 bits and returns it.
func wantRefreshToken(t *testing.T, r response) string {
	t.Helper()
	accessToken(t, r)
	token, _ := r.json(t)["refresh_token"].(string)
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) < 32 || strings.Contains(token, ".") {
		t.Fatalf("refresh_token %q: want an opaque token of at least 256 bits (body %s)", token, r.body)
	}
	return token
}

func wantNoRefreshToken(t *testing.T, r response) {
	t.Helper()
	accessToken(t, r)
	if token, ok := r.json(t)["refresh_token"]; ok {
		t.Errorf("refresh_token %v, want none", token)
	}
}

func mustDefaultDirectory(t *testing.T) *Directory {
	t.Helper()
	d, err := DefaultDirectory()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// withUser is the embedded directory with one user's line replaced by
// {name: <name>, password: <name>, <fields>}.
func withUser(t *testing.T, name, fields string) *Directory {
	t.Helper()
	return editUsers(t, name, "  - {name: "+name+", password: "+name+", "+fields+"}\n")
}

func withoutUser(t *testing.T, name string) *Directory {
	t.Helper()
	return editUsers(t, name, "")
}

func editUsers(t *testing.T, name, replacement string) *Directory {
	t.Helper()
	lines := strings.SplitAfter(string(defaultUsersFile), "\n")
	i := slices.Index(lines, "  - name: "+name+"\n")
	if i < 0 {
		t.Fatalf("no user %s in users.yaml", name)
	}
	end := i + 1
	for end < len(lines) && strings.HasPrefix(lines[end], "    ") {
		end++
	}
	file := strings.Join(slices.Concat(lines[:i], []string{replacement}, lines[end:]), "")
	d, err := ParseDirectory("edited users.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// testClock is the refresh tokens' clock, moved by the test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
