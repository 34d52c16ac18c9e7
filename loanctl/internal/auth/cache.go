package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/loanflow/loans/loanctl/internal/config"
)

// CacheVersion is the version of the cache file's format.
const CacheVersion = 1

// Cache is the token cache file (tokens.json in loanctl's folder, mode
// 0600): one entry per issuer and user, and per issuer the user that
// commands act as when --user does not say.
//
//	{
//	  "version": 1,
//	  "current": {"http://127.0.0.1:8090": "ada"},
//	  "tokens": [{"issuer": "http://127.0.0.1:8090", "user": "ada", "subject": "ada", "client_id": "loans-cli",
//	              "token_type": "Bearer", "access_token": "eyJ…", "refresh_token": "", "id_token": "",
//	              "expiry": "2026-12-01T10:00:00Z", "obtained_at": "2026-12-01T09:00:00Z"}]
//	}
type Cache struct {
	Version int               `json:"version"`
	Current map[string]string `json:"current,omitempty"`
	Tokens  []Entry           `json:"tokens"`

	path string
}

// Entry is one cached token.
type Entry struct {
	Issuer string `json:"issuer"`
	// User is what --user matches: the token's preferred_username, else
	// its subject.
	User         string    `json:"user"`
	Subject      string    `json:"subject"`
	ClientID     string    `json:"client_id"`
	TokenType    string    `json:"token_type,omitempty"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	IDToken      string    `json:"id_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	ObtainedAt   time.Time `json:"obtained_at"`
}

// expirySkew treats a token that expires this soon as expired already, so
// that it does not expire on its way to the service.
const expirySkew = 30 * time.Second

// Expired says whether the access token is (nearly) expired at now.
func (e Entry) Expired(now time.Time) bool {
	return !e.Expiry.IsZero() && !now.Add(expirySkew).Before(e.Expiry)
}

// NewEntry makes the cache entry of a granted token. The user and subject
// come from the access token's claims (or the ID token's, for an opaque
// access token), with fallback as the user when neither says.
func NewEntry(issuer, clientID, fallback string, t *Token, now time.Time) Entry {
	e := Entry{
		Issuer: strings.TrimSuffix(issuer, "/"), ClientID: clientID, TokenType: t.TokenType,
		AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, IDToken: t.IDToken, Expiry: t.Expiry, ObtainedAt: now,
	}
	c, err := DecodeClaims(t.AccessToken)
	if err != nil && t.IDToken != "" {
		c, err = DecodeClaims(t.IDToken)
	}
	if err == nil {
		e.Subject = c.String("sub")
		e.User = c.String("preferred_username")
	}
	if e.User == "" {
		e.User = e.Subject
	}
	if e.User == "" {
		e.User = fallback
	}
	return e
}

// CacheFile is the cache's path in loanctl's folder.
func CacheFile(dir string) string { return filepath.Join(dir, "tokens.json") }

// LoadCache reads the cache; a missing file is an empty cache.
func LoadCache(path string) (*Cache, error) {
	c := &Cache{Version: CacheVersion, path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("token cache: %w", err)
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("token cache %s: %w (delete it and log in again)", path, err)
	}
	if c.Version != CacheVersion {
		return nil, fmt.Errorf("token cache %s: version %d, want %d (delete it and log in again)", path, c.Version, CacheVersion)
	}
	return c, nil
}

// Save writes the cache, readable by its owner only.
func (c *Cache) Save() error {
	c.Version = CacheVersion
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := config.WriteFileAtomic(c.path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("token cache: %w", err)
	}
	return nil
}

// Put adds or replaces the entry of its issuer and user, and makes that
// user the issuer's current one.
func (c *Cache) Put(e Entry) {
	c.Tokens = slices.DeleteFunc(c.Tokens, func(o Entry) bool { return o.Issuer == e.Issuer && o.User == e.User })
	c.Tokens = append(c.Tokens, e)
	if c.Current == nil {
		c.Current = map[string]string{}
	}
	c.Current[e.Issuer] = e.User
}

// Update replaces the entry of its issuer and user, as a refresh does,
// leaving the issuer's current user as it was.
func (c *Cache) Update(e Entry) {
	current, ok := c.Current[e.Issuer]
	c.Put(e)
	if ok {
		c.Current[e.Issuer] = current
	}
}

// Get finds the entry of an issuer for user, or for the issuer's current
// user when user is "". A user may be named by its subject too.
func (c *Cache) Get(issuer, user string) (Entry, bool) {
	issuer = strings.TrimSuffix(issuer, "/")
	if user == "" {
		user = c.Current[issuer]
	}
	for _, e := range c.Tokens {
		if e.Issuer == issuer && e.User == user {
			return e, true
		}
	}
	for _, e := range c.Tokens {
		if e.Issuer == issuer && e.Subject == user {
			return e, true
		}
	}
	return Entry{}, false
}

// Delete removes the entry of an issuer's user (the current one when user
// is "") and returns it.
func (c *Cache) Delete(issuer, user string) (Entry, bool) {
	e, ok := c.Get(issuer, user)
	if !ok {
		return Entry{}, false
	}
	c.Tokens = slices.DeleteFunc(c.Tokens, func(o Entry) bool { return o.Issuer == e.Issuer && o.User == e.User })
	if c.Current[e.Issuer] == e.User {
		delete(c.Current, e.Issuer)
	}
	return e, true
}

// DeleteIssuer removes every entry of an issuer and returns them.
func (c *Cache) DeleteIssuer(issuer string) []Entry {
	issuer = strings.TrimSuffix(issuer, "/")
	var removed []Entry
	c.Tokens = slices.DeleteFunc(c.Tokens, func(o Entry) bool {
		if o.Issuer == issuer {
			removed = append(removed, o)
		}
		return o.Issuer == issuer
	})
	delete(c.Current, issuer)
	return removed
}
