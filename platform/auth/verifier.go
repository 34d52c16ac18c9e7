package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Config says which tokens a Verifier accepts.
type Config struct {
	// IssuerURL is the issuer (`iss`) exactly as its tokens carry it; its
	// discovery document is IssuerURL + "/.well-known/openid-configuration".
	IssuerURL string
	// Audience must be among the token's `aud`.
	Audience string
	// RolesClaim is the claim holding the roles, a dotted path into nested
	// objects: "roles" (the default), "realm_access.roles" (Keycloak). A
	// claim named exactly so is read first, since some names have dots
	// (Auth0's namespaced "https://loans.example.com/roles").
	RolesClaim string
	// Leeway is the clock skew allowed on exp, nbf and iat (default 30s).
	Leeway time.Duration
	// Algorithms are the signature algorithms accepted (default: RS256,
	// RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA). Never
	// `none`, and never an HMAC algorithm: a public key is not a secret.
	Algorithms []jose.SignatureAlgorithm
	// HTTPClient fetches the discovery document and the keys (default: one
	// with a 10s timeout).
	HTTPClient *http.Client
	// CacheSize bounds how many verified tokens are remembered until they
	// expire, so that a client's next call skips the signature check
	// (default 10,000; negative: no cache).
	CacheSize int
	// KeyRefreshInterval is the least time between two fetches of the keys
	// caused by tokens signed with an unknown key ID (default 1s): a flood of
	// forged key IDs costs the issuer one request a second at most.
	KeyRefreshInterval time.Duration
	// KeyMaxAge is how long fetched keys are trusted before being fetched
	// again, so that a key the issuer withdrew stops being accepted
	// (default 1h).
	KeyMaxAge time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

var defaultAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// maxTokenSize bounds what is parsed: real access tokens are a few KiB.
const maxTokenSize = 16 << 10

// maxSubjectLength bounds the subject recorded in every event.
const maxSubjectLength = 255

// Verifier checks OpenID Connect access tokens (JWTs) against an issuer's
// published keys. Discovery and key fetches happen on first use and are
// retried, so a service may start before its issuer.
type Verifier struct {
	cfg        Config
	rolesPath  []string
	now        func() time.Time
	discovery  *discovery
	keys       *keySet
	cache      *lru.Cache[[sha256.Size]byte, cachedPrincipal]
	algorithms map[jose.SignatureAlgorithm]bool
}

type cachedPrincipal struct {
	principal Principal
	expiry    time.Time
}

// NewVerifier returns a verifier for cfg; it contacts the issuer only when
// the first token comes.
func NewVerifier(cfg Config) (*Verifier, error) {
	var missing []string
	if cfg.IssuerURL == "" {
		missing = append(missing, "-oidc-issuer-url (OIDC_ISSUER_URL)")
	}
	if cfg.Audience == "" {
		missing = append(missing, "-oidc-audience (OIDC_AUDIENCE)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("auth: %s required: every call needs an access token, and the service must know whose to accept",
			strings.Join(missing, " and ")+map[bool]string{true: " is", false: " are"}[len(missing) == 1])
	}
	if !strings.HasPrefix(cfg.IssuerURL, "https://") && !strings.HasPrefix(cfg.IssuerURL, "http://") {
		return nil, fmt.Errorf("auth: issuer URL %q must be an http(s) URL", cfg.IssuerURL)
	}
	if cfg.RolesClaim == "" {
		cfg.RolesClaim = "roles"
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Leeway < 0 || cfg.Leeway > 5*time.Minute {
		return nil, fmt.Errorf("auth: leeway %s must be between 0 and 5m", cfg.Leeway)
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = defaultAlgorithms
	}
	algorithms := map[jose.SignatureAlgorithm]bool{}
	for _, a := range cfg.Algorithms {
		if a == "none" || strings.HasPrefix(string(a), "HS") {
			return nil, fmt.Errorf("auth: algorithm %s is never accepted", a)
		}
		algorithms[a] = true
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10_000
	}
	if cfg.KeyRefreshInterval <= 0 {
		cfg.KeyRefreshInterval = time.Second
	}
	if cfg.KeyMaxAge <= 0 {
		cfg.KeyMaxAge = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{
		cfg:        cfg,
		rolesPath:  strings.Split(cfg.RolesClaim, "."),
		now:        cfg.Now,
		algorithms: algorithms,
	}
	v.discovery = &discovery{issuer: cfg.IssuerURL, client: cfg.HTTPClient, now: cfg.Now, retryAfter: time.Second}
	v.keys = &keySet{
		client: cfg.HTTPClient, now: cfg.Now, jwksURL: v.discovery.jwksURL,
		refreshInterval: cfg.KeyRefreshInterval, maxAge: cfg.KeyMaxAge,
	}
	if cfg.CacheSize > 0 {
		cache, err := lru.New[[sha256.Size]byte, cachedPrincipal](cfg.CacheSize)
		if err != nil {
			return nil, err
		}
		v.cache = cache
	}
	return v, nil
}

// tokenClaims are the claims read from every token.
type tokenClaims struct {
	jwt.Claims
	AuthorizedParty string `json:"azp,omitempty"`
	ClientID        string `json:"client_id,omitempty"`
}

// Authenticate verifies a token and returns its principal. The error is an
// *Error: Temporary when the issuer could not be reached.
func (v *Verifier) Authenticate(ctx context.Context, raw string) (Principal, error) {
	if len(raw) > maxTokenSize {
		return Principal{}, refused(ReasonTokenInvalid, nil, "the access token is larger than %d bytes", maxTokenSize)
	}
	var key [sha256.Size]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(raw))
		if c, ok := v.cache.Get(key); ok {
			if v.now().Before(c.expiry.Add(v.cfg.Leeway)) {
				p := c.principal
				p.Roles = slices.Clone(p.Roles) // the caller's to change, not the cache's
				return p, nil
			}
			v.cache.Remove(key)
		}
	}
	p, expiry, err := v.verify(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	if v.cache != nil {
		cached := p
		cached.Roles = slices.Clone(p.Roles)
		v.cache.Add(key, cachedPrincipal{principal: cached, expiry: expiry})
	}
	return p, nil
}

func (v *Verifier) verify(ctx context.Context, raw string) (Principal, time.Time, error) {
	tok, err := jwt.ParseSigned(raw, v.cfg.Algorithms)
	if err != nil {
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "the access token is not a signed JWT with an accepted algorithm (%s)", algNames(v.cfg.Algorithms))
	}
	if len(tok.Headers) != 1 {
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "the access token must carry exactly one signature")
	}
	header := tok.Headers[0]
	candidates, err := v.keys.lookup(ctx, header.KeyID)
	if err != nil {
		return Principal{}, time.Time{}, err
	}
	verified := false
	for _, k := range candidates {
		if k.Use != "" && k.Use != "sig" || k.Algorithm != "" && k.Algorithm != header.Algorithm {
			continue
		}
		if tok.Claims(k.Key) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "the access token's signature does not verify with the issuer's keys")
	}
	var (
		claims tokenClaims
		all    map[string]any
	)
	// The payload's signature was verified just above; this only decodes it
	// (apart, so that malformed claims are not reported as a bad signature).
	if err := tok.UnsafeClaimsWithoutVerification(&claims, &all); err != nil {
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "the access token's claims are malformed")
	}
	if claims.Expiry == nil {
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "the access token has no expiry (exp)")
	}
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      v.cfg.IssuerURL,
		AnyAudience: jwt.Audience{v.cfg.Audience},
		Time:        v.now(),
	}, v.cfg.Leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return Principal{}, time.Time{}, refused(ReasonTokenExpired, nil, "the access token expired at %s", claims.Expiry.Time().UTC().Format(time.RFC3339))
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Principal{}, time.Time{}, refused(ReasonTokenNotYetValid, nil, "the access token is not valid yet")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "the access token was issued by %q, not by %q", truncate(claims.Issuer), v.cfg.IssuerURL)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "the access token is not meant for audience %q", v.cfg.Audience)
	case err != nil:
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "the access token's claims are not valid")
	}
	if err := checkSubject(claims.Subject); err != nil {
		return Principal{}, time.Time{}, err
	}
	roles, err := rolesAt(all, v.cfg.RolesClaim, v.rolesPath)
	if err != nil {
		return Principal{}, time.Time{}, refused(ReasonTokenInvalid, nil, "claim %q: %s", v.cfg.RolesClaim, err)
	}
	p := NewPrincipal(claims.Subject, claims.Issuer, roles...)
	p.ClientID = claims.AuthorizedParty
	if p.ClientID == "" {
		p.ClientID = claims.ClientID
	}
	return p, claims.Expiry.Time(), nil
}

