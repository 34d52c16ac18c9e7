package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/auth/authtest"
)

// clock is a Config.Now that moves only when the test says.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// newClock starts at the wall clock's second, so that the claims
// authtest.Issuer.Claims writes (from time.Now) are valid on it.
func newClock() *clock { return &clock{now: time.Now().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newVerifier(t *testing.T, cfg auth.Config) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// issuerConfig is iss's configuration on clk.
func issuerConfig(iss *authtest.Issuer, clk *clock) auth.Config {
	cfg := iss.Config()
	cfg.Now = clk.Now
	return cfg
}

var tokenSerial atomic.Int64

// fresh makes claims unique (a new jti), so that the verifier's cache
// cannot answer for them.
func fresh(claims map[string]any) map[string]any {
	claims["jti"] = fmt.Sprintf("token-%d", tokenSerial.Add(1))
	return claims
}

// mustAccept authenticates token and fails the test if it is refused.
func mustAccept(t *testing.T, v *auth.Verifier, token string) auth.Principal {
	t.Helper()
	p, err := v.Authenticate(t.Context(), token)
	if err != nil {
		t.Fatalf("Authenticate: %v, want accepted", err)
	}
	return p
}

// mustRefuse authenticates token and checks it is refused for reason.
func mustRefuse(t *testing.T, v *auth.Verifier, token, reason string) *auth.Error {
	t.Helper()
	p, err := v.Authenticate(t.Context(), token)
	if err == nil {
		t.Fatalf("Authenticate accepted %+v, want refused with %s", p, reason)
	}
	var e *auth.Error
	if !errors.As(err, &e) {
		t.Fatalf("Authenticate: %T %v, want an *auth.Error", err, err)
	}
	if e.Reason != reason {
		t.Fatalf("Authenticate: reason %s (%v), want %s", e.Reason, err, reason)
	}
	if p.Subject != "" {
		t.Fatalf("Authenticate returned principal %+v with its error", p)
	}
	return e
}

// mustRefuseForGood is mustRefuse for a token that is refused whatever the
// issuer later says: the error is not Temporary.
func mustRefuseForGood(t *testing.T, v *auth.Verifier, token, reason string) {
	t.Helper()
	if e := mustRefuse(t, v, token, reason); e.Temporary {
		t.Fatalf("Authenticate: %v is Temporary, want a refusal for good", e)
	}
}

// mustBeUnavailable checks that token is neither accepted nor refused: the
// issuer could not be asked.
func mustBeUnavailable(t *testing.T, v *auth.Verifier, token string) {
	t.Helper()
	e := mustRefuse(t, v, token, auth.ReasonIssuerUnavailable)
	if !e.Temporary || !auth.IsTemporary(e) {
		t.Fatalf("Authenticate: %v is not Temporary", e)
	}
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("gave up waiting: %s", what)
		case <-tick.C:
		}
	}
}

// segment is a JWT segment (header or payload) encoding v.
func segment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// closedURL is an http URL on loopback where nothing listens any more, and
// its address.
func closedURL(t *testing.T) (string, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr, addr
}

func TestNewVerifier(t *testing.T) {
	valid := auth.Config{IssuerURL: "https://issuer.example", Audience: "loans-api"}
	refusals := map[string]func(*auth.Config){
		"IssuerRequired":        func(c *auth.Config) { c.IssuerURL = "" },
		"IssuerMustBeHTTP":      func(c *auth.Config) { c.IssuerURL = "issuer.example" },
		"AudienceRequired":      func(c *auth.Config) { c.Audience = "" },
		"NegativeLeeway":        func(c *auth.Config) { c.Leeway = -time.Second },
		"LeewayAboveFiveMinute": func(c *auth.Config) { c.Leeway = 6 * time.Minute },
		"AlgorithmNone":         func(c *auth.Config) { c.Algorithms = []jose.SignatureAlgorithm{jose.ES256, "none"} },
		"HMACAlgorithm":         func(c *auth.Config) { c.Algorithms = []jose.SignatureAlgorithm{jose.HS256} },
	}
	for name, change := range refusals {
		t.Run(name, func(t *testing.T) {
			cfg := valid
			change(&cfg)
			if _, err := auth.NewVerifier(cfg); err == nil {
				t.Fatalf("NewVerifier(%+v) succeeded, want an error", cfg)
			}
		})
	}
	t.Run("OK", func(t *testing.T) {
		if _, err := auth.NewVerifier(valid); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ContactsNoIssuerBeforeTheFirstToken", func(t *testing.T) {
		iss := authtest.Start(t)
		iss.Verifier(t)
		if n := iss.DiscoveryFetches() + iss.KeyFetches(); n != 0 {
			t.Fatalf("%d requests to the issuer, want none", n)
		}
	})
}

