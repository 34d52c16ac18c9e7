package identity

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// refreshTokens are the refresh tokens issued, kept in memory: this is a
// development provider, and a restart ends every login, as it ends the
// authorization requests in flight.
//
// A login that asked for offline_access begins a family of refresh tokens
// of which one at a time is valid. Each use rotates it: the answer carries a
// new refresh token and the one used stops working. A token of the family
// presented after it was rotated means that two parties hold the family's
// tokens, one of them presumably an attacker, and the server cannot tell
// which: the whole family is revoked (the reuse detection of the OAuth 2.0
// Security BCP, RFC 9700 section 4.14.2), so the next refresh of either
// fails and the user logs in again.
//
// A token is base64url(family ID, 16 bytes || secret, 32 bytes): opaque to
// clients, with 256 random bits of secret. Only the SHA-256 of the family's
// current secret is kept, so a family takes the same memory however often
// it is rotated, and the memory holds no usable token. A family lives ttl
// from the login that began it, however often it is rotated (an absolute
// lifetime, like Keycloak's maximum session length); expired families are
// dropped whenever a login begins a new one.
type refreshTokens struct {
	ttl    time.Duration
	now    func() time.Time // time.Now; tests move it
	logger *slog.Logger

	mu       sync.Mutex
	families map[familyID]*family
}

type familyID [16]byte

// refreshSecretSize is the random part of a refresh token: 256 bits.
const refreshSecretSize = 32

type family struct {
	grant
	current [sha256.Size]byte // of the current token's secret
	expires time.Time
}

// grant is what a login granted; every token of its family carries it.
type grant struct {
	subject  string
	clientID string
	scopes   []string
	audience []string
	amr      []string
	authTime time.Time
}

func newRefreshTokens(ttl time.Duration, logger *slog.Logger) *refreshTokens {
	return &refreshTokens{ttl: ttl, now: time.Now, logger: logger, families: map[familyID]*family{}}
}

// begin starts a family for what a login granted and returns its first
// token.
func (r *refreshTokens) begin(g grant) string {
	var id familyID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	g.scopes, g.audience, g.amr = slices.Clone(g.scopes), slices.Clone(g.audience), slices.Clone(g.amr)
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, f := range r.families {
		if !now.Before(f.expires) {
			delete(r.families, id)
		}
	}
	f := &family{grant: g, expires: now.Add(r.ttl)}
	r.families[id] = f
	return f.newToken(id)
}

// newToken makes the family's next token, which replaces the current one.
func (f *family) newToken(id familyID) string {
	var b [len(familyID{}) + refreshSecretSize]byte
	copy(b[:], id[:])
	_, _ = rand.Read(b[len(id):])
	f.current = sha256.Sum256(b[len(id):])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// parseRefreshToken splits a token into its family ID and secret.
func parseRefreshToken(token string) (familyID, []byte, bool) {
	var id familyID
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(b) != len(id)+refreshSecretSize {
		return id, nil, false
	}
	copy(id[:], b)
	return id, b[len(id):], true
}

// grantOf is what the family of a current, unexpired token granted. A
// token of a family that is not its current one revokes the family.
func (r *refreshTokens) grantOf(token string) (familyID, grant, *oidc.Error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, f, e := r.currentLocked(token)
	if e != nil {
		return id, grant{}, e
	}
	return id, f.grant, nil
}

// rotate replaces the family's current token, which token must be, with a
// new one. The check is made again under the lock that replaces it: of two
// refreshes with one token at once, one gets the new token and the other
// revokes the family, as a later reuse would.
func (r *refreshTokens) rotate(token string) (string, *oidc.Error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id, f, e := r.currentLocked(token)
	if e != nil {
		return "", e
	}
	return f.newToken(id), nil
}

func (r *refreshTokens) currentLocked(token string) (familyID, *family, *oidc.Error) {
	id, secret, ok := parseRefreshToken(token)
	var f *family
	if ok {
		f = r.families[id]
	}
	switch {
	case f == nil:
		return id, nil, oidc.ErrInvalidGrant().WithDescription("unknown or revoked refresh token")
	case !r.now().Before(f.expires):
		delete(r.families, id)
		return id, nil, oidc.ErrInvalidGrant().WithDescription("the refresh token expired: log in again")
	}
	sum := sha256.Sum256(secret)
	if subtle.ConstantTimeCompare(sum[:], f.current[:]) != 1 {
		// Only holders of one of the family's tokens know its ID: this one
		// was rotated already (or forged from one that was).
		delete(r.families, id)
		r.logger.Warn("identity: a refresh token was used after it had been rotated: its whole family is revoked",
			"client_id", f.clientID, "sub", f.subject)
		return id, nil, oidc.ErrInvalidGrant().WithDescription("the refresh token was already used: every token of this login is revoked")
	}
	return id, f, nil
}

// familyOf finds the family of any of its tokens, current or rotated, for
// the revocation endpoint.
func (r *refreshTokens) familyOf(token string) (familyID, grant, bool) {
	id, _, ok := parseRefreshToken(token)
	if !ok {
		return id, grant{}, false
	}
	g, ok := r.grantOfFamily(id)
	return id, g, ok
}

// grantOfFamily is what a family, if still kept, granted.
func (r *refreshTokens) grantOfFamily(id familyID) (grant, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.families[id]
	if f == nil {
		return grant{}, false
	}
	return f.grant, true
}

// revoke ends a family: none of its tokens works any more.
func (r *refreshTokens) revoke(id familyID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.families, id)
}

// size is how many families are kept.
func (r *refreshTokens) size() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.families)
}
