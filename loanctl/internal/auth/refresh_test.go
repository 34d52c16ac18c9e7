package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/identity"
)

// The development provider (devstack/identity) rotates refresh tokens as
// Keycloak, Entra and Auth0 may: these tests run loanctl's side against it.

func TestLogin_AsksForARefreshToken(t *testing.T) {
	idp := startIdentity(t)
	p := discover(t, idp)
	t.Run("PasswordGrant", func(t *testing.T) {
		tok, err := p.PasswordGrant(t.Context(), "loans-cli", "ada", "ada", DefaultScopes())
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" || tok.IDToken == "" {
			t.Errorf("refresh token %q ID token %q: want both", tok.RefreshToken, tok.IDToken)
		}
	})
	t.Run("AuthorizationCode", func(t *testing.T) {
		var asked string
		tok, err := p.AuthorizationCode(t.Context(), BrowserLogin{
			ClientID: "loans-cli", Scopes: DefaultScopes(),
			Open: func(ctx context.Context, authURL string) error {
				u, _ := url.Parse(authURL)
				asked = u.Query().Get("scope")
				return playBrowser(ctx, idp.Issuer(), authURL, "omar")
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		if asked != "openid profile offline_access" || tok.RefreshToken == "" {
			t.Errorf("scope asked %q, refresh token %q: want offline_access asked and a refresh token", asked, tok.RefreshToken)
		}
	})
}

func TestProvider_Revoke(t *testing.T) {
	idp := startIdentity(t)
	p := discover(t, idp)
	if p.RevocationEndpoint == "" {
		t.Fatal("the provider's discovery document has no revocation_endpoint")
	}
	t.Run("EndsTheLogin", func(t *testing.T) {
		e := login(t, idp, "ada")
		if err := p.Revoke(t.Context(), e.ClientID, e.RefreshToken); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		if _, err := p.Refresh(t.Context(), e.ClientID, e.RefreshToken); !isInvalidGrant(err) {
			t.Errorf("Refresh after Revoke: %v; want invalid_grant", err)
		}
	})
	t.Run("AnUnknownTokenIsNoError", func(t *testing.T) {
		if err := p.Revoke(t.Context(), "loans-cli", "not-a-token-the-issuer-knows"); err != nil {
			t.Errorf("Revoke of an unknown token: %v; want nil (RFC 7009's 200)", err)
		}
	})
	t.Run("AnotherClientsTokenIsRefused", func(t *testing.T) {
		e := login(t, idp, "bo")
		var refused *Error
		if err := p.Revoke(t.Context(), "loans-web", e.RefreshToken); !errors.As(err, &refused) {
			t.Errorf("Revoke by another client: %v; want the issuer's refusal", err)
		}
		if _, err := p.Refresh(t.Context(), e.ClientID, e.RefreshToken); err != nil {
			t.Errorf("the login ended by another client's revocation: %v", err)
		}
	})
	t.Run("NoEndpoint", func(t *testing.T) {
		q := *p
		q.RevocationEndpoint = ""
		if err := q.Revoke(t.Context(), "loans-cli", "x"); !errors.Is(err, ErrNoRevocation) {
			t.Errorf("Revoke without an endpoint: %v; want ErrNoRevocation", err)
		}
	})
}

func TestCachedToken(t *testing.T) {
	idp := startIdentity(t)
	hc := &http.Client{Timeout: 10 * time.Second}

	t.Run("AValidTokenIsUsedAsCached", func(t *testing.T) {
		path, cached := loggedIn(t, idp, "ada")
		cached.Expiry = time.Now().Add(time.Hour)
		putEntry(t, path, cached)

		e, err := CachedToken(t.Context(), noNetwork(t), path, idp.Issuer(), "ada", time.Now())
		if err != nil || e.AccessToken != cached.AccessToken || e.RefreshToken != cached.RefreshToken {
			t.Errorf("got %v, %v; want the cached entry as it is", e, err)
		}
	})

	t.Run("AnExpiredTokenIsRefreshedAndTheRotatedRefreshTokenKept", func(t *testing.T) {
		// Given ada's token expired, and lena the current user,
		path, expired := loggedIn(t, idp, "ada")
		lena := login(t, idp, "lena")
		cache := load(t, path)
		cache.Put(lena)
		save(t, cache)

		// when a command needs ada's token,
		e, err := CachedToken(t.Context(), hc, path, idp.Issuer()+"/", "ada", time.Now())
		if err != nil {
			t.Fatal(err)
		}

		// then it is refreshed silently: a new access token for ada,
		if e.AccessToken == expired.AccessToken || e.Expired(time.Now()) || e.User != "ada" || e.Subject != "ada" {
			t.Errorf("refreshed entry %+v: want a new, valid token of ada", e)
		}
		// kept in the cache with the rotated refresh token,
		cache = load(t, path)
		kept, _ := cache.Get(idp.Issuer(), "ada")
		if kept.AccessToken != e.AccessToken || kept.RefreshToken != e.RefreshToken || kept.RefreshToken == expired.RefreshToken || kept.RefreshToken == "" {
			t.Errorf("cached entry %+v: want the new access token and the rotated refresh token", kept)
		}
		// without switching the current user,
		if cache.Current[idp.Issuer()] != "lena" || len(cache.Tokens) != 2 {
			t.Errorf("current %v, %d tokens: want lena, 2", cache.Current, len(cache.Tokens))
		}
		// in a file its owner alone reads, written whole (no temporary file left).
		wantCacheFiles(t, path)
		// The refresh token sent is spent: sending it again ends the login.
		if _, err := discover(t, idp).Refresh(t.Context(), "loans-cli", expired.RefreshToken); !isInvalidGrant(err) {
			t.Errorf("the spent refresh token: %v, want invalid_grant", err)
		}
	})

	t.Run("LoanctlsRefreshingAtOnceSendTheRefreshTokenOnce", func(t *testing.T) {
		// Given ada's token expired,
		path, expired := loggedIn(t, idp, "ada")

		// when four loanctl processes need it at once,
		got := make([]Entry, 4)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() { got[i], errs[i] = CachedToken(t.Context(), hc, path, idp.Issuer(), "ada", time.Now()) })
		}
		wg.Wait()

		// then one refreshes and the others use what it got: a refresh
		// token sent twice would have ended the login.
		for i := range got {
			if errs[i] != nil || got[i].AccessToken != got[0].AccessToken || got[i].AccessToken == expired.AccessToken {
				t.Errorf("loanctl %d: %v, %v; want the one refreshed token", i, got[i].AccessToken, errs[i])
			}
		}
		// The login goes on: the next refresh works.
		cached, _ := load(t, path).Get(idp.Issuer(), "ada")
		cached.Expiry = time.Now().Add(-time.Minute)
		putEntry(t, path, cached)
		if _, err := CachedToken(t.Context(), hc, path, idp.Issuer(), "ada", time.Now()); err != nil {
			t.Errorf("refresh after the concurrent ones: %v", err)
		}
	})

	for name, endLogin := range map[string]func(t *testing.T, refreshToken string){
		// another copy of the token refreshed first: the issuer sees the
		// cached one reused and ends the login.
		"Rotated": func(t *testing.T, refreshToken string) {
			if _, err := discover(t, idp).Refresh(t.Context(), "loans-cli", refreshToken); err != nil {
				t.Fatal(err)
			}
		},
		"Revoked": func(t *testing.T, refreshToken string) {
			resp, err := hc.PostForm(idp.Issuer()+"/revoke", url.Values{"client_id": {"loans-cli"}, "token": {refreshToken}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %s", resp.Status)
			}
		},
	} {
		t.Run("ARefusedRefreshAsksForANewLogin/"+name, func(t *testing.T) {
			// Given ada's token expired and its refresh token no longer
			// good,
			path, expired := loggedIn(t, idp, "ada")
			endLogin(t, expired.RefreshToken)

			// when a command needs her token,
			e, err := CachedToken(t.Context(), hc, path, idp.Issuer(), "ada", time.Now())

			// then it is told to log in again, with the issuer's reason,
			var refused *Error
			if !errors.Is(err, ErrLoginRequired) || !errors.As(err, &refused) || refused.Code != "invalid_grant" ||
				!strings.Contains(err.Error(), "the token of ada at "+idp.Issuer()) || !strings.HasSuffix(err.Error(), "run loanctl login again") {
				t.Errorf("error %v, want a refused refresh asking for a new login", err)
			}
			// and gets no token,
			if e.AccessToken != "" {
				t.Errorf("got the stale access token %.20s…", e.AccessToken)
			}
			// the refused refresh token is dropped, the rest kept,
			kept, ok := load(t, path).Get(idp.Issuer(), "ada")
			if !ok || kept.RefreshToken != "" || kept.AccessToken != expired.AccessToken {
				t.Errorf("cached entry %+v %v: want ada's entry without its refresh token", kept, ok)
			}
			wantCacheFiles(t, path)
			// so the next command is told at once, without asking the issuer.
			_, err = CachedToken(t.Context(), noNetwork(t), path, idp.Issuer(), "ada", time.Now())
			if !errors.Is(err, ErrLoginRequired) || !strings.Contains(err.Error(), "expired at") || !strings.HasSuffix(err.Error(), "run loanctl login again") {
				t.Errorf("the next command: %v, want expired, log in again", err)
			}
		})
	}

	t.Run("AnUnreachableIssuerKeepsTheRefreshToken", func(t *testing.T) {
		path, expired := loggedIn(t, idp, "ada")
		gone := "http://" + closedAddr(t)
		expired.Issuer = gone
		cache := load(t, path)
		cache.DeleteIssuer(idp.Issuer())
		cache.Put(expired)
		save(t, cache)

		_, err := CachedToken(t.Context(), hc, path, gone, "", time.Now())
		if err == nil || errors.Is(err, ErrLoginRequired) {
			t.Errorf("error %v, want the issuer unreachable, not a new login", err)
		}
		if kept, _ := load(t, path).Get(gone, "ada"); kept.RefreshToken != expired.RefreshToken {
			t.Errorf("the refresh token was dropped: %+v", kept)
		}
	})

	t.Run("NotLoggedIn", func(t *testing.T) {
		path := CacheFile(t.TempDir())
		for user, want := range map[string]string{"": "not logged in at", "bo": "bo is not logged in at"} {
			_, err := CachedToken(t.Context(), noNetwork(t), path, idp.Issuer(), user, time.Now())
			if !errors.Is(err, ErrLoginRequired) || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("user %q: %v, want %q… run loanctl login", user, err, want)
			}
		}
	})
}