func TestVerifier_Authenticate(t *testing.T) {
	iss := authtest.Start(t)
	clk := newClock()
	v := newVerifier(t, issuerConfig(iss, clk))

	// Accepted.
	t.Run("ValidToken", func(t *testing.T) {
		p := mustAccept(t, v, iss.Token(t, "alice", auth.RoleLoanOfficer, auth.RoleApplicant))
		if p.Subject != "alice" || p.Issuer != iss.URL || p.ClientID != "loans-test" {
			t.Fatalf("principal %+v, want alice from %s through loans-test", p, iss.URL)
		}
		if want := []auth.Role{auth.RoleApplicant, auth.RoleLoanOfficer}; !slices.Equal(p.Roles, want) {
			t.Fatalf("roles %v, want %v (sorted)", p.Roles, want)
		}
		if p.IsService() {
			t.Fatal("a token's principal is a service identity")
		}
	})
	t.Run("RolesRepeatedOnce", func(t *testing.T) {
		p := mustAccept(t, v, iss.Token(t, "alice", auth.RoleOps, auth.RoleOps))
		if !slices.Equal(p.Roles, []auth.Role{auth.RoleOps}) {
			t.Fatalf("roles %v, want [ops]", p.Roles)
		}
	})
	t.Run("ClientIDFromClientIDClaimWithoutAzp", func(t *testing.T) {
		c := iss.Claims("alice")
		delete(c, "azp")
		c["client_id"] = "loans-cli"
		if p := mustAccept(t, v, iss.Sign(t, c)); p.ClientID != "loans-cli" {
			t.Fatalf("client ID %q, want loans-cli", p.ClientID)
		}
	})
	t.Run("AzpPreferredToClientID", func(t *testing.T) {
		c := iss.Claims("alice")
		c["client_id"] = "loans-cli"
		if p := mustAccept(t, v, iss.Sign(t, c)); p.ClientID != "loans-test" {
			t.Fatalf("client ID %q, want loans-test (azp)", p.ClientID)
		}
	})
	t.Run("AudienceAsOneString", func(t *testing.T) {
		c := iss.Claims("alice")
		c["aud"] = authtest.Audience
		mustAccept(t, v, iss.Sign(t, c))
	})
	t.Run("AudienceAmongOthers", func(t *testing.T) {
		c := iss.Claims("alice")
		c["aud"] = []string{"account", authtest.Audience}
		mustAccept(t, v, iss.Sign(t, c))
	})
	t.Run("RolesAsSpaceSeparatedString", func(t *testing.T) {
		c := iss.Claims("alice")
		c["roles"] = " ops  analyst "
		p := mustAccept(t, v, iss.Sign(t, c))
		if want := []auth.Role{auth.RoleAnalyst, auth.RoleOps}; !slices.Equal(p.Roles, want) {
			t.Fatalf("roles %v, want %v", p.Roles, want)
		}
	})
	t.Run("NoRolesClaimNoRoles", func(t *testing.T) {
		c := iss.Claims("alice")
		delete(c, "roles")
		if p := mustAccept(t, v, iss.Sign(t, c)); len(p.Roles) != 0 {
			t.Fatalf("roles %v, want none", p.Roles)
		}
	})
	t.Run("NullRolesNoRoles", func(t *testing.T) {
		c := iss.Claims("alice")
		c["roles"] = nil
		if p := mustAccept(t, v, iss.Sign(t, c)); len(p.Roles) != 0 {
			t.Fatalf("roles %v, want none", p.Roles)
		}
	})
	t.Run("SystemRoleDropped", func(t *testing.T) {
		p := mustAccept(t, v, iss.Token(t, "mallory", auth.RoleSystem, auth.RoleApplicant))
		if !slices.Equal(p.Roles, []auth.Role{auth.RoleApplicant}) {
			t.Fatalf("roles %v, want [applicant]", p.Roles)
		}
	})
	t.Run("TokenWithoutKeyIDTriedWithEveryKey", func(t *testing.T) {
		k := iss.CurrentKey()
		k.ID = ""
		mustAccept(t, v, authtest.SignWith(t, k, iss.Claims("alice")))
	})
	t.Run("ExpiredWithinLeeway", func(t *testing.T) {
		c := iss.Claims("alice")
		c["exp"] = clk.Now().Add(-20 * time.Second).Unix()
		mustAccept(t, v, iss.Sign(t, c))
	})
	t.Run("NotBeforeWithinLeeway", func(t *testing.T) {
		c := iss.Claims("alice")
		c["nbf"] = clk.Now().Add(20 * time.Second).Unix()
		c["iat"] = clk.Now().Add(20 * time.Second).Unix()
		mustAccept(t, v, iss.Sign(t, c))
	})

	// Refused.
	t.Run("ExpiredBeyondLeeway", func(t *testing.T) {
		c := iss.Claims("alice")
		c["exp"] = clk.Now().Add(-31 * time.Second).Unix()
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenExpired)
	})
	t.Run("NotBeforeBeyondLeeway", func(t *testing.T) {
		c := iss.Claims("alice")
		c["nbf"] = clk.Now().Add(time.Minute).Unix()
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenNotYetValid)
	})
	t.Run("IssuedInTheFuture", func(t *testing.T) {
		c := iss.Claims("alice")
		c["iat"] = clk.Now().Add(time.Minute).Unix()
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenNotYetValid)
	})
	t.Run("WrongIssuer", func(t *testing.T) {
		c := iss.Claims("alice")
		c["iss"] = "https://issuer.example"
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
	})
	t.Run("IssuerWithTrailingSlash", func(t *testing.T) {
		c := iss.Claims("alice")
		c["iss"] = iss.URL + "/"
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
	})
	t.Run("WrongAudience", func(t *testing.T) {
		c := iss.Claims("alice")
		c["aud"] = []string{"account"}
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
	})
	t.Run("NoAudience", func(t *testing.T) {
		c := iss.Claims("alice")
		delete(c, "aud")
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
	})
	t.Run("NoExpiry", func(t *testing.T) {
		c := iss.Claims("alice")
		delete(c, "exp")
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
	})
	t.Run("NoSubject", func(t *testing.T) {
		c := iss.Claims("alice")
		delete(c, "sub")
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
	})
	t.Run("SubjectTooLong", func(t *testing.T) {
		mustRefuseForGood(t, v, iss.Token(t, strings.Repeat("a", 256)), auth.ReasonTokenInvalid)
	})
	t.Run("SubjectWithControlCharacters", func(t *testing.T) {
		mustRefuseForGood(t, v, iss.Token(t, "alice\nbob"), auth.ReasonTokenInvalid)
	})
	t.Run("ReservedSubject", func(t *testing.T) {
		mustRefuseForGood(t, v, iss.Token(t, "system:x", auth.RoleSystem), auth.ReasonSubjectReserved)
	})
	t.Run("RolesNotStrings", func(t *testing.T) {
		c := iss.Claims("alice")
		c["roles"] = []any{"ops", 7}
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
	})
	t.Run("RolesAnObject", func(t *testing.T) {
		c := iss.Claims("alice")
		c["roles"] = map[string]any{"ops": true}
		mustRefuseForGood(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
	})
	t.Run("ClaimOfTheWrongType", func(t *testing.T) {
		c := iss.Claims("alice")
		c["exp"] = "tomorrow"
		e := mustRefuse(t, v, iss.Sign(t, c), auth.ReasonTokenInvalid)
		if strings.Contains(e.Message, "signature") {
			t.Fatalf("a well-signed token with a malformed claim refused for its signature: %v", e)
		}
	})
	t.Run("BadSignaturePayloadAltered", func(t *testing.T) {
		parts := strings.Split(iss.Token(t, "alice", auth.RoleApplicant), ".")
		parts[1] = segment(t, iss.Claims("alice", auth.RoleApplicant, auth.RoleOps))
		mustRefuseForGood(t, v, strings.Join(parts, "."), auth.ReasonTokenInvalid)
	})
	t.Run("SignedByAnUnpublishedKeyWithAPublishedKeyID", func(t *testing.T) {
		forger := authtest.NewKey(t, iss.CurrentKey().ID)
		mustRefuseForGood(t, v, authtest.SignWith(t, forger, iss.Claims("alice")), auth.ReasonTokenInvalid)
	})
	t.Run("SignedByAnUnknownKey", func(t *testing.T) {
		clk.Advance(time.Minute) // past the rate limit: the verifier asks the issuer, which does not know it
		forger := authtest.NewKey(t, "forged")
		mustRefuseForGood(t, v, authtest.SignWith(t, forger, iss.Claims("alice")), auth.ReasonTokenInvalid)
	})
	t.Run("AlgNone", func(t *testing.T) {
		mustRefuseForGood(t, v, authtest.UnsignedToken(t, iss.Claims("alice", auth.RoleOps)), auth.ReasonTokenInvalid)
	})
	t.Run("HMACWithThePublicKeyAsSecret", func(t *testing.T) {
		token := authtest.HMACToken(t, iss.CurrentKey().ID, iss.PublicKeyJSON(t), iss.Claims("alice", auth.RoleOps))
		mustRefuseForGood(t, v, token, auth.ReasonTokenInvalid)
	})
	t.Run("AlgorithmNotConfigured", func(t *testing.T) {
		cfg := issuerConfig(iss, clk)
		cfg.Algorithms = []jose.SignatureAlgorithm{jose.RS256}
		rsaOnly := newVerifier(t, cfg)
		mustRefuseForGood(t, rsaOnly, iss.Token(t, "alice"), auth.ReasonTokenInvalid)
	})
	t.Run("Garbage", func(t *testing.T) {
		for _, token := range []string{"", "garbage", "a.b.c", "a.b", "....", segment(t, map[string]string{"alg": "ES256"}) + ".e30.AAAA"} {
			mustRefuseForGood(t, v, token, auth.ReasonTokenInvalid)
		}
	})
	t.Run("Oversized", func(t *testing.T) {
		fresh := authtest.Start(t)
		v := newVerifier(t, fresh.Config())
		c := fresh.Claims("alice")
		c["padding"] = strings.Repeat("x", 16<<10)
		mustRefuseForGood(t, v, fresh.Sign(t, c), auth.ReasonTokenInvalid)
		if n := fresh.DiscoveryFetches() + fresh.KeyFetches(); n != 0 {
			t.Fatalf("%d requests to the issuer for an oversized token, want none", n)
		}
	})
}

