package cli

import (
	"context"
	"net/http"
	"sync"

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

func (a *app) httpClient() *http.Client { return a.issuer }

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
	e, err := auth.CachedToken(ctx, a.httpClient(), auth.CacheFile(a.dir), a.s.issuerURL, a.s.user, now)
	if err != nil {
		return "", err
	}
	t.entry = &e
	return e.AccessToken, nil
}
