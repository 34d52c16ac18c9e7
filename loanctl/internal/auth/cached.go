package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrLoginRequired is wrapped by the errors that only a new login cures.
var ErrLoginRequired = errors.New("login required")

// loginRequired says what to do (its message) and why (cause, if any).
type loginRequired struct {
	msg   string
	cause error
}

func (e *loginRequired) Error() string { return e.msg }

func (e *loginRequired) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrLoginRequired}
	}
	return []error{ErrLoginRequired, e.cause}
}

// CachedToken is the cached token of user at issuer (the issuer's current
// user when user is ""), refreshed first when its access token has expired
// at now and a refresh token was cached with it.
//
// Issuers that rotate refresh tokens (as devstack's does, and Keycloak,
// Entra and Auth0 may) answer a refresh with a new refresh token and end
// the one sent; one sent again looks stolen and ends the whole login. So
// the refresh is made holding the cache's lock (another loanctl refreshing
// at once waits, then finds the refreshed token instead of sending the
// spent one), and the new refresh token is written to the cache, atomically
// and readable by its owner only, before the access token is used.
//
// Errors that only a new login cures wrap ErrLoginRequired: nothing cached,
// an expired token without a refresh token, or a refresh the issuer refused
// (the refresh token expired, was revoked, or was spent by another copy of
// it); a refused refresh token is dropped from the cache, so it is not sent
// again. An issuer that cannot be reached is not such an error: the refresh
// token is kept for the next try.
func CachedToken(ctx context.Context, hc *http.Client, path, issuer, user string, now time.Time) (Entry, error) {
	issuer = strings.TrimSuffix(issuer, "/")
	cache, err := LoadCache(path)
	if err != nil {
		return Entry{}, err
	}
	e, err := usable(cache, issuer, user, now)
	if err != nil || !e.Expired(now) {
		return e, err
	}

	unlock, err := lockCache(ctx, path)
	if err != nil {
		return Entry{}, err
	}
	defer unlock()
	// Read again under the lock: another loanctl may have refreshed it.
	if cache, err = LoadCache(path); err != nil {
		return Entry{}, err
	}
	if e, err = usable(cache, issuer, e.User, now); err != nil || !e.Expired(now) {
		return e, err
	}

	p, err := Discover(ctx, hc, issuer)
	if err != nil {
		return Entry{}, fmt.Errorf("refresh the token of %s at %s: %w", e.User, issuer, err)
	}
	tok, err := p.Refresh(ctx, e.ClientID, e.RefreshToken)
	var refused *Error
	switch {
	case errors.As(err, &refused) && refused.Status < http.StatusInternalServerError:
		e.RefreshToken = ""
		cache.Update(e)
		return Entry{}, errors.Join(&loginRequired{
			msg:   fmt.Sprintf("the token of %s at %s expired and the issuer refused to refresh it (%v): run loanctl login again", e.User, issuer, err),
			cause: err,
		}, cache.Save())
	case err != nil:
		return Entry{}, fmt.Errorf("refresh the token of %s at %s: %w", e.User, issuer, err)
	}
	fresh := NewEntry(issuer, e.ClientID, e.User, tok, now)
	fresh.User = e.User
	cache.Update(fresh)
	if err := cache.Save(); err != nil {
		return Entry{}, fmt.Errorf("keep the refreshed token of %s at %s: %w", e.User, issuer, err)
	}
	return fresh, nil
}

// usable finds the entry of user at issuer: one whose access token is
// valid at now, or expired with a refresh token.
func usable(cache *Cache, issuer, user string, now time.Time) (Entry, error) {
	e, ok := cache.Get(issuer, user)
	switch {
	case !ok && user != "":
		return Entry{}, &loginRequired{msg: fmt.Sprintf("%s is not logged in at %s: run loanctl login", user, issuer)}
	case !ok:
		return Entry{}, &loginRequired{msg: fmt.Sprintf("not logged in at %s: run loanctl login", issuer)}
	case e.Expired(now) && e.RefreshToken == "":
		return Entry{}, &loginRequired{msg: fmt.Sprintf("the token of %s at %s expired at %s: run loanctl login again",
			e.User, e.Issuer, e.Expiry.Local().Format(time.RFC3339))}
	}
	return e, nil
}