func TestVerifier_Authenticate_RolesClaim(t *testing.T) {
	iss := authtest.Start(t)
	withRoles := func(t *testing.T, claim string) *auth.Verifier {
		cfg := iss.Config()
		cfg.RolesClaim = claim
		return newVerifier(t, cfg)
	}

	t.Run("KeycloakRealmAccessRoles", func(t *testing.T) {
		v := withRoles(t, "realm_access.roles")
		c := iss.Claims("alice", auth.RoleOps) // a top-level roles claim that must not count
		c["realm_access"] = map[string]any{"roles": []string{"loan_officer", "offline_access", "system"}}
		p := mustAccept(t, v, iss.Sign(t, c))
		if want := []auth.Role{auth.RoleLoanOfficer, "offline_access"}; !slices.Equal(p.Roles, want) {
			t.Fatalf("roles %v, want %v", p.Roles, want)
		}
	})
	t.Run("PathThroughSomethingNotAnObjectNoRoles", func(t *testing.T) {
		v := withRoles(t, "realm_access.roles")
		c := iss.Claims("alice")
		c["realm_access"] = "loan_officer"
		if p := mustAccept(t, v, iss.Sign(t, c)); len(p.Roles) != 0 {
			t.Fatalf("roles %v, want none", p.Roles)
		}
	})
	t.Run("ClaimNameWithDots", func(t *testing.T) {
		// Auth0 requires custom claims to be namespaced by a URL.
		v := withRoles(t, "https://loans.example.com/roles")
		c := iss.Claims("alice")
		c["https://loans.example.com/roles"] = []string{"analyst"}
		p := mustAccept(t, v, iss.Sign(t, c))
		if !slices.Equal(p.Roles, []auth.Role{auth.RoleAnalyst}) {
			t.Fatalf("roles %v, want [analyst]", p.Roles)
		}
	})
}

