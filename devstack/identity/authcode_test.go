package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// pkce is a code verifier and its S256 challenge (RFC 7636).
func pkce() (verifier, challenge string) {
	verifier = rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeURL(srv *Server, params url.Values) string {
	return srv.Issuer() + "/authorize?" + params.Encode()
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// login drives the browser's part of the flow from the authorize URL to the
// client's redirect and returns that redirect's URL.
func login(t *testing.T, srv *Server, authorize, username, password string) *url.URL {
	t.Helper()
	r := get(t, authorize)
	if r.status != http.StatusFound {
		t.Fatalf("authorize: status %d, want 302: %s", r.status, r.body)
	}
	loginURL := resolve(t, srv.Issuer(), r.header.Get("Location"))
	if !strings.HasPrefix(loginURL.String(), srv.Issuer()+"/login?") {
		t.Fatalf("authorize redirected to %s, want the login page", loginURL)
	}

	page := get(t, loginURL.String())
	if page.status != http.StatusOK {
		t.Fatalf("login page: status %d: %s", page.status, page.body)
	}
	m := hiddenID.FindSubmatch(page.body)
	if m == nil {
		t.Fatalf("the login page has no auth request ID: %s", page.body)
	}
	form := url.Values{"id": {string(m[1])}, "username": {username}, "password": {password}}
	r = postForm(t, srv.Issuer()+"/login", form, "", "")
	if r.status != http.StatusSeeOther {
		t.Fatalf("login: status %d, want 303: %s", r.status, r.body)
	}
	r = get(t, resolve(t, srv.Issuer(), r.header.Get("Location")).String())
	if r.status != http.StatusFound {
		t.Fatalf("callback: status %d, want 302: %s", r.status, r.body)
	}
	return resolve(t, srv.Issuer(), r.header.Get("Location"))
}

func resolve(t *testing.T, base, location string) *url.URL {
	t.Helper()
	b, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.Parse(location)
	if err != nil {
		t.Fatalf("Location %q: %v", location, err)
	}
	return u
}

func exchange(t *testing.T, srv *Server, clientID, code, redirectURI, verifier string) response {
	t.Helper()
	return postForm(t, srv.Issuer()+"/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {clientID}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}, "", "")
}

func TestAuthorizationCode_PKCE(t *testing.T) {
	srv := start(t, Config{})
	for _, tc := range []struct{ client, redirectURI string }{
		{"loans-cli", "http://127.0.0.1:49152/callback"},
		{"loans-cli", "http://localhost:61000/oauth/done"},
		{"loans-web", "http://localhost:5173/auth/callback"},
		{"loans-web", "http://127.0.0.1:5173/"},
	} {
		t.Run(tc.client+" "+tc.redirectURI, func(t *testing.T) {
			verifier, challenge := pkce()
			state, nonce := rand.Text(), rand.Text()
			back := login(t, srv, authorizeURL(srv, url.Values{
				"client_id": {tc.client}, "redirect_uri": {tc.redirectURI}, "response_type": {"code"},
				"scope": {"openid profile"}, "state": {state}, "nonce": {nonce},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"},
			}), "max", "max")

			if got := back.Scheme + "://" + back.Host + back.Path; got != strings.TrimSuffix(tc.redirectURI, "?") {
				t.Fatalf("redirected to %s, want %s", back, tc.redirectURI)
			}
			if back.Query().Get("state") != state {
				t.Errorf("state %q, want %q", back.Query().Get("state"), state)
			}
			code := back.Query().Get("code")
			if code == "" {
				t.Fatalf("no code in %s", back)
			}

			wrong, _ := pkce()
			wantError(t, exchange(t, srv, tc.client, code, tc.redirectURI, wrong), http.StatusBadRequest, "invalid_grant")
			wantError(t, exchange(t, srv, tc.client, code, tc.redirectURI, ""), http.StatusBadRequest, "invalid_request")

			r := exchange(t, srv, tc.client, code, tc.redirectURI, verifier)
			c := verify(t, srv.Issuer(), accessToken(t, r))
			if c.Subject != "max" || !slices.Equal(c.Roles, []string{"loan_officer", "applicant"}) {
				t.Errorf("sub %q roles %v, want max [loan_officer applicant]", c.Subject, c.Roles)
			}
			if c.AuthorizedParty != tc.client || !slices.Contains(c.Audience, DefaultAudience) {
				t.Errorf("azp %q aud %v, want %s and %s", c.AuthorizedParty, c.Audience, tc.client, DefaultAudience)
			}
			idToken, _ := r.json(t)["id_token"].(string)
			if id := verify(t, srv.Issuer(), idToken); id.Nonce != nonce || id.Subject != "max" || !slices.Contains(id.Audience, tc.client) {
				t.Errorf("id token nonce %q sub %q aud %v, want %q max %s", id.Nonce, id.Subject, id.Audience, nonce, tc.client)
			}

			// A code works once.
			wantError(t, exchange(t, srv, tc.client, code, tc.redirectURI, verifier), http.StatusBadRequest, "invalid_grant")
		})
	}
}

func TestAuthorizationCode_Refused(t *testing.T) {
	srv := start(t, Config{})
	_, challenge := pkce()
	params := func(kv ...string) url.Values {
		v := url.Values{
			"client_id": {"loans-cli"}, "redirect_uri": {"http://127.0.0.1:50000/cb"}, "response_type": {"code"},
			"scope": {"openid"}, "state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	// Errors the client may be told of go back to its redirect_uri.
	for name, tc := range map[string]struct {
		params url.Values
		error  string
	}{
		"NoPKCE":          {params("code_challenge", "", "code_challenge_method", ""), "invalid_request"},
		"PlainPKCE":       {params("code_challenge_method", "plain"), "invalid_request"},
		"PromptNone":      {params("prompt", "none"), "login_required"},
		"TokenResponse":   {params("response_type", "token"), "unauthorized_client"},
		"IDTokenResponse": {params("client_id", "loans-web", "redirect_uri", "http://localhost:5173/", "response_type", "id_token"), "unauthorized_client"},
	} {
		t.Run(name, func(t *testing.T) {
			r := get(t, authorizeURL(srv, tc.params))
			if r.status != http.StatusFound {
				t.Fatalf("status %d, want 302 to the client: %s", r.status, r.body)
			}
			back := resolve(t, srv.Issuer(), r.header.Get("Location"))
			answer := back.Query()
			if back.Fragment != "" { // implicit response types answer in the fragment
				answer, _ = url.ParseQuery(back.Fragment)
			}
			if back.Host != resolve(t, "", tc.params.Get("redirect_uri")).Host || answer.Get("error") != tc.error {
				t.Errorf("redirected to %s, want the client's redirect_uri with error=%s", back, tc.error)
			}
		})
	}
	// Redirect URIs not registered are never redirected to.
	for _, p := range []url.Values{
		params("redirect_uri", "http://evil.example/cb"),
		params("redirect_uri", "http://127.0.0.1:80@evil.example/cb"),
		params("redirect_uri", "http://127.0.0.1.evil.example:80/cb"),
		params("redirect_uri", "https://127.0.0.1:50000/cb"),
		params("client_id", "loans-web", "redirect_uri", "http://localhost:5174/cb"),
		params("client_id", "loans-web", "redirect_uri", "http://localhost:5173"),
		params("client_id", "loans-integration", "redirect_uri", "http://127.0.0.1:50000/cb"),
		params("client_id", "nobody"),
	} {
		t.Run("Redirect "+p.Get("client_id")+" "+p.Get("redirect_uri"), func(t *testing.T) {
			r := get(t, authorizeURL(srv, p))
			if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
				t.Errorf("status %d Location %q, want 400 and no redirect", r.status, r.header.Get("Location"))
			}
		})
	}
}

func TestLoginPage(t *testing.T) {
	srv := start(t, Config{})
	_, challenge := pkce()
	r := get(t, authorizeURL(srv, url.Values{
		"client_id": {"loans-web"}, "redirect_uri": {"http://localhost:5173/cb"}, "response_type": {"code"},
		"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}))
	page := get(t, resolve(t, srv.Issuer(), r.header.Get("Location")).String())
	html := string(page.body)
	for _, want := range []string{`<label for="username">`, `<label for="password">`, `type="password"`, `method="post"`, "DEVELOPMENT ONLY", "loans-web"} {
		if !strings.Contains(html, want) {
			t.Errorf("the login page lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "<link", "src=", "http://", "https://"} {
		if strings.Contains(html, banned) {
			t.Errorf("the login page has %q: no external assets, no scripts", banned)
		}
	}
	if page.header.Get("X-Frame-Options") != "DENY" || page.header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v, want X-Frame-Options DENY and Cache-Control no-store", page.header)
	}
	id := string(hiddenID.FindSubmatch(page.body)[1])

	t.Run("WrongPassword", func(t *testing.T) {
		r := postForm(t, srv.Issuer()+"/login", url.Values{"id": {id}, "username": {"ada"}, "password": {"nope"}}, "", "")
		if r.status != http.StatusOK || !strings.Contains(string(r.body), "Invalid username or password") || r.header.Get("Location") != "" {
			t.Errorf("status %d, body %s: want the form again with an error", r.status, r.body)
		}
		if !strings.Contains(string(r.body), `value="ada"`) {
			t.Error("the username typed is not kept")
		}
	})
	t.Run("UnknownRequest", func(t *testing.T) {
		r := postForm(t, srv.Issuer()+"/login", url.Values{"id": {"forged"}, "username": {"ada"}, "password": {"ada"}}, "", "")
		if r.status != http.StatusBadRequest || r.header.Get("Location") != "" {
			t.Errorf("status %d, want 400 and no redirect", r.status)
		}
	})
	t.Run("CompletedOnce", func(t *testing.T) {
		form := url.Values{"id": {id}, "username": {"ada"}, "password": {"ada"}}
		if r := postForm(t, srv.Issuer()+"/login", form, "", ""); r.status != http.StatusSeeOther {
			t.Fatalf("first login: status %d", r.status)
		}
		if r := postForm(t, srv.Issuer()+"/login", form, "", ""); r.status != http.StatusBadRequest {
			t.Errorf("second login with the same request: status %d, want 400", r.status)
		}
	})
}
