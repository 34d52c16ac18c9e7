// Package identity is a development OpenID Connect provider: the stand-in
// for the lender's Keycloak or Auth0 in development, tests and `make run`.
// DEVELOPMENT ONLY: its users, passwords and client secrets come from a
// file in the repository (users.yaml).
//
// The protocol is zitadel's OpenID Provider library (github.com/zitadel/oidc
// pkg/op): discovery, JWKS, the authorization endpoint, the token endpoint
// at POST /token for the authorization_code (PKCE), client_credentials and
// refresh_token grants, and the revocation endpoint (RFC 7009) at POST
// /revoke. This package adds what op leaves out: the users and clients
// (Directory), the signing key kept in a data folder, a login page, the
// resource owner password grant that Keycloak calls direct access grants
// (op does not implement it), signed with the same key and carrying the
// same claims, and the refresh tokens' store. Access tokens are RS256 JWTs
// with iss, sub, aud, exp, iat, nbf, jti, client_id, azp, roles,
// preferred_username and scope.
//
// Refresh tokens are issued as Keycloak, Entra or Auth0 issue them: to a
// user's grant (password or authorization_code, never client_credentials)
// that asked for scope offline_access, from a client allowed the
// refresh_token grant. They are opaque, kept in memory (a restart ends every
// login), live Config.RefreshTokenTTL from the login, and rotate: each use
// answers with a new one and ends the one used; using an ended one again
// revokes every token of that login (refresh.go). A refresh reads the user's
// roles from the directory afresh, and is refused once the user is disabled
// or removed from it (SetDirectory).
//
// A test starts one on a loopback port with
//
//	lis, _ := net.Listen("tcp", "127.0.0.1:0")
//	srv, err := identity.Start(lis, identity.Config{}) // embedded users, key in memory
//	defer srv.Shutdown(ctx)
//	// srv.Issuer() is http://127.0.0.1:<port>
package identity

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	httphelper "github.com/zitadel/oidc/v3/pkg/http"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// Defaults of Config.
const (
	DefaultAudience        = "loans-api"
	DefaultTokenTTL        = time.Hour
	DefaultRefreshTokenTTL = 8 * time.Hour
)

// Config says how a provider runs.
type Config struct {
	// Issuer is the `iss` of its tokens and the base URL of its endpoints,
	// such as http://127.0.0.1:8090. Plain http is allowed (development).
	// Start fills it from the listener when empty.
	Issuer string
	// Audience is put in every access token's `aud` (default "loans-api").
	Audience string
	// Directory holds the users and clients (default: the embedded
	// users.yaml, see DefaultDirectory).
	Directory *Directory
	// DataDir keeps the signing key (KeyFileName), made when missing. Empty:
	// a new key in memory, lost on exit (tests).
	DataDir string
	// TokenTTL is the lifetime of access and ID tokens (default 1h).
	TokenTTL time.Duration
	// RefreshTokenTTL is how long a login may be refreshed (default 8h): a
	// refresh token, and every token it is rotated into, expires this long
	// after the login that asked for offline_access. Rotation does not
	// extend it.
	RefreshTokenTTL time.Duration
	// Logger receives the provider's own logs (default: none). zitadel's op
	// logs to slog.Default.
	Logger *slog.Logger

	now func() time.Time // the refresh tokens' clock (default time.Now); tests move it
}

// Provider is the identity provider as an http.Handler.
type Provider struct {
	cfg     Config
	op      *op.Provider
	storage *storage
	handler http.Handler
	logger  *slog.Logger
}