func TestVerifier_Authenticate_KeyRotation(t *testing.T) {
	t.Run("NewKeyFetchedOnce", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		v := newVerifier(t, issuerConfig(iss, clk))
		mustAccept(t, v, iss.Token(t, "alice"))
		if n := iss.KeyFetches(); n != 1 {
			t.Fatalf("%d key fetches, want 1", n)
		}

		iss.RotateKey(t, "key-2", false)
		clk.Advance(2 * time.Second)
		mustAccept(t, v, iss.Token(t, "alice"))
		mustAccept(t, v, iss.Sign(t, fresh(iss.Claims("bob"))))
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches, want 2", n)
		}
	})
	t.Run("UnknownKeyIDsFetchAtMostOncePerInterval", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		cfg := issuerConfig(iss, clk)
		cfg.KeyRefreshInterval = 10 * time.Second
		v := newVerifier(t, cfg)
		mustAccept(t, v, iss.Token(t, "alice"))

		iss.RotateKey(t, "key-2", false)
		clk.Advance(10 * time.Second)
		mustAccept(t, v, iss.Token(t, "alice"))
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches after the rotation, want 2", n)
		}

		// Within the interval, neither forged key IDs nor a second rotation
		// make the verifier ask again.
		clk.Advance(9 * time.Second)
		for i := range 5 {
			forged := authtest.SignWith(t, authtest.NewKey(t, fmt.Sprintf("forged-%d", i)), iss.Claims("mallory"))
			mustRefuseForGood(t, v, forged, auth.ReasonTokenInvalid)
		}
		iss.RotateKey(t, "key-3", false)
		mustRefuseForGood(t, v, iss.Token(t, "alice"), auth.ReasonTokenInvalid)
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches within the refresh interval, want still 2", n)
		}

		clk.Advance(time.Second)
		mustAccept(t, v, iss.Token(t, "alice"))
		if n := iss.KeyFetches(); n != 3 {
			t.Fatalf("%d key fetches once the interval passed, want 3", n)
		}
	})
	t.Run("OverlappingRotationAcceptsBothKeys", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		v := newVerifier(t, issuerConfig(iss, clk))
		old := iss.Token(t, "alice")
		iss.RotateKey(t, "key-2", true)
		mustAccept(t, v, old)
		mustAccept(t, v, iss.Token(t, "bob"))
		if n := iss.KeyFetches(); n != 1 {
			t.Fatalf("%d key fetches, want 1 (both keys come in one set)", n)
		}
	})
}

