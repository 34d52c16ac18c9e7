//go:build unix

package webapp

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/proctest"
	"github.com/loanflow/loans/platform/poll"
)

const (
	chromiumPath = "/usr/bin/chromium"
	// The port the development identity provider's loans-web client has its
	// redirect URIs on (devstack/identity/users.yaml), as under make run.
	webappPort  = "5173"
	nodeTimeout = 5 * time.Minute
)

// The browser journeys (e2e/journeys.mjs) against the real processes, as
// make run starts them: the embedded event store, the development identity
// provider, the command, projector and query services and the web app, on
// loopback, with CORS and the issuer matching the web app's origin.
// Playwright (playwright-core, pinned in e2e/package-lock.json) drives
// Debian's Chromium; the screenshots are kept in e2e/screenshots/ (or
// $E2E_SCREENSHOT_DIR) and listed in the log.
func TestBrowser_Journeys(t *testing.T) {
	for _, need := range []struct{ what, path string }{{"chromium", chromiumPath}, {"node", "node"}, {"npm", "npm"}} {
		if _, err := exec.LookPath(need.path); err != nil {
			t.Skipf("SKIPPED: the browser tests need %s (%s): %v. Install it with `apt-get install -y chromium nodejs npm`.",
				need.what, need.path, err)
		}
	}
	e2eDir, err := filepath.Abs("e2e")
	if err != nil {
		t.Fatal(err)
	}
	installPlaywright(t, e2eDir)

	bins := buildSystem(t)
	sys := startSystem(t, bins)

	shots := os.Getenv("E2E_SCREENSHOT_DIR")
	if shots == "" {
		shots = filepath.Join(e2eDir, "screenshots")
	}
	if err := os.RemoveAll(shots); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	defer cancel()
	node := exec.CommandContext(ctx, "node", "journeys.mjs")
	node.Dir = e2eDir
	node.Env = append(os.Environ(), "BASE_URL="+sys.webapp, "SCREENSHOT_DIR="+shots, "CHROMIUM="+chromiumPath)
	out, err := node.CombinedOutput()
	t.Logf("node journeys.mjs (BASE_URL=%s):\n%s", sys.webapp, out)
	if err != nil {
		for _, p := range sys.procs {
			t.Logf("--- %s log (last 4 KiB):\n%s", p, tail(p.Log(), 4096))
		}
		t.Fatalf("the browser journeys failed: %v (screenshots in %s)", err, shots)
	}
	entries, _ := os.ReadDir(shots)
	var files []string
	for _, e := range entries {
		files = append(files, filepath.Join(shots, e.Name()))
	}
	t.Logf("screenshots (what each shows is in the node output above):\n  %s", strings.Join(files, "\n  "))
	if len(files) == 0 {
		t.Errorf("no screenshots in %s", shots)
	}
	for _, p := range sys.procs {
		p.Terminate(30 * time.Second)
	}
}

// installPlaywright runs npm ci unless node_modules already holds the
// pinned playwright-core (the test runs it once; later runs reuse it).
func installPlaywright(t *testing.T, dir string) {
	t.Helper()
	var pkg, installed struct {
		Dependencies map[string]string `json:"dependencies"`
		Version      string            `json:"version"`
	}
	readJSON(t, filepath.Join(dir, "package.json"), &pkg)
	want := pkg.Dependencies["playwright-core"]
	if b, err := os.ReadFile(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err == nil &&
		json.Unmarshal(b, &installed) == nil && installed.Version == want {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	// playwright-core never downloads a browser; say so anyway.
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
}

type binaries struct{ eventstore, identity, command, projector, query, webapp string }

// buildSystem builds the services from the repository root (through its
// go.work, whatever GOWORK this test runs with) and the web app as it ships.
func buildSystem(t *testing.T) binaries {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
		"./devstack/cmd/eventstore", "./devstack/cmd/identity", "./command-service/cmd/command-service",
		"./projector-service/cmd/projector-service", "./query-service/cmd/query-service")
	build.Dir = root
	build.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOWORK=") })
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build the services: %v\n%s", err, out)
	}
	bin := func(name string) string { return filepath.Join(dir, name) }
	return binaries{
		eventstore: bin("eventstore"), identity: bin("identity"), command: bin("command-service"),
		projector: bin("projector-service"), query: bin("query-service"), webapp: proctest.Build(t, "./cmd/webapp"),
	}
}

type system struct {
	webapp string // the web app's base URL
	procs  []*proctest.Process
}

func startSystem(t *testing.T, b binaries) system {
	t.Helper()
	data := t.TempDir()
	es, idp, cmdHTTP, queryHTTP, projAdmin := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	issuer := "http://" + idp
	// The web app on 5173 as under make run, where the identity provider's
	// loans-web client expects it; if that port is taken (make run is up),
	// on another, with a copy of the users file registering that one.
	web := "127.0.0.1:" + webappPort
	var identityArgs []string
	if l, err := net.Listen("tcp", web); err == nil {
		l.Close()
	} else {
		web = freeAddr(t)
		_, port, _ := net.SplitHostPort(web)
		users, err := os.ReadFile(filepath.Join("..", "devstack", "identity", "users.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(data, "users.yaml")
		if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(users), ":"+webappPort+"/", ":"+port+"/")), 0o600); err != nil {
			t.Fatal(err)
		}
		identityArgs = []string{"-users", file}
		t.Logf("port %s is taken: the web app runs on %s, registered with the identity provider through %s", webappPort, web, file)
	}
	webURL := "http://" + web
	esURL := "esdb://" + es + "?tls=false"
	readModel := "sqlite:" + filepath.Join(data, "readmodel.db")
	api := []string{"OIDC_ISSUER_URL=" + issuer, "OIDC_AUDIENCE=loans-api", "CORS_ALLOWED_ORIGINS=" + webURL}

	var procs []*proctest.Process
	start := func(name string, env []string, bin string, args ...string) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		procs = append(procs, proctest.Start(t, name, cmd))
	}
	start("eventstore", nil, b.eventstore, "-addr", es, "-in-memory")
	start("identity", nil, b.identity, append([]string{"-addr", idp, "-in-memory"}, identityArgs...)...)
	start("command-service", api, b.command, "-eventstore", esURL, "-grpc-addr", freeAddr(t), "-http-addr", cmdHTTP)
	start("projector-service", nil, b.projector, "run", "-eventstore", esURL, "-readmodel", readModel, "-admin-addr", projAdmin)
	start("query-service", api, b.query, "-readmodel", readModel, "-grpc-addr", freeAddr(t), "-http-addr", queryHTTP)
	start("webapp", nil, b.webapp, "-addr", web, "-command-url", "http://"+cmdHTTP, "-query-url", "http://"+queryHTTP,
		"-issuer-url", issuer, "-client-id", "loans-web")

	for name, u := range map[string]string{
		"identity":          issuer + "/.well-known/openid-configuration",
		"command-service":   "http://" + cmdHTTP + "/readyz",
		"projector-service": "http://" + projAdmin + "/readyz",
		"query-service":     "http://" + queryHTTP + "/readyz",
		"webapp":            webURL + "/healthz",
	} {
		poll.Until(t, 60*time.Second, 50*time.Millisecond, func() (bool, string) {
			resp, err := http.Get(u)
			if err != nil {
				return false, fmt.Sprintf("%s not ready: %v", name, err)
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Sprintf("%s not ready: %s answers %d", name, u, resp.StatusCode)
		})
	}
	return system{webapp: webURL, procs: procs}
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

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