// New makes a provider; it reads or makes the signing key at once.
func New(cfg Config) (*Provider, error) {
	if err := op.ValidateIssuer(cfg.Issuer, true); err != nil {
		return nil, fmt.Errorf("identity: issuer %q: %w", cfg.Issuer, err)
	}
	if strings.HasSuffix(cfg.Issuer, "/") {
		return nil, fmt.Errorf("identity: issuer %q must not end in /", cfg.Issuer)
	}
	if cfg.Audience == "" {
		cfg.Audience = DefaultAudience
	}
	if cfg.TokenTTL == 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.TokenTTL < time.Second {
		return nil, fmt.Errorf("identity: token lifetime %s is too short", cfg.TokenTTL)
	}
	if cfg.RefreshTokenTTL == 0 {
		cfg.RefreshTokenTTL = DefaultRefreshTokenTTL
	}
	if cfg.RefreshTokenTTL < time.Second {
		return nil, fmt.Errorf("identity: refresh token lifetime %s is too short", cfg.RefreshTokenTTL)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Directory == nil {
		d, err := DefaultDirectory()
		if err != nil {
			return nil, fmt.Errorf("identity: %w", err)
		}
		cfg.Directory = d
	}
	var (
		key *signingKey
		err error
	)
	if cfg.DataDir == "" {
		key, err = generateSigningKey()
	} else {
		key, err = loadOrCreateKey(cfg.DataDir, cfg.Logger)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: signing key: %w", err)
	}

	p := &Provider{cfg: cfg, logger: cfg.Logger}
	p.storage = &storage{
		refresh:  newRefreshTokens(cfg.RefreshTokenTTL, cfg.Logger),
		key:      key,
		audience: cfg.Audience,
		ttl:      cfg.TokenTTL,
		loginURL: cfg.Issuer + loginPath,
		logger:   cfg.Logger,
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
	}
	p.storage.dir.Store(cfg.Directory)
	if cfg.now != nil {
		p.storage.refresh.now = cfg.now
	}
	opConfig := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes:       supportedScopes,
		SupportedClaims: []string{
			"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "auth_time", "nonce", "amr", "at_hash", "c_hash",
			"azp", "client_id", "scope", "roles", "preferred_username",
		},
	}
	// Codes are the auth request ID encrypted with this key; like the
	// requests, they do not outlive the process.
	if _, err := rand.Read(opConfig.CryptoKey[:]); err != nil {
		return nil, err
	}
	options := []op.Option{
		op.WithCustomTokenEndpoint(op.NewEndpoint(tokenPath)),
		op.WithHttpInterceptors(p.intercept),
	}
	if strings.HasPrefix(cfg.Issuer, "http://") {
		options = append(options, op.WithAllowInsecure())
	}
	p.op, err = op.NewProvider(opConfig, p.storage, op.StaticIssuer(cfg.Issuer), options...)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle(loginPath, p.loginHandler())
	mux.Handle("/", p.op)
	p.handler = mux

	cfg.Logger.Warn("identity: DEVELOPMENT ONLY: users, passwords and client secrets come from a file in the repository; "+
		"never use this provider outside development and tests",
		"users_file", cfg.Directory.Source(), "issuer", cfg.Issuer, "kid", key.id)
	return p, nil
}

const (
	tokenPath = "/token"
	loginPath = "/login"
)

func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// Issuer is the issuer URL, `iss` of every token.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// Audience is the audience of every access token.
func (p *Provider) Audience() string { return p.cfg.Audience }

// KeyID is the `kid` of the signing key.
func (p *Provider) KeyID() string { return p.storage.key.id }

// SetDirectory replaces the users and clients (d is not nil), as reloading
// the users file would. It takes effect at the next request: a refresh
// carries the roles the user has in d, and is refused for a user d
// disables or leaves out.
func (p *Provider) SetDirectory(d *Directory) {
	p.storage.dir.Store(d)
	p.logger.Info("identity: directory replaced", "users_file", d.Source())
}

// intercept runs inside op's router, after its CORS handling and once the
// issuer is in the context: it serves the discovery document (op's, with the
// password grant added) and the password grant; the rest goes on to op.
func (p *Provider) intercept(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case oidc.DiscoveryEndpoint:
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				p.discovery(w, r)
				return
			}
		case tokenPath:
			w.Header().Set("Cache-Control", "no-store") // RFC 6749 section 5.1
			w.Header().Set("Pragma", "no-cache")
			if r.Method == http.MethodPost && r.PostFormValue("grant_type") == grantPassword {
				p.passwordGrant(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	doc := op.CreateDiscoveryConfig(r.Context(), p.op, p.storage)
	// What is really offered: op lists the implicit and JWT bearer grants,
	// id_token response types, plain PKCE and a device endpoint regardless.
	doc.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeClientCredentials, grantPassword, oidc.GrantTypeRefreshToken}
	doc.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	doc.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	doc.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost}
	doc.TokenEndpointAuthSigningAlgValuesSupported = nil
	doc.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	doc.RevocationEndpointAuthSigningAlgValuesSupported = nil
	doc.DeviceAuthorizationEndpoint = ""
	httphelper.MarshalJSON(w, doc)
}

// ---- in-process server ----

// Server is a provider serving on a listener.
type Server struct {
	*Provider
	http     *http.Server
	addr     net.Addr
	done     chan struct{}
	serveErr error // set before done is closed
}

// Start serves a new provider on lis until Shutdown. With cfg.Issuer empty
// the issuer is http://<lis address> (127.0.0.1 for an unspecified host).
// On error the listener is closed.
func Start(lis net.Listener, cfg Config) (*Server, error) {
	if cfg.Issuer == "" {
		cfg.Issuer = IssuerFor(lis.Addr())
	}
	p, err := New(cfg)
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	s := &Server{
		Provider: p,
		http: &http.Server{
			Handler:           p,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(p.logger.Handler(), slog.LevelWarn),
		},
		addr: lis.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		if err := s.http.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = err
		}
		close(s.done)
	}()
	return s, nil
}

// IssuerFor is the issuer of a provider listening on addr:
// http://host:port, with 127.0.0.1 for an unspecified host.
func IssuerFor(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return (&url.URL{Scheme: "http", Host: net.JoinHostPort(host, port)}).String()
}

// Addr is the address it listens on.
func (s *Server) Addr() net.Addr { return s.addr }

// Done is closed once the server stopped serving, by Shutdown or an error.
func (s *Server) Done() <-chan struct{} { return s.done }

// Shutdown stops taking requests and waits for those in flight until ctx
// ends, then closes what is left. It returns why serving stopped, if not
// because of Shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.http.Close())
	}
	<-s.done
	return errors.Join(err, s.serveErr)
}
