package cli

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/identity"
	"github.com/loanflow/loans/devstack/systemtest"
)

// Which query service address is used shows in the error of a call to
// it: each address here is a closed port.
func TestExecute_SettingsComeFromFlagThenEnvironmentThenFileThenDefault(t *testing.T) {
	fileAddr, envAddr, flagAddr := systemtest.FreeAddr(t), systemtest.FreeAddr(t), systemtest.FreeAddr(t)
	l := newLoanctl(t, nil)
	l.env["LOANCTL_TOKEN"] = "not-a-real-token" // no login needed: the call fails before any check
	dir := l.env["LOANCTL_CONFIG_DIR"]
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("query-addr: "+fileAddr+"\noutput: json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	usesAddr := func(t *testing.T, want string, args ...string) {
		t.Helper()
		r := l.run(t, append([]string{"get", "0b9e5c1e-4a0e-4c57-9c1e-8a0b7b0e8e42"}, args...)...)
		if r.code != ExitFailure || !strings.Contains(r.stderr, "failed: UNAVAILABLE") || !strings.Contains(r.stderr, "running at "+want+"?") {
			t.Errorf("want a call to %s: %s", want, r)
		}
	}
	t.Run("File", func(t *testing.T) { usesAddr(t, fileAddr) })
	l.env["LOANCTL_QUERY_ADDR"] = envAddr
	t.Run("EnvironmentOverFile", func(t *testing.T) { usesAddr(t, envAddr) })
	t.Run("FlagOverEnvironment", func(t *testing.T) { usesAddr(t, flagAddr, "--query-addr", flagAddr) })

	t.Run("AnotherFileWithConfig", func(t *testing.T) {
		other := filepath.Join(t.TempDir(), "other.yaml")
		if err := os.WriteFile(other, []byte("query-addr: "+fileAddr+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		delete(l.env, "LOANCTL_QUERY_ADDR")
		usesAddr(t, fileAddr, "--config", other)
		if r := l.run(t, "whoami", "--config", filepath.Join(t.TempDir(), "missing.yaml")); r.code != ExitFailure {
			t.Errorf("a missing --config file: %s", r)
		}
	})
	t.Run("UnknownSettingInTheFile", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("query-adr: x\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := l.run(t, "whoami"); r.code != ExitUsage || !strings.Contains(r.stderr, `unknown setting "query-adr"`) {
			t.Errorf("a misspelt setting: %s", r)
		}
	})
	t.Run("Defaults", func(t *testing.T) {
		r := l.run(t, "--help")
		for _, d := range []string{`"127.0.0.1:8081"`, `"127.0.0.1:8083"`, `"http://127.0.0.1:8090"`, `"loans-cli"`, "LOANCTL_COMMAND_ADDR"} {
			if !strings.Contains(r.stdout, d) {
				t.Errorf("--help does not show %s", d)
			}
		}
	})
}

func TestExecute_UsageErrorsExitWithStatus2(t *testing.T) {
	l := newLoanctl(t, nil)
	for name, args := range map[string][]string{
		"UnknownCommand":       {"lend"},
		"UnknownFlag":          {"get", "x", "--colour"},
		"MissingArgument":      {"get"},
		"RequiredFlag":         {"request", "--amount", "1000"},
		"BadOutput":            {"get", "x", "-o", "xml"},
		"BadTime":              {"at", "x", "--time", "yesterday"},
		"BadDay":               {"stats", "--from", "1/12/2026"},
		"BadStatus":            {"list", "--status", "lent"},
		"BadOrder":             {"list", "--order", "random"},
		"TokenAndWait":         {"get", "x", "--wait", "--consistency-token", "3"},
		"CAFileWithoutTLS":     {"get", "x", "--ca-file", "ca.pem"},
		"BadBoolInEnvironment": nil,
	} {
		t.Run(name, func(t *testing.T) {
			l := l
			if args == nil {
				l = newLoanctl(t, nil)
				l.env["LOANCTL_TLS"] = "maybe"
				args = []string{"get", "x"}
			}
			r := l.run(t, args...)
			if r.code != ExitUsage || !strings.HasPrefix(r.stderr, "loanctl: ") || r.stdout != "" {
				t.Errorf("loanctl %s: %s", strings.Join(args, " "), r)
			}
		})
	}
}

func TestExecute_CompletionForEveryShell(t *testing.T) {
	l := newLoanctl(t, nil)
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		if r := l.run(t, "completion", shell); r.code != 0 || !strings.Contains(r.stdout, "loanctl") {
			t.Errorf("completion %s: %s", shell, r)
		}
	}
	r := l.run(t, "__complete", "list", "--status", "pending_")
	if !strings.Contains(r.stdout, "pending_review") || !strings.Contains(r.stdout, "pending_signature") {
		t.Errorf("completion of --status: %s", r)
	}
}

