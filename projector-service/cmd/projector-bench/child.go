package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
	"github.com/loanflow/loans/projector-service/internal/projector"
	"github.com/loanflow/loans/projector-service/internal/tuning"
)

// The projector under test runs in a child process (this program again,
// with childCommand first): its memory is then its own, not the bench's,
// which holds the event store and, for the raw runs, every event decoded.
// It runs as projector-service run does: the same runtime settings
// (package tuning), the same store, the same options.
const childCommand = "child-projector"

// runChild is the child: projector.Run into a SQLite file until SIGTERM.
// With -timings it notes when each write began and ended and the
// checkpoint it reached, and writes them to that file as it stops.
func runChild(args []string) error {
	fs := flag.NewFlagSet(childCommand, flag.ContinueOnError)
	es := fs.String("eventstore", "", "connection string")
	path := fs.String("readmodel", "", "SQLite file")
	batch := fs.Int("batch", projector.SQLiteMaxBatch, "largest catch-up batch")
	timings := fs.String("timings", "", "file for each write's start, end and checkpoint")
	if err := fs.Parse(args); err != nil {
		return err
	}
	defer tuning.Apply(os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT"), tuning.MemoryLimit)()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	conn, err := esdbconn.Dial(*es, nil)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	st, err := sqlitestore.Open(context.Background(), *path)
	if err != nil {
		return err
	}
	defer st.Close()
	tw := &timedWriter{Writer: st}
	var w readmodel.Writer = st
	if *timings != "" {
		w = tw
	}
	if err := projector.New(conn, w, quiet, projector.Options{MaxBatch: *batch}).Run(ctx); err != nil {
		return err
	}
	if *timings != "" {
		return tw.save(*timings)
	}
	return nil
}

// write is one Apply of the child: when it began and ended (Unix
// nanoseconds) and the checkpoint it moved to.
type write struct {
	start, end int64
	checkpoint uint64
}

// timedWriter notes every Apply that moves the checkpoint.
type timedWriter struct {
	readmodel.Writer
	mu     sync.Mutex
	writes []write
}

func (t *timedWriter) Apply(ctx context.Context, gen int, b readmodel.Batch) error {
	start := time.Now().UnixNano()
	err := t.Writer.Apply(ctx, gen, b)
	if err == nil && b.Checkpoint > 0 {
		t.mu.Lock()
		t.writes = append(t.writes, write{start: start, end: time.Now().UnixNano(), checkpoint: b.Checkpoint})
		t.mu.Unlock()
	}
	return err
}

func (t *timedWriter) save(path string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var b bytes.Buffer
	for _, w := range t.writes {
		fmt.Fprintf(&b, "%d %d %d\n", w.start, w.end, w.checkpoint)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func loadWrites(path string) ([]write, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []write
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var w write
		if _, err := fmt.Sscan(sc.Text(), &w.start, &w.end, &w.checkpoint); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, w)
	}
	return out, sc.Err()
}

// child is the projector's process, seen from the bench.
type child struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error
}

// startChild runs the projector into the SQLite file at path; timings, if
// set, is where it notes its writes.
func (b *bench) startChild(path, timings string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c := &child{logPath: path + ".log", exited: make(chan struct{})}
	logFile, err := os.Create(c.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	args := []string{childCommand, "-eventstore", b.esURL, "-readmodel", path, "-batch", strconv.Itoa(b.cfg.batch)}
	if timings != "" {
		args = append(args, "-timings", timings)
	}
	c.cmd = exec.Command(exe, args...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	if err := c.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// stop ends the child with SIGTERM (as a service is stopped) and waits.
func (c *child) stop() error {
	select {
	case <-c.exited:
		return c.failure()
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("the projector did not stop within 30 s of SIGTERM")
	}
	return c.failure()
}

func (c *child) failure() error {
	if c.err == nil {
		return nil
	}
	log, _ := os.ReadFile(c.logPath)
	return fmt.Errorf("the projector's process: %v\n%s", c.err, tail(log, 2000))
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// maxRSS is the child's peak resident memory so far (VmHWM), in bytes.
func (c *child) maxRSS() (int64, error) {
	status, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.cmd.Process.Pid), "status"))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmHWM:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 2 && string(f[1]) == "kB" {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				return kb << 10, err
			}
		}
	}
	return 0, errors.New("no VmHWM in /proc/<pid>/status")
}

// cpu is the CPU time the child has used so far (user and system).
func (c *child) cpu() time.Duration {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(c.cmd.Process.Pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(string(f[11]), 10, 64)
	stime, _ := strconv.ParseInt(string(f[12]), 10, 64)
	const ticksPerSecond = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticksPerSecond
}
