package check

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// repoRoot is the repository: this package is deploy/check.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// The four service binaries, built once per test run, with the variables their -h names.
var (
	buildOnce sync.Once
	buildDir  string
	usageEnv  map[string][]string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// serviceEnv returns, by service name, the environment variables each service reads: its -h's and
// StandardEnv.
func serviceEnv(t *testing.T) map[string][]string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "deploy-check-bin-")
		if buildErr != nil {
			return
		}
		ctx := context.Background()
		var bins map[string]string
		bins, buildErr = BuildServices(ctx, repoRoot(t), buildDir)
		if buildErr != nil {
			return
		}
		usageEnv = map[string][]string{}
		for name, bin := range bins {
			vars, err := UsageEnv(ctx, bin)
			if err != nil {
				buildErr = err
				return
			}
			usageEnv[name] = append(vars, StandardEnv...)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return usageEnv
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
