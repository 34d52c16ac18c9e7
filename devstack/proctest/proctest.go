//go:build unix

// Package proctest runs a program as a child process of a test, so that the
// test can do to it what only another process can: kill it with SIGKILL at a
// moment of the test's choosing (no deferred call, flush or shutdown runs)
// and start it again on the same files, or stop it with SIGTERM and hold it
// to a clean exit in time. Crash tests use it to prove what survives a kill.
package proctest

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// buildTimeout bounds go build, which on a cold cache compiles every
// dependency of the program.
const buildTimeout = 5 * time.Minute

// Build compiles the main package pkg (as go build takes it, relative to the
// test's directory: "." for the package under test) into a directory of the
// test's own and returns the binary's path, named after the package. A test
// that runs the binary runs the program as it ships, flags and all.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	dir, err := filepath.Abs(pkg)
	if err != nil {
		t.Fatalf("go build %s: %v", pkg, err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(dir))
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Reexec returns a command that runs this test binary again for the test
// named testName alone. It lets the child side of a crash test live in the
// same file as the test that kills it: a test that skips itself unless an
// environment variable, which the caller adds to the command's Env, tells
// it that it is the child.
func Reexec(t testing.TB, testName string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test binary: %v", err)
	}
	// The child's own -test.timeout ends it should it hang with nobody to
	// kill it.
	return exec.Command(exe, "-test.run=^"+testName+"$", "-test.count=1", "-test.timeout=5m")
}

// WhenParentGone calls f, on a goroutine of its own, once the test process
// that started this one with Start is gone. Start holds the child's stdin
// open for as long as the child runs, and the kernel closes it when the
// parent dies, even of a SIGKILL, which runs no cleanup; a child that stops
// when f is called cannot outlive its test.
func WhenParentGone(f func()) {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		f()
	}()
}