func checkSubject(sub string) error {
	switch {
	case sub == "":
		return refused(ReasonTokenInvalid, nil, "the access token has no subject (sub)")
	case len(sub) > maxSubjectLength:
		return refused(ReasonTokenInvalid, nil, "the access token's subject is longer than %d bytes", maxSubjectLength)
	case strings.HasPrefix(sub, ReservedSubjectPrefix):
		return refused(ReasonSubjectReserved, nil, "subjects starting with %q are reserved for the services themselves", ReservedSubjectPrefix)
	case strings.IndexFunc(sub, unicode.IsControl) >= 0:
		return refused(ReasonTokenInvalid, nil, "the access token's subject has control characters")
	}
	return nil
}

// rolesAt reads the roles in the claim called name, or else at its dotted
// path: an array of strings, or one string of space-separated roles (as the
// `scope` claim is written). A missing claim grants no role. The system
// role is never taken from a token.
func rolesAt(claims map[string]any, name string, path []string) ([]Role, error) {
	cur, ok := claims[name]
	if !ok {
		cur = claims
		for _, step := range path {
			obj, ok := cur.(map[string]any)
			if !ok {
				return nil, nil
			}
			if cur, ok = obj[step]; !ok {
				return nil, nil
			}
		}
	}
	var names []string
	switch v := cur.(type) {
	case string:
		names = strings.Fields(v)
	case []any:
		for _, r := range v {
			s, ok := r.(string)
			if !ok {
				return nil, errors.New("roles must be strings")
			}
			names = append(names, s)
		}
	case nil:
	default:
		return nil, errors.New("must be an array of strings or a string")
	}
	roles := make([]Role, 0, len(names))
	for _, n := range names {
		if Role(n) == RoleSystem {
			continue
		}
		roles = append(roles, Role(n))
	}
	return roles, nil
}

