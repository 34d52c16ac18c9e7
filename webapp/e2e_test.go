//go:build unix

package webapp

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/systemtest"
)

const (
	chromiumPath = "/usr/bin/chromium"
	nodeTimeout  = 5 * time.Minute
)

// The browser journeys (e2e/journeys.mjs) against the real processes, as
// make run starts them (systemtest): the embedded event store, the
// development identity provider, the command, projector and query services
// and the web app, on loopback, with CORS and the issuer matching the web
// app's origin.
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

	sys := systemtest.Start(t, systemtest.Config{WebApp: true})

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
	node.Env = append(os.Environ(), "BASE_URL="+sys.WebApp, "SCREENSHOT_DIR="+shots, "CHROMIUM="+chromiumPath)
	out, err := node.CombinedOutput()
	t.Logf("node journeys.mjs (BASE_URL=%s):\n%s", sys.WebApp, out)
	if err != nil {
		for _, p := range sys.Processes {
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
	sys.Stop()
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
