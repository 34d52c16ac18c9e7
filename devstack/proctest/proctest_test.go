//go:build unix

package proctest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes TestHelperProcess behave as the child it names.
const helperEnv = "PROCTEST_HELPER"

// wait bounds every wait of these tests that is not itself under test.
const wait = 20 * time.Second

var listening = regexp.MustCompile(`(?m)^listening on (\S+)\n`)

// TestHelperProcess is not a test: it is the child process of the tests
// below, and does nothing unless re-executed by them.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("child process of this package's tests; runs only when re-executed by them")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	parentGone := make(chan struct{})
	WhenParentGone(func() { close(parentGone) })
	switch mode {
	case "serve": // says where it listens, then runs until SIGTERM
		fmt.Println("listening on 127.0.0.1:7")
		<-ctx.Done()
	case "exit": // ends at once, with status 0
	case "fail-on-sigterm":
		fmt.Println("listening on 127.0.0.1:7")
		<-ctx.Done()
		t.Fatal("failing on SIGTERM, as asked")
	case "ignore-sigterm": // runs until killed or its parent is gone
		stop()
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("listening on 127.0.0.1:7")
		<-parentGone
	case "until-parent-gone": // ends, with status 0, once its stdin closes
		fmt.Println("listening on 127.0.0.1:7")
		<-parentGone
	default:
		t.Fatalf("%s=%q: no such child", helperEnv, mode)
	}
}

// startHelper starts TestHelperProcess as the child named by mode, reporting
// to tb.
func startHelper(t *testing.T, tb testing.TB, mode string) *Process {
	t.Helper()
	cmd := Reexec(t, "TestHelperProcess")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return Start(tb, mode+" child", cmd)
}

// recorder stands in for the test in the calls under test, to see what
// they report: Errorf is recorded, and Fatalf is recorded and ends the
// goroutine, as it does on a testing.T. The rest goes to the real test.
type recorder struct {
	testing.TB
	mu     sync.Mutex
	errors []string
	fatal  string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatal = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// run calls f on a goroutine of its own, since a Fatalf ends it, and waits
// for it to return or end.
func (r *recorder) run(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("the call under test did not return within %v", wait)
	}
}

// check fails t unless the calls made report exactly the given failures: an
// error containing each of wantErrors, in order, and a fatal one containing
// wantFatal ("" for none).
func (r *recorder) check(t *testing.T, wantFatal string, wantErrors ...string) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errors) != len(wantErrors) {
		t.Errorf("got errors %q, want %d containing %q", r.errors, len(wantErrors), wantErrors)
	} else {
		for i, want := range wantErrors {
			if !strings.Contains(r.errors[i], want) {
				t.Errorf("error %d is %q, want it to contain %q", i, r.errors[i], want)
			}
		}
	}
	switch {
	case wantFatal == "" && r.fatal != "":
		t.Errorf("got the fatal failure %q, want none", r.fatal)
	case wantFatal != "" && !strings.Contains(r.fatal, wantFatal):
		t.Errorf("got the fatal failure %q, want one containing %q", r.fatal, wantFatal)
	}
}

func waitExited(t *testing.T, p *Process) {
	t.Helper()
	select {
	case <-p.Exited():
	case <-time.After(wait):
		t.Fatalf("%s did not exit within %v", p, wait)
	}
}

func TestProcess_Kill(t *testing.T) {
	t.Run("PassesWhenTheProcessDiesOfSIGKILL", func(t *testing.T) {
		rec := &recorder{TB: t}
		p := startHelper(t, rec, "serve")
		p.WaitLog(listening, wait)
		var died bool
		rec.run(t, func() { died = p.Kill() })
		rec.check(t, "")
		if !died {
			t.Error("Kill reported no death by SIGKILL")
		}
	})
	t.Run("FailsWhenTheProcessEndedByItself", func(t *testing.T) {
		rec := &recorder{TB: t}
		p := startHelper(t, rec, "exit")
		waitExited(t, p)
		if err := p.ExitErr(); err != nil {
			t.Fatalf("the child failed: %v\n%s", err, p.Log())
		}
		died := true
		rec.run(t, func() { died = p.Kill() })
		rec.check(t, "", "SIGKILL exit child", "want death by SIGKILL, got <nil>")
		if died {
			t.Error("Kill reported a death by SIGKILL")
		}
	})
}

func TestProcess_Terminate(t *testing.T) {
	t.Run("PassesOnExitStatus0", func(t *testing.T) {
		rec := &recorder{TB: t}
		p := startHelper(t, rec, "serve")
		p.WaitLog(listening, wait) // it handles SIGTERM from here on
		rec.run(t, func() { p.Terminate(wait) })
		rec.check(t, "")
	})
	t.Run("FailsOnAnotherExitStatus", func(t *testing.T) {
		rec := &recorder{TB: t}
		p := startHelper(t, rec, "fail-on-sigterm")
		p.WaitLog(listening, wait)
		rec.run(t, func() { p.Terminate(wait) })
		rec.check(t, "", "want exit status 0 after SIGTERM, got exit status 1")
	})
	t.Run("FailsAtTheDeadline", func(t *testing.T) {
		rec := &recorder{TB: t}
		p := startHelper(t, rec, "ignore-sigterm")
		p.WaitLog(listening, wait) // it ignores SIGTERM from here on
		rec.run(t, func() { p.Terminate(200 * time.Millisecond) })
		rec.check(t, "did not exit within 200ms of SIGTERM")
		if !p.Kill() { // the test's own t: the child still runs, and dies of the SIGKILL
			t.Error("the child did not die of SIGKILL")
		}
	})
}

func TestProcess_WaitLog(t *testing.T) {
	t.Run("ReturnsTheSubmatches", func(t *testing.T) {
		p := startHelper(t, t, "serve")
		if m := p.WaitLog(listening, wait); m[1] != "127.0.0.1:7" {
			t.Errorf("got %q, want the address 127.0.0.1:7", m)
		}
		p.Terminate(wait)
	})
	t.Run("FailsWhenTheProcessExitsFirst", func(t *testing.T) {
		rec := &recorder{TB: t}
		p := startHelper(t, rec, "exit")
		rec.run(t, func() { p.WaitLog(listening, wait) })
		rec.check(t, "exit child exited before its output matched")
	})
	t.Run("FailsAtTheDeadline", func(t *testing.T) {
		rec := &recorder{TB: t}
		p := startHelper(t, rec, "serve")
		rec.run(t, func() { p.WaitLog(regexp.MustCompile("never said"), 200*time.Millisecond) })
		rec.check(t, `no output matched "never said" within 200ms`)
		p.Terminate(wait)
	})
}

func TestStart_KillsTheProcessWhenTheTestEnds(t *testing.T) {
	var p *Process
	t.Run("Child", func(t *testing.T) {
		p = startHelper(t, t, "ignore-sigterm")
		p.WaitLog(listening, wait)
	})
	select { // the subtest's cleanup has run
	case <-p.Exited():
	default:
		t.Fatal("the child still runs after its test ended")
	}
}

func TestWhenParentGone(t *testing.T) {
	p := startHelper(t, t, "until-parent-gone")
	p.WaitLog(listening, wait)
	_ = p.stdin.Close() // what the kernel does when the test process dies
	waitExited(t, p)
	if err := p.ExitErr(); err != nil {
		t.Errorf("want exit status 0 once stdin closed, got %v\n%s", err, p.Log())
	}
}

func TestBuild(t *testing.T) {
	bin := Build(t, "./testdata/hello")
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || string(out) != "hello from a built binary\n" {
		t.Errorf("%s: got %q, %v; want the program's greeting", bin, out, err)
	}
}