func algNames(algs []jose.SignatureAlgorithm) string {
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return strings.Join(names, ", ")
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// ---- the issuer's discovery document and keys ----

// discovery fetches the issuer's discovery document once it is first
// needed; a failure is remembered for retryAfter, then tried again. Its
// only caller is the key set's fetch, one at a time, on a context of its
// own.
type discovery struct {
	issuer     string
	client     *http.Client
	now        func() time.Time
	retryAfter time.Duration

	mu       sync.Mutex
	jwks     string
	failedAt time.Time
	failure  error
}

func (d *discovery) jwksURL(ctx context.Context) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.jwks != "" {
		return d.jwks, nil
	}
	if d.failure != nil && d.now().Sub(d.failedAt) < d.retryAfter {
		return "", d.failure
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	url := strings.TrimSuffix(d.issuer, "/") + "/.well-known/openid-configuration"
	err := getJSON(ctx, d.client, url, &doc)
	switch {
	case err != nil:
		err = &Error{Reason: ReasonIssuerUnavailable, Message: "the identity provider's discovery document could not be fetched", Temporary: true, Err: err}
	case doc.Issuer != d.issuer:
		// OpenID Connect Discovery 1.0, section 4.3: the document must name
		// the issuer it was fetched for, exactly.
		err = &Error{Reason: ReasonIssuerUnavailable, Temporary: true,
			Message: fmt.Sprintf("the discovery document at %s names issuer %q, not %q", url, truncate(doc.Issuer), d.issuer)}
	case doc.JWKSURI == "":
		err = &Error{Reason: ReasonIssuerUnavailable, Temporary: true, Message: "the discovery document has no jwks_uri"}
	}
	if err != nil {
		d.failure, d.failedAt = err, d.now()
		return "", err
	}
	d.jwks, d.failure = doc.JWKSURI, nil
	return d.jwks, nil
}

// keySet caches the issuer's public keys. It fetches them again when they
// are older than maxAge (in the background: the keys in hand keep
// verifying meanwhile), or at once when a token names a key ID it does not
// have (the issuer rotated its key), at most once every refreshInterval.
//
// A fetch runs on its own goroutine and context, not on the caller's: its
// callers all wait for the same answer, and one of them giving up (a client
// that hangs up, a short deadline) neither cancels it for the others nor
// leaves a cancellation recorded as the issuer's failure.
type keySet struct {
	client          *http.Client
	now             func() time.Time
	jwksURL         func(context.Context) (string, error)
	refreshInterval time.Duration
	maxAge          time.Duration

	mu        sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time  // the last successful fetch
	attempted time.Time  // the last fetch started, successful or not
	lastErr   error      // the last finished fetch's failure, nil after a success
	running   *keysFetch // the fetch under way, nil when none is
}

// keysFetch is one fetch of the key set; done is closed when err is set.
type keysFetch struct {
	done chan struct{}
	err  error
}

// fetchTimeout bounds a fetch whatever the HTTP client's timeout.
const fetchTimeout = 30 * time.Second

// lookup returns the keys a token with this key ID may be signed with
// (every key when the token names none).
func (k *keySet) lookup(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	matches := k.match(kid)
	if len(matches) > 0 {
		if k.now().Sub(k.fetchedAt) >= k.maxAge {
			k.start() // in the background; failures leave the keys in hand
		}
		k.mu.Unlock()
		return matches, nil
	}
	f := k.start()
	if f == nil {
		// Rate-limited: the last fetch's outcome stands. While it failed,
		// the key might well be published: the token is not refused.
		err := k.lastErr
		k.mu.Unlock()
		if err != nil {
			return nil, err
		}
		return nil, refused(ReasonTokenInvalid, nil, "the access token is signed with a key (kid %q) the issuer does not publish", truncate(kid))
	}
	k.mu.Unlock()

	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, &Error{Reason: ReasonIssuerUnavailable, Temporary: true, Err: ctx.Err(),
			Message: "the call ended while the identity provider's keys were being fetched"}
	}
	if f.err != nil {
		return nil, f.err
	}
	k.mu.Lock()
	matches = k.match(kid)
	k.mu.Unlock()
	if len(matches) == 0 {
		return nil, refused(ReasonTokenInvalid, nil, "the access token is signed with a key (kid %q) the issuer does not publish", truncate(kid))
	}
	return matches, nil
}

