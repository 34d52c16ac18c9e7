// Package authtest is an OpenID Connect issuer for tests: a discovery
// document and a key set served on loopback, and tokens signed with its keys,
// valid or broken on purpose.
package authtest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"google.golang.org/grpc/metadata"

	"github.com/loanflow/loans/platform/auth"
)

// Audience is the audience of the issuer's tokens and of its verifiers.
const Audience = "loans-api"

// Issuer is an OpenID Connect issuer on 127.0.0.1.
type Issuer struct {
	// URL is the issuer (`iss`), http://127.0.0.1:<port>.
	URL string

	srv              *httptest.Server
	mu               sync.Mutex
	current          Key
	published        []Key
	keyFetches       atomic.Int64
	discoveryFetches atomic.Int64
}

// Key is a signing key and its key ID.
type Key struct {
	ID     string
	Signer crypto.Signer
	Alg    jose.SignatureAlgorithm
}

// NewKey makes an ES256 key (fast to make, unlike RSA).
func NewKey(t testing.TB, id string) Key {
	t.Helper()
	return newKey(id)
}

// NewRSAKey makes an RS256 key (2048 bits), what most issuers sign with;
// it needs no testing.TB, for benchmarks.
func NewRSAKey(id string) Key {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return Key{ID: id, Signer: k, Alg: jose.RS256}
}

func newKey(id string) Key {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return Key{ID: id, Signer: k, Alg: jose.ES256}
}

// Start serves an issuer until the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	i := serve(nil)
	t.Cleanup(i.Close)
	return i
}

// New serves an issuer until Close, for a TestMain that shares one issuer
// among a package's tests.
func New() *Issuer { return serve(nil) }

// Close stops serving.
func (i *Issuer) Close() { i.srv.Close() }

// StartOn is Start on the caller's listener: it brings an issuer up at an
// address a verifier was already told of (one that was unreachable, say).
func StartOn(t testing.TB, l net.Listener) *Issuer {
	t.Helper()
	i := serve(l)
	t.Cleanup(i.Close)
	return i
}

func serve(l net.Listener) *Issuer {
	i := &Issuer{current: newKey("key-1")}
	i.published = []Key{i.current}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		i.discoveryFetches.Add(1)
		writeJSON(w, map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"ES256", "RS256"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, _ *http.Request) {
		i.keyFetches.Add(1)
		i.mu.Lock()
		set := jose.JSONWebKeySet{}
		for _, k := range i.published {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Signer.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"})
		}
		i.mu.Unlock()
		writeJSON(w, set)
	})
	i.srv = httptest.NewUnstartedServer(mux)
	if l != nil {
		_ = i.srv.Listener.Close()
		i.srv.Listener = l
	}
	i.srv.Start()
	i.URL = i.srv.URL
	return i
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Config is a verifier configuration for this issuer.
func (i *Issuer) Config() auth.Config {
	return auth.Config{IssuerURL: i.URL, Audience: Audience}
}

// Verifier verifies this issuer's tokens.
func (i *Issuer) Verifier(t testing.TB) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(i.Config())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// KeyFetches counts the requests for the key set.
func (i *Issuer) KeyFetches() int64 { return i.keyFetches.Load() }

// DiscoveryFetches counts the requests for the discovery document.
func (i *Issuer) DiscoveryFetches() int64 { return i.discoveryFetches.Load() }

// Claims are valid claims for subject with roles, for 5 minutes from now;
// change them to make a token that is not.
func (i *Issuer) Claims(subject string, roles ...auth.Role) map[string]any {
	now := time.Now()
	names := make([]string, len(roles))
	for j, r := range roles {
		names[j] = string(r)
	}
	return map[string]any{
		"iss":   i.URL,
		"sub":   subject,
		"aud":   []string{Audience},
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   now.Add(5 * time.Minute).Unix(),
		"roles": names,
		"azp":   "loans-test",
	}
}

// Token is a valid token for subject with roles.
func (i *Issuer) Token(t testing.TB, subject string, roles ...auth.Role) string {
	t.Helper()
	return i.Sign(t, i.Claims(subject, roles...))
}

// Mint is Token for code without a testing.TB at hand (a client
// interceptor, a benchmark); it panics if signing fails.
func (i *Issuer) Mint(subject string, roles ...auth.Role) string {
	tok, err := sign(i.CurrentKey(), i.Claims(subject, roles...))
	if err != nil {
		panic(err)
	}
	return tok
}

// Sign signs claims with the current key.
func (i *Issuer) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	i.mu.Lock()
	k := i.current
	i.mu.Unlock()
	return SignWith(t, k, claims)
}

// UseKey makes k the current key, withdrawing the others.
func (i *Issuer) UseKey(k Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.current, i.published = k, []Key{k}
}

// RotateKey makes a new key current. The old one stays published when
// keepOld is set (a rotation with overlap), else it is withdrawn.
func (i *Issuer) RotateKey(t testing.TB, id string, keepOld bool) Key {
	t.Helper()
	k := NewKey(t, id)
	i.mu.Lock()
	defer i.mu.Unlock()
	if keepOld {
		i.published = append([]Key{k}, i.published...)
	} else {
		i.published = []Key{k}
	}
	i.current = k
	return k
}

// SignWith signs claims with any key (one the issuer does not publish, say).
func SignWith(t testing.TB, k Key, claims map[string]any) string {
	t.Helper()
	tok, err := sign(k, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func sign(k Key, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.Alg, Key: jose.JSONWebKey{Key: k.Signer, KeyID: k.ID}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return "", err
	}
	return jwt.Signed(signer).Claims(claims).Serialize()
}

// UnsignedToken is a token with `alg: none`, which no verifier may accept.
func UnsignedToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	return encodeSegment(t, map[string]any{"alg": "none", "typ": "JWT"}) + "." + encodeSegment(t, claims) + "."
}

// HMACToken is a token signed with HS256 and the given secret: signed with
// the issuer's public key as the secret, it is the classic key-confusion
// forgery.
func HMACToken(t testing.TB, kid string, secret []byte, claims map[string]any) string {
	t.Helper()
	signingInput := encodeSegment(t, map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + encodeSegment(t, claims)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signingInput))
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// PublicKeyJSON is the issuer's current public key as its key set serves it.
func (i *Issuer) PublicKeyJSON(t testing.TB) []byte {
	t.Helper()
	i.mu.Lock()
	k := i.current
	i.mu.Unlock()
	b, err := jose.JSONWebKey{Key: k.Signer.Public(), KeyID: k.ID, Algorithm: string(k.Alg), Use: "sig"}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// CurrentKey is the key tokens are signed with now.
func (i *Issuer) CurrentKey() Key {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.current
}

func encodeSegment(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Bearer returns ctx sending token as the call's bearer token.
func Bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, auth.HeaderAuthorization, "Bearer "+token)
}

// Header is the HTTP authorization header value for token.
func Header(token string) string { return fmt.Sprintf("Bearer %s", token) }