func TestVerifier_Authenticate_KeyMaxAge(t *testing.T) {
	t.Run("WithdrawnKeyRefusedAfterBackgroundRefresh", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		cfg := issuerConfig(iss, clk)
		cfg.KeyMaxAge = time.Minute
		v := newVerifier(t, cfg)
		oldKey := iss.CurrentKey()
		mustAccept(t, v, iss.Token(t, "alice"))

		iss.RotateKey(t, "key-2", false)
		clk.Advance(59 * time.Second)
		mustAccept(t, v, authtest.SignWith(t, oldKey, fresh(iss.Claims("alice"))))
		if n := iss.KeyFetches(); n != 1 {
			t.Fatalf("%d key fetches before the keys are a minute old, want 1", n)
		}

		clk.Advance(time.Second)
		// The keys in hand keep verifying while the refresh runs, so this
		// one is accepted or refused depending on the race; what must come
		// is a refusal.
		waitFor(t, "the withdrawn key to be refused", func() bool {
			_, err := v.Authenticate(t.Context(), authtest.SignWith(t, oldKey, fresh(iss.Claims("alice"))))
			var e *auth.Error
			if errors.As(err, &e) && e.Reason != auth.ReasonTokenInvalid {
				t.Fatalf("Authenticate: %v, want accepted or TOKEN_INVALID", err)
			}
			return err != nil
		})
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches, want 2: one background refresh", n)
		}
		mustAccept(t, v, iss.Token(t, "alice"))
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches, want 2: the refresh brought the new key", n)
		}
	})
	t.Run("UnreachableIssuerKeepsTheKeysInHand", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		cfg := issuerConfig(iss, clk)
		cfg.KeyMaxAge = time.Minute
		// The keys come through a proxy that the test closes.
		var down atomic.Bool
		client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
			if down.Load() {
				return nil, errors.New("issuer down")
			}
			return http.DefaultTransport.RoundTrip(r)
		})}
		cfg.HTTPClient = client
		v := newVerifier(t, cfg)
		mustAccept(t, v, iss.Token(t, "alice"))

		down.Store(true)
		clk.Advance(2 * time.Minute)
		for range 3 {
			mustAccept(t, v, iss.Sign(t, fresh(iss.Claims("alice"))))
			clk.Advance(2 * time.Second)
		}
	})
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// gate holds the verifier's requests to the issuer while it is closed,
// until it opens.
type gate struct {
	closed atomic.Bool
	asked  chan struct{} // a request came to the closed gate
	opened chan struct{}
}

