//go:build unix

package systemtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// buildTimeout bounds go build, which on a cold cache compiles every
// dependency of seven programs.
const buildTimeout = 5 * time.Minute

// mainPackages are the programs' main packages, from the repository root
// (the Makefile's build target).
var mainPackages = map[string]string{
	"eventstore":        "./devstack/cmd/eventstore",
	"identity":          "./devstack/cmd/identity",
	"command-service":   "./command-service/cmd/command-service",
	"projector-service": "./projector-service/cmd/projector-service",
	"query-service":     "./query-service/cmd/query-service",
	"publisher-service": "./publisher-service/cmd/publisher-service",
	"webapp":            "./webapp/cmd/webapp",
}

// build builds the programs into a directory of the test's own, from the
// repository's root through its go.work, whatever GOWORK the test runs with
// (a module's tests may run with GOWORK=off), and returns the root and the
// directory. Go's build cache makes a second build in the same run a link.
func build(t testing.TB, programs []string) (root, dir string) {
	t.Helper()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOWORK=") })
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	goEnv := exec.CommandContext(ctx, "go", "env", "GOWORK")
	goEnv.Env = env
	out, err := goEnv.Output()
	if err != nil {
		t.Fatalf("systemtest: go env GOWORK: %v", err)
	}
	work := strings.TrimSpace(string(out))
	if work == "" {
		t.Fatal("systemtest: no go.work above this test's directory: it builds the programs from the repository")
	}
	root, dir = filepath.Dir(work), t.TempDir()
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, p := range programs {
		args = append(args, mainPackages[p])
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir, cmd.Env = root, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("systemtest: go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return root, dir
}
