//go:build unix

package proctest

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"
)

const (
	// killTimeout bounds the wait for a SIGKILLed process to be reaped: the
	// kernel ends it at once, so only a loaded machine takes more than a
	// moment.
	killTimeout = 10 * time.Second
	// logPollInterval spaces WaitLog's reads of the output file.
	logPollInterval = 10 * time.Millisecond
)

// Process is a child process started by Start.
type Process struct {
	t       testing.TB
	name    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser // held, and reachable, while the child runs: see WhenParentGone
	logPath string
	exited  chan struct{}
	waitErr error // what cmd.Wait returned; written before exited is closed
}

// Start starts cmd, called name in the test's messages (say "child 3"), and
// kills it when the test ends if it is still running. Start sets the
// command's stdin (see WhenParentGone), stdout and stderr; cmd sets the rest,
// Env included.
//
// Stdout and stderr both go to one file, read with Log: a file rather than
// a pipe, so that all the child wrote before a SIGKILL is there to read at
// once, in the order it was written, with no copying goroutine to wait for.
func Start(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	if cmd.Stdin != nil || cmd.Stdout != nil || cmd.Stderr != nil {
		t.Fatalf("start %s: the command's stdin, stdout and stderr are set by Start", name)
	}
	p := &Process{t: t, name: name, cmd: cmd, logPath: filepath.Join(t.TempDir(), "output.log"), exited: make(chan struct{})}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
			return
		default:
		}
		_ = cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(killTimeout):
			t.Errorf("%s (pid %d) did not exit within %v of SIGKILL", p, cmd.Process.Pid, killTimeout)
		}
	})
	return p
}

// String returns the name given to Start.
func (p *Process) String() string { return p.name }

// Log returns all the process has written to stdout and stderr so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(read the log of " + p.name + ": " + err.Error() + ")"
	}
	return string(b)
}

// Exited is closed once the process has exited and been reaped.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitErr returns what exec.Cmd.Wait returned: nil for exit status 0, an
// *exec.ExitError otherwise. It may be called only once Exited is closed.
func (p *Process) ExitErr() error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
		panic("proctest: ExitErr called while " + p.name + " is still running")
	}
}

// Kill sends SIGKILL and reports whether the process died of it. A process
// that did not die of the signal, having ended by itself before it, was
// not killed at the moment the test chose, and the test would prove nothing
// about that moment: Kill fails the test with Errorf then, leaving the caller
// to finish its round or stop at once, and ends the test if the process has
// not been reaped within 10 s.
func (p *Process) Kill() bool {
	t := p.t
	t.Helper()
	p.signal(syscall.SIGKILL, "SIGKILL", killTimeout)
	var exitErr *exec.ExitError
	if !errors.As(p.waitErr, &exitErr) {
		t.Errorf("%s: want death by SIGKILL, got %v\n%s", p, p.waitErr, p.Log())
		return false
	}
	if ws, ok := exitErr.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("%s: want death by SIGKILL, got %v (it had ended by itself)\n%s", p, p.waitErr, p.Log())
		return false
	}
	return true
}

// Terminate sends SIGTERM and fails the test unless the process exits with
// status 0 within timeout: a graceful shutdown that completes, in time.
// What the shutdown must also have logged is for the caller to check.
func (p *Process) Terminate(timeout time.Duration) {
	t := p.t
	t.Helper()
	p.signal(syscall.SIGTERM, "SIGTERM", timeout)
	if p.waitErr != nil {
		t.Errorf("%s: want exit status 0 after SIGTERM, got %v\n%s", p, p.waitErr, p.Log())
	}
}

// signal sends sig and waits for the process to exit, ending the test if it
// has not within timeout. A failure to send (the process had exited
// already) is reported but not fatal, so that the caller's check of how the
// process ended can still say how.
func (p *Process) signal(sig syscall.Signal, name string, timeout time.Duration) {
	t := p.t
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Errorf("%s %s: %v", name, p, err)
	}
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v of %s\n%s", p, timeout, name, p.Log())
	}
}

// WaitLog waits until the process's output matches re and returns what
// re.FindStringSubmatch returns: for a child that says where it listens, on
// a port of its own choosing, once it does. It fails the test if the
// process exits first or timeout passes. A pattern for a line should end in
// \n, so as not to match a line half written.
func (p *Process) WaitLog(re *regexp.Regexp, timeout time.Duration) []string {
	t := p.t
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(logPollInterval)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.Log()); m != nil {
			return m
		}
		select {
		case <-p.exited:
			// It may have written the line between the read above and its
			// exit.
			if m := re.FindStringSubmatch(p.Log()); m != nil {
				return m
			}
			t.Fatalf("%s exited before its output matched %q: %v\n%s", p, re, p.waitErr, p.Log())
		case <-deadline.C:
			t.Fatalf("%s: no output matched %q within %v\n%s", p, re, timeout, p.Log())
		case <-tick.C:
		}
	}
}
