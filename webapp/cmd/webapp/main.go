// Command webapp serves the loan platform's web app for applicants, loan
// officers and analysts (package webapp): static files embedded in the
// binary and /config.json, which tells the browser where the command and
// query REST bridges and the OpenID Connect issuer are.
//
//	webapp -addr 127.0.0.1:5173 -command-url http://127.0.0.1:8080 -query-url http://127.0.0.1:8082 \
//	    -issuer-url http://127.0.0.1:8090 -client-id loans-web
//
// The browser calls the bridges itself, so they must allow this app's origin
// (CORS_ALLOWED_ORIGINS), and the issuer must have the client registered with
// <origin>/callback as a redirect URI. Every flag may also come from the
// environment variable in its usage text.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/loanflow/loans/platform/envflag"
	"github.com/loanflow/loans/webapp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "webapp:", err)
		os.Exit(1)
	}
}

var envVars = map[string]string{
	"addr":             "WEBAPP_ADDR",
	"command-url":      "WEBAPP_COMMAND_URL",
	"query-url":        "WEBAPP_QUERY_URL",
	"issuer-url":       "WEBAPP_ISSUER_URL",
	"client-id":        "WEBAPP_CLIENT_ID",
	"shutdown-timeout": "WEBAPP_SHUTDOWN_TIMEOUT",
	"log-level":        "LOG_LEVEL",
}

// run serves until ctx ends (SIGINT or SIGTERM), then shuts down gracefully.
func run(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("webapp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:5173", "listen address; the issuer must know <origin>/callback as a redirect URI (WEBAPP_ADDR)")
	var cfg webapp.Config
	fs.StringVar(&cfg.CommandURL, "command-url", "http://127.0.0.1:8080", "the command service's REST bridge, as the browser reaches it (WEBAPP_COMMAND_URL)")
	fs.StringVar(&cfg.QueryURL, "query-url", "http://127.0.0.1:8082", "the query service's REST bridge, as the browser reaches it (WEBAPP_QUERY_URL)")
	fs.StringVar(&cfg.IssuerURL, "issuer-url", "http://127.0.0.1:8090", "the OpenID Connect issuer, exactly as its tokens' iss (WEBAPP_ISSUER_URL)")
	fs.StringVar(&cfg.ClientID, "client-id", "loans-web", "the app's public OAuth client at the issuer (WEBAPP_CLIENT_ID)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long requests in flight may run on SIGTERM (WEBAPP_SHUTDOWN_TIMEOUT)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error; logs are JSON on stderr (LOG_LEVEL)")
	if err := envflag.Parse(fs, args, envVars); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	handler, err := webapp.Handler(cfg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	logger.Info("webapp: serving", "url", "http://"+lis.Addr().String()+"/", "command_url", cfg.CommandURL,
		"query_url", cfg.QueryURL, "issuer_url", cfg.IssuerURL, "client_id", cfg.ClientID)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		logger.Info("webapp: shutting down")
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return errors.Join(err, srv.Close())
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("webapp: stopped")
	return nil
}
