package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/devstack/identity"
	"github.com/loanflow/loans/devstack/proctest"
	"github.com/loanflow/loans/platform/poll"
)

// system is the platform as `make run` starts it, on free loopback ports:
// the embedded event store and the development identity provider in this
// process, the command, projector and query services as their binaries.
type system struct {
	issuer      string
	commandAddr string
	queryAddr   string
	procs       []*proctest.Process
}

// buildServices builds the three services' binaries from the repository,
// each in its own module (which works in the workspace and without it).
func buildServices(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, svc := range []string{"command-service", "projector-service", "query-service"} {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		build := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(bin, svc), "./cmd/"+svc)
		build.Dir = filepath.Join(root, svc)
		out, err := build.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("go build %s: %v\n%s", svc, err, out)
		}
	}
	return bin
}

func startSystem(t *testing.T) *system {
	t.Helper()
	bin := buildServices(t)
	es := eventstoretest.Start(t, eventstore.Config{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	idp, err := identity.Start(lis, identity.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = idp.Shutdown(ctx)
	})

	s := &system{issuer: idp.Issuer(), commandAddr: freeAddr(t), queryAddr: freeAddr(t)}
	esURL := es.ConnectionString
	oidc := []string{"OIDC_ISSUER_URL=" + idp.Issuer(), "OIDC_AUDIENCE=" + idp.Audience()}
	readModel := "sqlite:" + filepath.Join(t.TempDir(), "readmodel.db")
	admins := map[string]string{"command-service": freeAddr(t), "projector-service": freeAddr(t), "query-service": freeAddr(t)}
	start := func(name string, env []string, args ...string) {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.Env = append(os.Environ(), env...)
		s.procs = append(s.procs, proctest.Start(t, name, cmd))
	}
	start("command-service", oidc, "-eventstore", esURL, "-grpc-addr", s.commandAddr, "-http-addr", freeAddr(t),
		"-admin-addr", admins["command-service"])
	start("projector-service", nil, "run", "-eventstore", esURL, "-readmodel", readModel, "-admin-addr", admins["projector-service"])
	start("query-service", oidc, "-readmodel", readModel, "-grpc-addr", s.queryAddr, "-http-addr", freeAddr(t),
		"-admin-addr", admins["query-service"])
	for name, addr := range admins {
		poll.Until(t, 60*time.Second, 50*time.Millisecond, func() (bool, string) {
			resp, err := http.Get("http://" + addr + "/readyz")
			if err != nil {
				return false, fmt.Sprintf("%s not ready: %v", name, err)
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Sprintf("%s not ready: %s", name, resp.Status)
		})
	}
	return s
}

// stop stops the services as an operator would and holds them to a clean
// exit.
func (s *system) stop() {
	for _, p := range s.procs {
		p.Terminate(30 * time.Second)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
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