// ---- helpers ----

func startIdentity(t *testing.T) *identity.Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := identity.Start(lis, identity.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("identity shutdown: %v", err)
		}
	})
	return srv
}

func discover(t *testing.T, idp *identity.Server) *Provider {
	t.Helper()
	p, err := Discover(t.Context(), &http.Client{Timeout: 10 * time.Second}, idp.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// login is the cache entry of a password login of user, which asked for a
// refresh token.
func login(t *testing.T, idp *identity.Server, user string) Entry {
	t.Helper()
	tok, err := discover(t, idp).PasswordGrant(t.Context(), "loans-cli", user, user, DefaultScopes())
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	return NewEntry(idp.Issuer(), "loans-cli", user, tok, time.Now())
}

// loggedIn is a cache file in a new folder holding user's login, whose
// access token has expired (as if an hour had passed), and that entry.
func loggedIn(t *testing.T, idp *identity.Server, user string) (string, Entry) {
	t.Helper()
	e := login(t, idp, user)
	e.Expiry = time.Now().Add(-time.Minute)
	path := CacheFile(filepath.Join(t.TempDir(), "loanctl"))
	putEntry(t, path, e)
	return path, e
}

func putEntry(t *testing.T, path string, e Entry) {
	t.Helper()
	c := load(t, path)
	c.Put(e)
	save(t, c)
}

func load(t *testing.T, path string) *Cache {
	t.Helper()
	c, err := LoadCache(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func save(t *testing.T, c *Cache) {
	t.Helper()
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
}

// wantCacheFiles checks the cache's folder holds the cache, mode 0600, and
// its lock file, and nothing else.
func wantCacheFiles(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cache file mode %v, want 0600", fi.Mode().Perm())
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"tokens.json", "tokens.json.lock"}; !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
}

func isInvalidGrant(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == "invalid_grant"
}

// noNetwork is an HTTP client that fails the test if it is used.
func noNetwork(t *testing.T) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		t.Errorf("unexpected request to %s", r.URL)
		return nil, errors.New("no network in this test")
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// playBrowser signs in as user (whose password is the name) at the login
// page authURL leads to, and follows the redirects back to loanctl.
func playBrowser(ctx context.Context, issuer, authURL, user string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := browser.Do(req)
	if err != nil {
		return err
	}
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	m := hiddenID.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return fmt.Errorf("the login page: %s %s", resp.Status, page)
	}
	form := url.Values{"id": {string(m[1])}, "username": {user}, "password": {user}}
	req, err = http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = browser.Do(req) // 303 to the provider's callback, 302 to loanctl's listener
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Hostname() != "127.0.0.1" {
		return fmt.Errorf("after the login form: %s at %s", resp.Status, resp.Request.URL)
	}
	return nil
}
