package apiserver_test

import (
	"flag"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/envflag"
)

func parseFlags(t *testing.T, args ...string) apiserver.Config {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := apiserver.RegisterFlags(fs)
	if err := envflag.Parse(fs, args, apiserver.EnvVars); err != nil {
		t.Fatal(err)
	}
	cfg := apiserver.Config{CORSAllowedOrigins: []string{"http://stale.example"}}
	f.Apply(&cfg)
	return cfg
}

func TestFlags_Apply(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		cfg := parseFlags(t)
		if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" || cfg.CORSAllowedOrigins != nil || cfg.MaxDeadline != apiserver.DefaultMaxDeadline {
			t.Errorf("got %+v, want plain text, no CORS, MaxDeadline %v", cfg, apiserver.DefaultMaxDeadline)
		}
	})
	t.Run("Environment", func(t *testing.T) {
		t.Setenv("TLS_CERT_FILE", "/etc/loans/cert.pem")
		t.Setenv("TLS_KEY_FILE", "/etc/loans/key.pem")
		t.Setenv("CORS_ALLOWED_ORIGINS", " http://localhost:5173, https://loans.example ,")
		t.Setenv("MAX_DEADLINE", "45s")
		cfg := parseFlags(t)
		if cfg.TLSCertFile != "/etc/loans/cert.pem" || cfg.TLSKeyFile != "/etc/loans/key.pem" || cfg.MaxDeadline != 45*time.Second ||
			!slices.Equal(cfg.CORSAllowedOrigins, []string{"http://localhost:5173", "https://loans.example"}) {
			t.Errorf("got %+v", cfg)
		}
	})
	t.Run("CommandLineOverEnvironment", func(t *testing.T) {
		t.Setenv("MAX_DEADLINE", "45s")
		t.Setenv("CORS_ALLOWED_ORIGINS", "https://loans.example")
		cfg := parseFlags(t, "-max-deadline", "1m", "-cors-allowed-origins", "http://localhost:5173")
		if cfg.MaxDeadline != time.Minute || !slices.Equal(cfg.CORSAllowedOrigins, []string{"http://localhost:5173"}) {
			t.Errorf("got %+v", cfg)
		}
	})
	t.Run("MalformedDeadlineRefused", func(t *testing.T) {
		t.Setenv("MAX_DEADLINE", "forever")
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		apiserver.RegisterFlags(fs)
		if err := envflag.Parse(fs, nil, apiserver.EnvVars); err == nil {
			t.Error("MAX_DEADLINE=forever: no error")
		}
	})
}