func newGate(closed bool) *gate {
	g := &gate{asked: make(chan struct{}, 1), opened: make(chan struct{})}
	g.closed.Store(closed)
	return g
}

// client is the verifier's HTTP client through the gate.
func (g *gate) client() *http.Client {
	return &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		if g.closed.Load() {
			select {
			case g.asked <- struct{}{}:
			default:
			}
			<-g.opened
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

func (g *gate) waitAsked(t *testing.T) {
	t.Helper()
	select {
	case <-g.asked:
	case <-time.After(5 * time.Second):
		t.Fatal("the verifier never asked the issuer")
	}
}

func (g *gate) open() { close(g.opened) }

func TestVerifier_Authenticate_IssuerUnavailable(t *testing.T) {
	t.Run("UnreachableIsTemporaryAndDiscoveryRetriedAfterASecond", func(t *testing.T) {
		url, addr := closedURL(t)
		clk := newClock()
		v := newVerifier(t, auth.Config{IssuerURL: url, Audience: authtest.Audience, Now: clk.Now})
		anyToken := authtest.SignWith(t, authtest.NewKey(t, "key-1"), map[string]any{"sub": "alice"})
		mustBeUnavailable(t, v, anyToken)
		// Within the second, every caller is told the same, not that its
		// token is invalid.
		clk.Advance(500 * time.Millisecond)
		mustBeUnavailable(t, v, anyToken)

		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listening again on %s: %v", addr, err)
		}
		iss := authtest.StartOn(t, l)
		if iss.URL != url {
			t.Fatalf("issuer at %s, want %s", iss.URL, url)
		}
		token := iss.Token(t, "alice")
		mustBeUnavailable(t, v, token)
		if n := iss.DiscoveryFetches(); n != 0 {
			t.Fatalf("discovery fetched %d times within a second of the failure, want 0", n)
		}

		clk.Advance(500 * time.Millisecond)
		mustAccept(t, v, token)
		if n := iss.DiscoveryFetches(); n != 1 {
			t.Fatalf("discovery fetched %d times, want 1", n)
		}
	})
	t.Run("DiscoveryNamingAnotherIssuerRefused", func(t *testing.T) {
		iss := authtest.Start(t)
		impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": iss.URL, "jwks_uri": iss.URL + "/keys"})
		}))
		t.Cleanup(impostor.Close)
		v := newVerifier(t, auth.Config{IssuerURL: impostor.URL, Audience: authtest.Audience})
		c := iss.Claims("alice")
		c["iss"] = impostor.URL
		mustBeUnavailable(t, v, iss.Sign(t, c))
		if n := iss.KeyFetches(); n != 0 {
			t.Fatalf("%d key fetches from a discovery document of another issuer, want 0", n)
		}
	})
	t.Run("DiscoveryWithoutKeysURI", func(t *testing.T) {
		var url string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": url})
		}))
		t.Cleanup(srv.Close)
		url = srv.URL
		v := newVerifier(t, auth.Config{IssuerURL: url, Audience: authtest.Audience})
		mustBeUnavailable(t, v, authtest.SignWith(t, authtest.NewKey(t, "key-1"), map[string]any{"sub": "alice"}))
	})
	t.Run("KeysNotServed", func(t *testing.T) {
		var url string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/.well-known/openid-configuration" {
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": url, "jwks_uri": url + "/keys"})
		}))
		t.Cleanup(srv.Close)
		url = srv.URL
		v := newVerifier(t, auth.Config{IssuerURL: url, Audience: authtest.Audience})
		mustBeUnavailable(t, v, authtest.SignWith(t, authtest.NewKey(t, "key-1"), map[string]any{"sub": "alice"}))
	})
	t.Run("FetchOutlivesTheCallerThatStartedIt", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		g := newGate(true)
		cfg := issuerConfig(iss, clk)
		cfg.HTTPClient = g.client()
		v := newVerifier(t, cfg)

		ctx, cancel := context.WithCancel(t.Context())
		token := iss.Token(t, "alice")
		refused := make(chan error, 1)
		go func() {
			_, err := v.Authenticate(ctx, token)
			refused <- err
		}()
		g.waitAsked(t)
		cancel() // the client hangs up while the issuer thinks
		select {
		case err := <-refused:
			if !auth.IsTemporary(err) {
				t.Fatalf("Authenticate: %v, want a Temporary error for the caller who left", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Authenticate did not return when its caller left")
		}

		g.open()
		mustAccept(t, v, iss.Sign(t, fresh(iss.Claims("bob"))))
		if n, m := iss.DiscoveryFetches(), iss.KeyFetches(); n != 1 || m != 1 {
			t.Fatalf("%d discovery and %d key fetches, want 1 and 1", n, m)
		}
	})
	t.Run("CallerGivingUpDoesNotMakeTheIssuerLookDown", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		v := newVerifier(t, issuerConfig(iss, clk))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		token := iss.Token(t, "alice")
		if _, err := v.Authenticate(ctx, token); err != nil && !auth.IsTemporary(err) {
			t.Fatalf("Authenticate for a caller who left: %v, want accepted or Temporary", err)
		}
		mustAccept(t, v, iss.Sign(t, fresh(iss.Claims("bob"))))
	})
}

