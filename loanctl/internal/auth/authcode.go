package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// BrowserLogin is the authorization-code flow with PKCE (S256) and a
// loopback redirect (RFC 8252 section 7.3): loanctl listens on a port of
// the loopback interface, the browser signs in at the provider and is sent
// back to that port with the code, which loanctl trades for tokens with the
// code verifier only it knows.
type BrowserLogin struct {
	ClientID string
	Scopes   []string
	// ListenAddr is where the redirect is received (default 127.0.0.1:0, a
	// free port). The provider must allow http://127.0.0.1:<any port>/...
	ListenAddr string
	// Open shows the authorization URL to the user: it prints it and may
	// start a browser. It must not block until the sign-in is done.
	Open func(ctx context.Context, authURL string) error
}

// callbackPath is where the browser comes back to.
const callbackPath = "/callback"

// AuthorizationCode runs the flow until the browser comes back or ctx ends.
func (p *Provider) AuthorizationCode(ctx context.Context, b BrowserLogin) (*Token, error) {
	if p.AuthorizationEndpoint == "" {
		return nil, errors.New("the provider's discovery document has no authorization_endpoint")
	}
	addr := b.ListenAddr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the redirect: %w", err)
	}
	defer lis.Close()
	redirectURI := "http://" + lis.Addr().String() + callbackPath

	verifier := rand.Text() + rand.Text() // 52 characters of base32: 260 bits
	sum := sha256.Sum256([]byte(verifier))
	state, nonce := rand.Text(), rand.Text()
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {b.ClientID},
		"redirect_uri":          {redirectURI},
		"scope":                 {strings.Join(b.Scopes, " ")},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	authURL := p.AuthorizationEndpoint
	if strings.Contains(authURL, "?") {
		authURL += "&" + q.Encode()
	} else {
		authURL += "?" + q.Encode()
	}

	type result struct {
		code string
		err  error
	}
	results := make(chan result, 1)
	deliver := func(r result) {
		select {
		case results <- r:
		default: // a second request (a reload): the first one counts
		}
	}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != callbackPath {
				http.NotFound(w, r)
				return
			}
			v := r.URL.Query()
			switch {
			case v.Get("state") != state:
				// Not our request (or forged): ignore it and keep waiting.
				page(w, http.StatusBadRequest, "Sign-in failed", "The answer does not belong to this sign-in. Start loanctl login again.")
				return
			case v.Get("error") != "":
				e := &Error{Code: v.Get("error"), Description: v.Get("error_description")}
				page(w, http.StatusOK, "Sign-in refused", e.Error())
				deliver(result{err: fmt.Errorf("the provider refused the sign-in: %w", e)})
			case v.Get("code") == "":
				page(w, http.StatusBadRequest, "Sign-in failed", "The answer carries no code.")
				deliver(result{err: errors.New("the redirect carries no code")})
			default:
				page(w, http.StatusOK, "Signed in", "You are signed in to loanctl; you may close this window.")
				deliver(result{code: v.Get("code")})
			}
		}),
	}
	go func() { _ = srv.Serve(lis) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()

	if err := b.Open(ctx, authURL); err != nil {
		return nil, err
	}
	var r result
	select {
	case r = <-results:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for the browser to come back to %s: %w", redirectURI, context.Cause(ctx))
	}
	if r.err != nil {
		return nil, r.err
	}
	return p.token(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {b.ClientID},
		"code":          {r.code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {verifier},
	})
}

func page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><html lang=en><meta charset=utf-8><title>loanctl: %s</title><h1>%s</h1><p>%s</p></html>\n",
		html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}
