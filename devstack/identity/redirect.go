package identity

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// redirectPattern is a redirect URI a client registered: an exact URI, or a
// pattern with `:*` after a loopback host (any port, as RFC 8252 section 7.3
// lets native apps pick one at run time) and/or a trailing `/**` (any path
// below).
type redirectPattern struct {
	raw    string
	scheme string
	host   string // the host name, without the brackets of an IPv6 literal
	port   string // "" for none, "*" for any
	path   string // the exact path, or the prefix (ending in "/") when under
	under  bool
}

func (p redirectPattern) exact() bool { return p.port != "*" && !p.under }

func parseRedirectPattern(raw string) (redirectPattern, error) {
	p := redirectPattern{raw: raw}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return p, errors.New("must be an http:// or https:// URI")
	}
	if strings.ContainsAny(raw, "?#") {
		return p, errors.New("must have no query and no fragment")
	}
	authority, path, ok := strings.Cut(rest, "/")
	if !ok {
		return p, errors.New("must have a path (at least /)")
	}
	p.scheme, p.path = scheme, "/"+path
	if strings.Contains(authority, "@") {
		return p, errors.New("must have no user information")
	}
	host, port := authority, ""
	if i := strings.LastIndex(authority, ":"); i >= 0 && !strings.HasSuffix(authority, "]") {
		host, port = authority[:i], authority[i+1:]
		if port == "" {
			return p, errors.New("has an empty port")
		}
	}
	bracketed := strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]")
	p.host, p.port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), port
	if p.host == "" {
		return p, errors.New("has no host")
	}
	if strings.Contains(p.host, ":") != bracketed {
		return p, errors.New("must write an IPv6 host in brackets, and only an IPv6 host")
	}
	if port == "*" && !isLoopbackHost(p.host) {
		return p, errors.New("any port (:*) is allowed only on a loopback host: 127.0.0.1, [::1] or localhost")
	}
	if port != "*" && port != "" && strings.Trim(port, "0123456789") != "" {
		return p, fmt.Errorf("has port %q, not a number", port)
	}
	if strings.HasSuffix(p.path, "/**") {
		p.under, p.path = true, strings.TrimSuffix(p.path, "**")
	}
	if strings.ContainsAny(p.host+p.path, "*[]{}\\ ") {
		return p, errors.New("may use * only as :* after a loopback host and as a trailing /**")
	}
	if hasDotSegment(p.path) {
		return p, errors.New("must have no . or .. path segment")
	}
	if p.exact() {
		u, err := url.Parse(raw)
		if err != nil {
			return p, err
		}
		if u.String() != raw {
			return p, fmt.Errorf("is not in canonical form (%s)", u)
		}
	}
	return p, nil
}

// match tells whether a redirect_uri a client sent is one this pattern
// allows. Exact patterns compare strings (OpenID Connect Core 1.0, 3.1.2.1);
// the others parse the URI and compare its parts, so that no user
// information, port or path trick leads the browser to another host.
func (p redirectPattern) match(raw string) bool {
	if p.exact() {
		return raw == p.raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != p.scheme || u.Opaque != "" || u.User != nil || u.Fragment != "" || strings.Contains(raw, "#") {
		return false
	}
	if !strings.EqualFold(u.Hostname(), p.host) || strings.ContainsAny(u.Host, "\\@") {
		return false
	}
	if p.port != "*" && u.Port() != p.port {
		return false
	}
	if hasDotSegment(u.Path) || strings.Contains(u.Path, "\\") {
		return false
	}
	if p.under {
		return strings.HasPrefix(u.EscapedPath(), p.path)
	}
	return u.EscapedPath() == p.path
}

// globs are the pattern in the glob syntax zitadel's op matches redirect URIs
// with (doublestar). op's check comes first; match is the stricter second.
func (p redirectPattern) globs() []string {
	host := globEscape(p.host)
	if strings.Contains(p.host, ":") {
		host = `\[` + host + `\]`
	}
	path := globEscape(p.path)
	if p.under {
		path += "**"
	}
	prefix := p.scheme + "://" + host
	switch p.port {
	case "*":
		return []string{prefix + ":*" + path, prefix + path}
	case "":
		return []string{prefix + path}
	default:
		return []string{prefix + ":" + p.port + path}
	}
}

func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\*?[]{}`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hasDotSegment(path string) bool {
	for seg := range strings.SplitSeq(path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