func TestVerifier_Authenticate_Cache(t *testing.T) {
	// withdrawn: a verifier that accepted token, then learnt that the key
	// that signed it is withdrawn.
	withdrawn := func(t *testing.T, cacheSize int) (v *auth.Verifier, token string, iss *authtest.Issuer) {
		t.Helper()
		iss = authtest.Start(t)
		clk := newClock()
		cfg := issuerConfig(iss, clk)
		cfg.CacheSize = cacheSize
		v = newVerifier(t, cfg)
		oldKey := iss.CurrentKey()
		token = iss.Token(t, "alice", auth.RoleApplicant)
		mustAccept(t, v, token)

		iss.RotateKey(t, "key-2", false)
		clk.Advance(2 * time.Second)
		mustAccept(t, v, iss.Token(t, "bob"))
		mustRefuseForGood(t, v, authtest.SignWith(t, oldKey, fresh(iss.Claims("alice"))), auth.ReasonTokenInvalid)
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches, want 2", n)
		}
		return v, token, iss
	}

	t.Run("SecondUseNotVerifiedAgain", func(t *testing.T) {
		v, token, _ := withdrawn(t, 0)
		p := mustAccept(t, v, token)
		if p.Subject != "alice" || !p.Has(auth.RoleApplicant) {
			t.Fatalf("cached principal %+v, want alice the applicant", p)
		}
	})
	t.Run("WithoutCacheEveryUseVerified", func(t *testing.T) {
		v, token, _ := withdrawn(t, -1)
		mustRefuseForGood(t, v, token, auth.ReasonTokenInvalid)
	})
	t.Run("ExpiredCachedTokenRefused", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		v := newVerifier(t, issuerConfig(iss, clk))
		c := iss.Claims("alice")
		c["exp"] = clk.Now().Add(time.Minute).Unix()
		token := iss.Sign(t, c)
		mustAccept(t, v, token)
		clk.Advance(time.Minute + 29*time.Second)
		mustAccept(t, v, token)
		clk.Advance(2 * time.Second)
		mustRefuseForGood(t, v, token, auth.ReasonTokenExpired)
	})
	t.Run("EvictedTokenVerifiedAgain", func(t *testing.T) {
		v, token, iss := withdrawn(t, 1)
		// One more token, and the cache of one forgets the first.
		mustAccept(t, v, iss.Token(t, "carol"))
		mustRefuseForGood(t, v, token, auth.ReasonTokenInvalid)
	})
	t.Run("CallerCannotChangeACachedPrincipal", func(t *testing.T) {
		iss := authtest.Start(t)
		v := iss.Verifier(t)
		token := iss.Token(t, "alice", auth.RoleApplicant)
		p := mustAccept(t, v, token)
		p.Roles[0] = auth.RoleOps
		again := mustAccept(t, v, token)
		if !slices.Equal(again.Roles, []auth.Role{auth.RoleApplicant}) {
			t.Fatalf("roles %v after a caller changed its copy, want [applicant]", again.Roles)
		}
	})
}

