// Package webapp serves the loan platform's web app: static HTML, CSS and
// native ES modules embedded in the binary (no build step, nothing fetched
// from elsewhere), and /config.json telling the browser where the public REST
// bridges and the OpenID Connect issuer are. The browser talks to those
// directly, with the user's access token; this server holds no token and
// proxies nothing.
package webapp

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

//go:embed web
var webFiles embed.FS

// Config is what the browser is told at /config.json.
type Config struct {
	CommandURL string `json:"commandUrl"` // the command service's REST bridge
	QueryURL   string `json:"queryUrl"`   // the query service's REST bridge
	IssuerURL  string `json:"issuerUrl"`  // the OpenID Connect issuer, exactly as its tokens' iss
	ClientID   string `json:"clientId"`   // the public client registered for this app (PKCE, no secret)
}

// Validate checks that every URL is an absolute http(s) URL with no query,
// fragment or user information: they end up in the Content-Security-Policy,
// where anything else would widen or break it.
func (c Config) Validate() error {
	var errs []error
	for _, u := range []struct{ name, value string }{
		{"command URL", c.CommandURL}, {"query URL", c.QueryURL}, {"issuer URL", c.IssuerURL},
	} {
		if _, err := origin(u.value); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", u.name, u.value, err))
		}
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client ID is empty"))
	}
	return errors.Join(errs...)
}

// origin is scheme://host[:port] of an absolute http(s) URL.
func origin(raw string) (string, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return "", err
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("must be an http:// or https:// URL")
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(u.Host, " ;,'\""):
		return "", errors.New("must be scheme://host[:port][/path] with no user, query or fragment")
	}
	return u.Scheme + "://" + u.Host, nil
}

// ContentSecurityPolicy is the policy of every response: scripts, styles and
// images only from this server (no inline script, no eval), connections only
// to this server, the two REST bridges and the issuer, no framing.
func (c Config) ContentSecurityPolicy() string {
	connect := []string{"'self'"}
	for _, raw := range []string{c.CommandURL, c.QueryURL, c.IssuerURL} {
		if o, err := origin(raw); err == nil && !slices.Contains(connect, o) {
			connect = append(connect, o)
		}
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"connect-src " + strings.Join(connect, " "),
		"form-action 'self'",
		"frame-ancestors 'none'",
		"base-uri 'none'",
		"object-src 'none'",
	}, "; ")
}

// Handler serves the app. Paths without a file extension that name no file
// (/callback, where the issuer sends the browser back, and any deep link) get
// index.html; the app routes in the browser.
func Handler(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root, err := fs.Sub(webFiles, "web")
	if err != nil {
		return nil, err
	}
	configJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	index, err := fs.ReadFile(root, "index.html")
	if err != nil {
		return nil, err
	}
	csp := cfg.ContentSecurityPolicy()
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		// The callback URL carries the authorization code until the app
		// removes it: no Referer may take it elsewhere.
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		// No build step means no hashed file names: a cached module could
		// outlive the release it belongs to, so the browser asks every time.
		h.Set("Cache-Control", "no-cache")
		switch p := r.URL.Path; {
		case p == "/config.json":
			h.Set("Content-Type", "application/json")
			h.Set("Cache-Control", "no-store")
			_, _ = w.Write(configJSON)
		case p == "/healthz":
			h.Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("ok\n"))
		case p == "/" || p == "/index.html" || isAppRoute(root, p):
			h.Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write(index)
		case strings.HasSuffix(p, "/"):
			http.NotFound(w, r) // no directory listings
		default:
			files.ServeHTTP(w, r)
		}
	}), nil
}

// isAppRoute reports whether p is a path the app routes itself: no file
// extension and no such file.
func isAppRoute(root fs.FS, p string) bool {
	if path.Ext(p) != "" || strings.HasSuffix(p, "/") {
		return false
	}
	_, err := fs.Stat(root, strings.TrimPrefix(path.Clean(p), "/"))
	return err != nil
}
