package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/systemtest"
)

// system is what loanctl is pointed at: the platform as make run starts it
// (systemtest), or an identity provider with nothing behind the service
// addresses (settings_test.go).
type system struct {
	issuer      string
	commandAddr string
	queryAddr   string
	stop        func() // stops the platform, held to a clean exit
}

// startSystem starts the platform for loanctl, which runs in this process.
func startSystem(t *testing.T) *system {
	t.Helper()
	s := systemtest.Start(t, systemtest.Config{})
	return &system{issuer: s.Issuer, commandAddr: s.CommandGRPC, queryAddr: s.QueryGRPC, stop: s.Stop}
}

// loanctl runs loanctl in this process against a system, with its own
// folder and the system's addresses in its environment.
type loanctl struct {
	env         map[string]string
	openBrowser func(ctx context.Context, url string) error
	now         func() time.Time
}

func newLoanctl(t *testing.T, s *system) *loanctl {
	env := map[string]string{"LOANCTL_CONFIG_DIR": t.TempDir()}
	if s != nil {
		env["LOANCTL_COMMAND_ADDR"] = s.commandAddr
		env["LOANCTL_QUERY_ADDR"] = s.queryAddr
		env["LOANCTL_ISSUER_URL"] = s.issuer
	}
	return &loanctl{env: env}
}

type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit status %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs loanctl with args until it exits.
func (l *loanctl) run(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	code := l.runWith(t.Context(), &stdout, &stderr, args...)
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func (l *loanctl) runWith(ctx context.Context, stdout, stderr io.Writer, args ...string) int {
	return Execute(ctx, Options{
		Args: args, Stdout: stdout, Stderr: stderr,
		Getenv:      func(k string) string { return l.env[k] },
		OpenBrowser: l.openBrowser,
		Now:         l.now,
	})
}

// ok runs loanctl and fails the test unless it exits 0.
func (l *loanctl) ok(t *testing.T, args ...string) result {
	t.Helper()
	r := l.run(t, args...)
	if r.code != 0 {
		t.Fatalf("loanctl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// syncBuffer is a buffer that a running watch writes while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
