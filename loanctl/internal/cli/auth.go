package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loanflow/loans/loanctl/internal/auth"
	"github.com/loanflow/loans/loanctl/internal/output"
)

// passwordEnv holds the password of --username (safer than the flag, which
// other users of the machine may see in the process list).
const passwordEnv = "LOANCTL_PASSWORD"

func (a *app) loginCmd() *cobra.Command {
	var (
		username, password, listen string
		noBrowser                  bool
		scopes                     []string
		wait                       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in at the OpenID provider and cache the token",
		Long: `Sign in at the issuer (--issuer-url) and cache the access token for this user and issuer.

Without --username: the authorization-code flow with PKCE (S256). loanctl listens on a loopback
port, prints the sign-in address and opens it in a browser when it can (xdg-open or open); the
browser comes back to loanctl with the code once you have signed in.

With --username: the resource owner password grant of the development provider (and Keycloak's
direct access grants). The password comes from --password, else $LOANCTL_PASSWORD, else one line
of standard input.

Both ask for the scopes openid, profile and offline_access (--scope): offline_access asks the
issuer for a refresh token. The token is kept in <config dir>/loanctl/tokens.json (mode 0600) with
its expiry and refresh token, if the issuer gives one: once the token expires, loanctl refreshes it
and keeps the refresh token the issuer answers with (issuers that rotate them end the one used).
Without a refresh token, or once the issuer refuses it, log in again.`,
		Example: `  loanctl login                         # in a browser
  loanctl login --username ada --password ada   # the development provider`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			p, err := auth.Discover(ctx, a.httpClient(), a.s.issuerURL)
			if err != nil {
				return err
			}
			var tok *auth.Token
			if username != "" {
				if password == "" {
					password = a.o.Getenv(passwordEnv)
				}
				if password == "" {
					if password, err = a.readPassword(username); err != nil {
						return err
					}
				}
				tok, err = p.PasswordGrant(ctx, a.s.clientID, username, password, scopes)
			} else {
				ctx, cancel := context.WithTimeout(ctx, wait)
				defer cancel()
				tok, err = p.AuthorizationCode(ctx, auth.BrowserLogin{
					ClientID: a.s.clientID, Scopes: scopes, ListenAddr: listen,
					Open: func(ctx context.Context, u string) error { return a.openBrowser(ctx, u, noBrowser) },
				})
			}
			if err != nil {
				return fmt.Errorf("login at %s: %w", a.s.issuerURL, err)
			}
			cache, err := auth.LoadCache(auth.CacheFile(a.dir))
			if err != nil {
				return err
			}
			e := auth.NewEntry(a.s.issuerURL, a.s.clientID, username, tok, a.o.Now())
			cache.Put(e)
			if err := cache.Save(); err != nil {
				return err
			}
			roles := "none"
			if c, err := auth.DecodeClaims(e.AccessToken); err == nil && len(c.Strings("roles")) > 0 {
				roles = strings.Join(c.Strings("roles"), ", ")
			}
			fmt.Fprintf(a.o.Stdout, "Logged in at %s as %s (roles: %s).\n", e.Issuer, e.User, roles)
			if !e.Expiry.IsZero() {
				refresh := "loanctl refreshes it with the refresh token"
				if e.RefreshToken == "" {
					refresh = "no refresh token: run loanctl login again then"
				}
				fmt.Fprintf(a.o.Stdout, "The token expires at %s (%s).\n", e.Expiry.Local().Format(time.RFC3339), refresh)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&username, "username", "", "sign in with this user's password (password grant) instead of a browser")
	f.StringVar(&password, "password", "", "the password of --username (default: $"+passwordEnv+", else read from standard input)")
	f.BoolVar(&noBrowser, "no-browser", false, "print the sign-in address only; do not start a browser")
	f.StringVar(&listen, "listen-address", "127.0.0.1:0", "where the browser's redirect is received (port 0: any free port)")
	f.StringSliceVar(&scopes, "scope", auth.DefaultScopes(), "scopes to ask for (offline_access: a refresh token)")
	f.DurationVar(&wait, "login-timeout", 5*time.Minute, "how long to wait for the browser sign-in")
	return cmd
}

func (a *app) readPassword(username string) (string, error) {
	fmt.Fprintf(a.o.Stderr, "Password for %s: ", username)
	line, err := bufio.NewReader(a.o.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usagef("no password for %s: give --password, $%s or a line of standard input", username, passwordEnv)
	}
	return line, nil
}

// openBrowser prints the sign-in address and, unless told not to, opens it.
func (a *app) openBrowser(ctx context.Context, u string, noBrowser bool) error {
	fmt.Fprintf(a.o.Stderr, "Open this address in a browser to sign in:\n\n    %s\n\nWaiting for the browser to come back...\n", u)
	if a.o.OpenBrowser != nil {
		return a.o.OpenBrowser(ctx, u)
	}
	if noBrowser {
		return nil
	}
	name, args := "xdg-open", []string{u}
	switch runtime.GOOS {
	case "darwin":
		name = "open"
	case "windows":
		name, args = "rundll32", []string{"url.dll,FileProtocolHandler", u}
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return nil // no browser opener: the printed address is enough
	}
	c := exec.Command(path, args...)
	if err := c.Start(); err != nil {
		a.warnf("could not start a browser: %v", err)
		return nil
	}
	go func() { _ = c.Wait() }()
	return nil
}

func (a *app) logoutCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Revoke the login of the user (--user, default: the current one), or --all at the issuer, and forget its tokens",
		Long: `Revoke the user's refresh token at the issuer (RFC 7009), which ends that login there,
and remove the cached tokens. The access token stays valid until it expires (JWTs cannot be
revoked); where the issuer cannot be reached or has no revocation endpoint, loanctl says so
and still forgets the tokens.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cache, err := auth.LoadCache(auth.CacheFile(a.dir))
			if err != nil {
				return err
			}
			var removed []auth.Entry
			if all {
				removed = cache.DeleteIssuer(a.s.issuerURL)
			} else if e, ok := cache.Delete(a.s.issuerURL, a.s.user); ok {
				removed = []auth.Entry{e}
			} else {
				fmt.Fprintf(a.o.Stdout, "Not logged in at %s.\n", a.s.issuerURL)
				return nil
			}
			a.revoke(cmd.Context(), removed)
			if err := cache.Save(); err != nil {
				return err
			}
			if all {
				fmt.Fprintf(a.o.Stdout, "Removed %d cached token(s) of %s.\n", len(removed), a.s.issuerURL)
			} else {
				fmt.Fprintf(a.o.Stdout, "Logged out %s at %s.\n", removed[0].User, a.s.issuerURL)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "revoke and remove every cached login of the issuer")
	return cmd
}

// revoke revokes the refresh tokens of entries at their issuer, best
// effort: a failure is a warning, as forgetting the tokens still protects
// this machine's user.
func (a *app) revoke(ctx context.Context, entries []auth.Entry) {
	notRevoked := func(e auth.Entry, err error) {
		a.warnf("%s's login not revoked at the issuer (%v); its refresh token stays valid there until it expires", e.User, err)
	}
	var p *auth.Provider
	for _, e := range entries {
		if e.RefreshToken == "" {
			continue
		}
		if p == nil {
			var err error
			if p, err = auth.Discover(ctx, a.httpClient(), e.Issuer); err != nil {
				notRevoked(e, err)
				return
			}
		}
		if err := p.Revoke(ctx, e.ClientID, e.RefreshToken); err != nil {
			notRevoked(e, err)
		}
	}
}

// whoami is what the whoami command shows.
type whoami struct {
	User      string    `json:"user"`
	Subject   string    `json:"subject"`
	Roles     []string  `json:"roles"`
	Issuer    string    `json:"issuer"`
	Audience  []string  `json:"audience,omitempty"`
	ClientID  string    `json:"client_id"`
	Expiry    time.Time `json:"expiry,omitzero"`
	Expired   bool      `json:"expired"`
	Refreshes bool      `json:"has_refresh_token"`
	Verified  bool      `json:"signature_verified"`
}

func (a *app) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show the cached token's user, roles and expiry (decoded, NOT verified)",
		Long: `Show who the cached token of the user (--user, default: the current one) says it is:
subject, roles and expiry, read from the token's claims WITHOUT verifying its signature. The
services verify every token they receive; this is only a reminder of what is cached.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cache, err := auth.LoadCache(auth.CacheFile(a.dir))
			if err != nil {
				return err
			}
			e, ok := cache.Get(a.s.issuerURL, a.s.user)
			if !ok {
				return fmt.Errorf("not logged in at %s: run loanctl login", a.s.issuerURL)
			}
			id := whoami{User: e.User, Subject: e.Subject, Issuer: e.Issuer, ClientID: e.ClientID, Expiry: e.Expiry,
				Expired: e.Expired(a.o.Now()), Refreshes: e.RefreshToken != ""}
			if c, err := auth.DecodeClaims(e.AccessToken); err == nil {
				id.Subject, id.Roles, id.Audience = c.String("sub"), c.Strings("roles"), c.Strings("aud")
				if iss := c.String("iss"); iss != "" {
					id.Issuer = iss
				}
				if exp := c.Expiry(); !exp.IsZero() {
					id.Expiry = exp
				}
			} else {
				a.warnf("the cached access token's claims cannot be read: %v", err)
			}
			note := "(claims decoded from the cached token WITHOUT verifying its signature)"
			return a.printer().Value(id, func(w io.Writer) error {
				tw := output.NewTable(w)
				output.Row(tw, "USER", id.User)
				output.Row(tw, "SUBJECT", id.Subject)
				output.Row(tw, "ROLES", strings.Join(id.Roles, ", "))
				output.Row(tw, "ISSUER", id.Issuer)
				output.Row(tw, "AUDIENCE", strings.Join(id.Audience, ", "))
				output.Row(tw, "CLIENT", id.ClientID)
				output.Row(tw, "EXPIRES", expiry(id.Expiry, a.o.Now()))
				output.Row(tw, "REFRESH TOKEN", map[bool]string{true: "yes", false: "no"}[id.Refreshes])
				if err := tw.Flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintln(w, note)
				return err
			})
		},
	}
}

func expiry(t, now time.Time) string {
	switch {
	case t.IsZero():
		return "unknown"
	case !t.After(now):
		return t.Local().Format(time.RFC3339) + " (expired " + now.Sub(t).Round(time.Second).String() + " ago)"
	default:
		return t.Local().Format(time.RFC3339) + " (in " + t.Sub(now).Round(time.Second).String() + ")"
	}
}