// match must be called with mu held.
func (k *keySet) match(kid string) []jose.JSONWebKey {
	if kid == "" {
		return k.keys.Keys
	}
	return k.keys.Key(kid)
}

// start returns the fetch under way, or starts one unless the last started
// less than refreshInterval ago (then it returns nil). It must be called
// with mu held.
func (k *keySet) start() *keysFetch {
	if k.running != nil {
		return k.running
	}
	now := k.now()
	if !k.attempted.IsZero() && now.Sub(k.attempted) < k.refreshInterval {
		return nil
	}
	f := &keysFetch{done: make(chan struct{})}
	k.running, k.attempted = f, now
	go k.fetch(f)
	return f
}

func (k *keySet) fetch(f *keysFetch) {
	ctx, cancel := context.WithTimeout(context.Background(), fetchTimeout)
	defer cancel()
	set, err := k.get(ctx)
	var public []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.IsPublic() && key.Valid() {
			public = append(public, key)
		}
	}
	k.mu.Lock()
	if err == nil {
		k.keys, k.fetchedAt = jose.JSONWebKeySet{Keys: public}, k.now()
	}
	k.lastErr, k.running, f.err = err, nil, err
	k.mu.Unlock()
	close(f.done)
}

func (k *keySet) get(ctx context.Context) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	url, err := k.jwksURL(ctx)
	if err != nil {
		return set, err
	}
	if err := getJSON(ctx, k.client, url, &set); err != nil {
		return set, &Error{Reason: ReasonIssuerUnavailable, Message: "the identity provider's keys could not be fetched", Temporary: true, Err: err}
	}
	return set, nil
}

// maxDocumentSize bounds the discovery document and key set read.
const maxDocumentSize = 1 << 20

func getJSON(ctx context.Context, client *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	dec := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, maxDocumentSize))
	if err := dec.Decode(out); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