// Without offline_access the provider gives no refresh token: once the
// cached token has expired, a command says to log in again (and calls
// nothing).
func TestExecute_AnExpiredTokenWithoutRefreshAsksForANewLogin(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	idp, err := identity.Start(lis, identity.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Shutdown(context.Background())
	l := newLoanctl(t, &system{issuer: idp.Issuer(), commandAddr: systemtest.FreeAddr(t), queryAddr: systemtest.FreeAddr(t)})
	if r := l.ok(t, "login", "--username", "bo", "--password", "bo", "--scope", "openid,profile"); !strings.Contains(r.stdout, "no refresh token") {
		t.Errorf("login without offline_access: %s", r)
	}
	l.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	r := l.run(t, "submit", "0b9e5c1e-4a0e-4c57-9c1e-8a0b7b0e8e42")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "the token of bo at "+idp.Issuer()+" expired at") ||
		!strings.Contains(r.stderr, "run loanctl login again") {
		t.Errorf("a command with an expired token: %s", r)
	}
	if r := l.ok(t, "whoami"); !strings.Contains(r.stdout, "expired") {
		t.Errorf("whoami of an expired token: %s", r)
	}
}

func TestExecute_TLSFlagsWarnWhereTheTokenIsAtRisk(t *testing.T) {
	l := newLoanctl(t, nil)
	l.env["LOANCTL_TOKEN"] = "not-a-real-token"
	r := l.run(t, "get", "x", "--tls", "--insecure-skip-verify", "--query-addr", systemtest.FreeAddr(t))
	if r.code != ExitFailure || !strings.Contains(r.stderr, "warning: --insecure-skip-verify: the query service's certificate is NOT checked") {
		t.Errorf("--insecure-skip-verify: %s", r)
	}
	r = l.run(t, "get", "x", "--query-addr", "192.0.2.1:1", "--timeout", "200ms")
	if !strings.Contains(r.stderr, "reached WITHOUT TLS") {
		t.Errorf("plaintext to another host: %s", r)
	}
	if r := l.run(t, "get", "x", "--tls", "--ca-file", filepath.Join(t.TempDir(), "none.pem")); r.code != ExitFailure || !strings.Contains(r.stderr, "CA file") {
		t.Errorf("a missing CA file: %s", r)
	}
}

// An issuer served over HTTPS with a certificate of a private CA (the
// lender's) is trusted through --ca-file, as the services are; without it,
// login fails on the certificate.
func TestExecute_TheIssuerIsTrustedThroughTheCAFile(t *testing.T) {
	// httptest's certificate, valid for 127.0.0.1, signed by itself.
	ts := httptest.NewTLSServer(http.NotFoundHandler())
	cert, caPEM := ts.TLS.Certificates[0], pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw})
	ts.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "https://" + lis.Addr().String()
	idp, err := identity.Start(tls.NewListener(lis, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		identity.Config{Issuer: issuer, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer idp.Shutdown(context.Background())
	l := newLoanctl(t, &system{issuer: issuer, commandAddr: systemtest.FreeAddr(t), queryAddr: systemtest.FreeAddr(t)})

	if r := l.run(t, "login", "--username", "ada", "--password", "ada"); r.code != ExitFailure || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("login at an issuer with a private CA's certificate, without --ca-file: %s", r)
	}
	if r := l.ok(t, "login", "--username", "ada", "--password", "ada", "--tls", "--ca-file", caFile); !strings.Contains(r.stdout, "Logged in at "+issuer+" as ada") {
		t.Errorf("login with --ca-file: %s", r)
	}
	if r := l.ok(t, "logout", "--tls", "--ca-file", caFile); !strings.Contains(r.stdout, "Logged out ada") || r.stderr != "" {
		t.Errorf("logout (revoking at the issuer) with --ca-file: %s", r)
	}
}
