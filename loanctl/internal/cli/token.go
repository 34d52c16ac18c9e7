package cli

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/loanflow/loans/loanctl/internal/auth"
)

// tokenEnv holds an access token to use instead of the cache (CI, scripts).
const tokenEnv = "LOANCTL_TOKEN"

// tokenSource gives the calls of one run the cached token of the user,
// refreshing it once it expires when the issuer gave a refresh token.
type tokenSource struct {
	a     *app
	mu    sync.Mutex
	entry *auth.Entry
}

func (a *app) tokens() *tokenSource {
	a.tokenMu.Lock()
	defer a.tokenMu.Unlock()
	if a.token == nil {
		a.token = &tokenSource{a: a}
	}
	return a.token
}

func (a *app) httpClient() *http.Client { return &http.Client{Timeout: a.s.timeout} }

func (t *tokenSource) get(ctx context.Context) (string, error) {
	a := t.a
	if tok := a.o.Getenv(tokenEnv); tok != "" {
		return tok, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := a.o.Now()
	if t.entry != nil && !t.entry.Expired(now) {
		return t.entry.AccessToken, nil
	}
	cache, err := auth.LoadCache(auth.CacheFile(a.dir))
	if err != nil {
		return "", err
	}
	e, ok := cache.Get(a.s.issuerURL, a.s.user)
	switch {
	case !ok && a.s.user != "":
		return "", fmt.Errorf("%s is not logged in at %s: run loanctl login", a.s.user, a.s.issuerURL)
	case !ok:
		return "", fmt.Errorf("not logged in at %s: run loanctl login", a.s.issuerURL)
	case !e.Expired(now):
		t.entry = &e
		return e.AccessToken, nil
	case e.RefreshToken == "":
		return "", fmt.Errorf("the token of %s at %s expired at %s: run loanctl login again", e.User, e.Issuer, e.Expiry.Local().Format(time.RFC3339))
	}
	p, err := auth.Discover(ctx, a.httpClient(), a.s.issuerURL)
	if err != nil {
		return "", err
	}
	tok, err := p.Refresh(ctx, e.ClientID, e.RefreshToken)
	if err != nil {
		return "", fmt.Errorf("refresh the token of %s at %s: %w: run loanctl login again", e.User, e.Issuer, err)
	}
	fresh := auth.NewEntry(e.Issuer, e.ClientID, e.User, tok, now)
	fresh.User = e.User
	current := cache.Current[e.Issuer]
	cache.Put(fresh)
	if current != "" {
		cache.Current[e.Issuer] = current // refreshing --user's token does not switch users
	}
	if err := cache.Save(); err != nil {
		return "", err
	}
	t.entry = &fresh
	return fresh.AccessToken, nil
}
