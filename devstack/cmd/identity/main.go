// Command identity runs devstack's development OpenID Connect provider, the
// stand-in for the lender's Keycloak or Auth0 under `make run`:
//
//	go run ./devstack/cmd/identity -addr 127.0.0.1:8090 -data .data/identity
//
// Services verify its tokens with OIDC_ISSUER_URL=http://127.0.0.1:8090 and
// OIDC_AUDIENCE=loans-api. DEVELOPMENT ONLY: its users and secrets come from
// a file in the repository (devstack/identity/users.yaml).
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/loanflow/loans/devstack/identity"
)

// envVars stand in for the flags the command line leaves unset, as
// platform/envflag does for the services (devstack cannot import platform).
var envVars = map[string]string{
	"addr":              "IDENTITY_ADDR",
	"issuer":            "IDENTITY_ISSUER_URL",
	"audience":          "IDENTITY_AUDIENCE",
	"users":             "IDENTITY_USERS_FILE",
	"data":              "IDENTITY_DATA_DIR",
	"in-memory":         "IDENTITY_IN_MEMORY",
	"token-ttl":         "IDENTITY_TOKEN_TTL",
	"refresh-token-ttl": "IDENTITY_REFRESH_TOKEN_TTL",
	"shutdown-timeout":  "IDENTITY_SHUTDOWN_TIMEOUT",
	"tls-cert":          "IDENTITY_TLS_CERT_FILE",
	"tls-key":           "IDENTITY_TLS_KEY_FILE",
	"log-level":         "LOG_LEVEL",
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "identity:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends (SIGINT or SIGTERM), then shuts down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("identity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8090", "address to listen on (IDENTITY_ADDR)")
	issuer := fs.String("issuer", "", "issuer URL, the tokens' iss (IDENTITY_ISSUER_URL; default http://<addr>)")
	audience := fs.String("audience", identity.DefaultAudience, "audience put in every access token (IDENTITY_AUDIENCE)")
	usersFile := fs.String("users", "", "users and clients file (IDENTITY_USERS_FILE; default the embedded devstack/identity/users.yaml)")
	dir := fs.String("data", ".data/identity", "data folder keeping the signing key (IDENTITY_DATA_DIR)")
	inMemory := fs.Bool("in-memory", false, "make a new signing key in memory instead of -data (IDENTITY_IN_MEMORY)")
	tokenTTL := fs.Duration("token-ttl", identity.DefaultTokenTTL, "lifetime of access and ID tokens (IDENTITY_TOKEN_TTL)")
	refreshTTL := fs.Duration("refresh-token-ttl", identity.DefaultRefreshTokenTTL, "how long after signing in a login may be refreshed, for clients asking offline_access (IDENTITY_REFRESH_TOKEN_TTL)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long requests in flight may run on SIGTERM (IDENTITY_SHUTDOWN_TIMEOUT)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error (LOG_LEVEL); logs are JSON on stderr")
	tlsCert := fs.String("tls-cert", "", "PEM certificate to serve HTTPS, with -tls-key (IDENTITY_TLS_CERT_FILE); the issuer is then https://<addr>")
	tlsKey := fs.String("tls-key", "", "PEM private key of -tls-cert (IDENTITY_TLS_KEY_FILE)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := applyEnv(fs, envVars); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger.With("component", "zitadel-op")) // zitadel's op logs only there

	var tlsConfig *tls.Config
	switch {
	case (*tlsCert == "") != (*tlsKey == ""):
		return errors.New("-tls-cert and -tls-key go together")
	case *tlsCert != "":
		pair, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("-tls-cert %s, -tls-key %s: %w", *tlsCert, *tlsKey, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	cfg := identity.Config{Issuer: defaultIssuer(*issuer, *addr, tlsConfig != nil), Audience: *audience, TokenTTL: *tokenTTL, RefreshTokenTTL: *refreshTTL, Logger: logger}
	if tlsConfig != nil && cfg.Issuer == "" {
		return errors.New("with -tls-cert, give -issuer (https://host:port as clients reach it) or an -addr with host and port")
	}
	if !*inMemory {
		cfg.DataDir = *dir
	}
	if *usersFile != "" {
		d, err := identity.LoadDirectory(*usersFile)
		if err != nil {
			return err
		}
		cfg.Directory = d
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	if host, _, err := net.SplitHostPort(lis.Addr().String()); err == nil {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			logger.Warn("identity: listening beyond loopback: anyone who reaches this address can get tokens for the development users",
				"addr", lis.Addr().String())
		}
	}
	if tlsConfig != nil {
		lis = tls.NewListener(lis, tlsConfig)
	}
	srv, err := identity.Start(lis, cfg)
	if err != nil {
		return err
	}
	logger.Info("identity: serving", "addr", lis.Addr().String(), "issuer", srv.Issuer(), "audience", srv.Audience(),
		"discovery", srv.Issuer()+"/.well-known/openid-configuration", "data", cfg.DataDir, "token_ttl", tokenTTL.String())

	select {
	case <-ctx.Done():
		logger.Info("identity: shutting down")
	case <-srv.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	logger.Info("identity: stopped")
	return nil
}

// defaultIssuer is the issuer when -issuer is not given: http://<addr>
// (https with TLS), or empty (Start then takes the listener's address) when
// addr has no host or port 0.
func defaultIssuer(issuer, addr string, https bool) string {
	if issuer != "" {
		return issuer
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "0" {
		return ""
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return ""
	}
	if https {
		return "https://" + addr
	}
	return "http://" + addr
}

// applyEnv sets every flag the command line left unset from its environment
// variable, if that is set; a malformed value is an error naming it. The
// command line wins over the environment, which wins over the default.
func applyEnv(fs *flag.FlagSet, vars map[string]string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		variable := vars[name]
		if fs.Lookup(name) == nil {
			return fmt.Errorf("no flag -%s for %s", name, variable)
		}
		v, ok := os.LookupEnv(variable)
		if !ok || set[name] {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("%s=%q (for -%s): %w", variable, v, name, err)
		}
	}
	return nil
}