func TestVerifier_Authenticate_Concurrently(t *testing.T) {
	const callers = 64
	tokens := func(t *testing.T, iss *authtest.Issuer) []string {
		out := make([]string, callers)
		for i := range out {
			out[i] = iss.Sign(t, fresh(iss.Claims(fmt.Sprintf("user-%d", i))))
		}
		return out
	}
	// accepted collects len(tokens) results from errs and fails the test for
	// each error.
	accepted := func(t *testing.T, errs <-chan error, n int) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for range n {
			select {
			case err := <-errs:
				if err != nil {
					t.Errorf("Authenticate: %v", err)
				}
			case <-deadline:
				t.Fatal("gave up waiting for the callers")
			}
		}
	}
	// atOnce authenticates tokens from goroutines released together.
	atOnce := func(t *testing.T, v *auth.Verifier, tokens []string) {
		t.Helper()
		start := make(chan struct{})
		errs := make(chan error, len(tokens))
		for _, token := range tokens {
			go func() {
				<-start
				_, err := v.Authenticate(t.Context(), token)
				errs <- err
			}()
		}
		close(start)
		accepted(t, errs, len(tokens))
	}
	// whileFetching authenticates the first token, and the others while
	// the fetch it caused waits at g.
	whileFetching := func(t *testing.T, v *auth.Verifier, g *gate, tokens []string) {
		t.Helper()
		errs := make(chan error, len(tokens))
		go func() {
			_, err := v.Authenticate(t.Context(), tokens[0])
			errs <- err
		}()
		g.waitAsked(t)
		var started sync.WaitGroup
		for _, token := range tokens[1:] {
			started.Add(1)
			go func() {
				started.Done()
				_, err := v.Authenticate(t.Context(), token)
				errs <- err
			}()
		}
		started.Wait()
		g.open()
		accepted(t, errs, len(tokens))
	}

	t.Run("FirstUseFetchesOnce", func(t *testing.T) {
		iss := authtest.Start(t)
		v := iss.Verifier(t)
		atOnce(t, v, tokens(t, iss))
		if n, m := iss.DiscoveryFetches(), iss.KeyFetches(); n != 1 || m != 1 {
			t.Fatalf("%d discovery and %d key fetches, want 1 and 1", n, m)
		}
	})
	t.Run("CallersDuringTheFirstFetchWaitForIt", func(t *testing.T) {
		iss := authtest.Start(t)
		g := newGate(true)
		cfg := iss.Config()
		cfg.HTTPClient = g.client()
		v := newVerifier(t, cfg)
		whileFetching(t, v, g, tokens(t, iss))
		if n, m := iss.DiscoveryFetches(), iss.KeyFetches(); n != 1 || m != 1 {
			t.Fatalf("%d discovery and %d key fetches, want 1 and 1", n, m)
		}
	})
	t.Run("RotationFetchesOnce", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		v := newVerifier(t, issuerConfig(iss, clk))
		mustAccept(t, v, iss.Token(t, "alice"))
		iss.RotateKey(t, "key-2", false)
		clk.Advance(time.Minute)
		atOnce(t, v, tokens(t, iss))
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches, want 2", n)
		}
	})
	t.Run("CallersDuringARotationFetchWaitForIt", func(t *testing.T) {
		iss := authtest.Start(t)
		clk := newClock()
		g := newGate(false)
		cfg := issuerConfig(iss, clk)
		cfg.HTTPClient = g.client()
		v := newVerifier(t, cfg)
		mustAccept(t, v, iss.Token(t, "alice"))
		iss.RotateKey(t, "key-2", false)
		clk.Advance(time.Minute)
		g.closed.Store(true)
		whileFetching(t, v, g, tokens(t, iss))
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches, want 2", n)
		}
	})
	t.Run("RotationOnAMovingClockFetchesOnce", func(t *testing.T) {
		// Time passes while the callers wait for the issuer: the rate limit
		// must hold against those who decided to fetch before the first
		// fetch was recorded.
		iss := authtest.Start(t)
		var offset atomic.Int64
		cfg := iss.Config()
		cfg.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		v := newVerifier(t, cfg)
		mustAccept(t, v, iss.Token(t, "alice"))
		iss.RotateKey(t, "key-2", false)
		offset.Store(int64(time.Minute))
		atOnce(t, v, tokens(t, iss))
		if n := iss.KeyFetches(); n != 2 {
			t.Fatalf("%d key fetches, want 2", n)
		}
	})
}
