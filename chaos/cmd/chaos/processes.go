package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
)

// The five processes, named as their binaries are. The order is the order
// `make run` starts them in; the services retry their dependencies anyway.
const (
	eventStore = "eventstore"
	identity   = "identity"
	commands   = "command-service"
	projector  = "projector-service"
	queries    = "query-service"
)

var processNames = []string{eventStore, identity, commands, projector, queries}

// build compiles the five binaries into dir, from the repository root (the
// folder holding go.work), as the Makefile's build target does.
func build(ctx context.Context, root, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/",
		"./devstack/cmd/eventstore", "./devstack/cmd/identity", "./command-service/cmd/command-service",
		"./projector-service/cmd/projector-service", "./query-service/cmd/query-service")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// repoRoot is the nearest folder above the working directory holding go.work.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory: run from the repository, or pass -bin")
		}
		dir = parent
	}
}

// freePorts reserves n loopback ports by listening on :0 and closing. Another
// program could take one before our process binds it; on a development
// machine that is rare, and a start that fails says so in its log.
func freePorts(n int) ([]int, error) {
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// proc is one process of the system, restartable with the same command
// line, data and ports.
type proc struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string
	// ready polls once: nil when the process serves.
	ready func(ctx context.Context) error
	// oneShot processes (a rebuild) end by themselves: their exit is
	// kept in exitErr, not counted as a crash.
	oneShot bool

	mu       sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the current cmd has exited
	killed   bool          // the current cmd was killed by us
	starts   int
	kills    int
	crashes  []string // exits we did not cause: when, status, last log line
	exitErr  error    // how the last run ended
	maxHWMkB int64    // the largest VmHWM seen over every run of this process
}

// start launches the process, its stdout and stderr appended to its log.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !isClosed(p.exited) {
		return fmt.Errorf("%s is already running", p.name)
	}
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	p.starts++
	fmt.Fprintf(logFile, "=== chaos: start #%d at %s: %s %s\n", p.starts, time.Now().Format(time.RFC3339Nano), p.path, strings.Join(p.args, " "))
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so that a Ctrl-C on the terminal reaches only
	// the driver, which stops everything in order; and killed with the
	// driver should the driver die.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.killed = cmd, exited, false
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.mu.Lock()
		p.exitErr = err
		if !p.killed && !p.oneShot {
			p.crashes = append(p.crashes, fmt.Sprintf("%s exited by itself at %s (%v); last log line: %s",
				p.name, time.Now().Format("15:04:05.000"), err, lastLine(p.logPath)))
		}
		p.mu.Unlock()
		close(exited)
	}()
	return nil
}

// running tells whether the process is up (started and not exited).
func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !isClosed(p.exited)
}

// signal sends sig and waits (bounded) for the exit. SIGKILL counts as a
// kill; the peak RSS is sampled just before, since it dies with the process.
func (p *proc) signal(sig syscall.Signal, wait time.Duration) error {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	if cmd == nil || isClosed(exited) {
		p.mu.Unlock()
		return nil
	}
	p.killed = true
	if sig == syscall.SIGKILL {
		p.kills++
	}
	p.mu.Unlock()
	p.sampleRSS()
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-exited:
		return nil
	case <-time.After(wait):
		if sig != syscall.SIGKILL {
			_ = cmd.Process.Kill()
			<-exited
		}
		return fmt.Errorf("%s did not exit within %v of %v", p.name, wait, sig)
	}
}

// stop ends the process gracefully (SIGTERM), killing it after a while.
func (p *proc) stop() error { return p.signal(syscall.SIGTERM, 15*time.Second) }

// kill is the fault: SIGKILL, no chance to flush or save anything.
func (p *proc) kill() error { return p.signal(syscall.SIGKILL, 10*time.Second) }

// waitReady polls until the process serves, it exits, or the timeout.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if !p.running() {
			return fmt.Errorf("%s exited while starting; see %s (last line: %s)", p.name, p.logPath, lastLine(p.logPath))
		}
		probe, cancelProbe := context.WithTimeout(ctx, 2*time.Second)
		last = p.ready(probe)
		cancelProbe()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %v: %v; see %s", p.name, timeout, last, p.logPath)
		case <-tick.C:
		}
	}
}

// sampleRSS keeps the process's peak resident set (VmHWM), which the kernel
// tracks for the process's life: sampling often enough and just before each
// kill sees every run's peak.
func (p *proc) sampleRSS() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil || isClosed(p.exited) {
		return
	}
	if kb, ok := vmHWM(p.cmd.Process.Pid); ok && kb > p.maxHWMkB {
		p.maxHWMkB = kb
	}
}

func vmHWM(pid int) (int64, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// lastLine is the last non-empty line of a log, for error messages.
func lastLine(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	line := lines[len(lines)-1]
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	return line
}

// system is the five processes on their ports and data.
type system struct {
	dir   string           // the run's folder: data, logs
	procs map[string]*proc // the five; fixed once built
	mu    sync.Mutex
	extra []*proc // helpers started later (rebuilds, the replay), for the RSS report

	eventStoreAddr, issuerURL, commandAddr, queryAddr string
	readModelPath                                     string

	// Probing connections, kept open: gRPC reconnects on its own, and a
	// short reconnect backoff makes a restarted server visible quickly.
	esConn, cmdConn, qryConn *grpc.ClientConn
}

// newSystem lays out the processes as `make run` starts them, on free
// loopback ports and data under dir.
func newSystem(binDir, dir string) (*system, error) {
	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	s := &system{
		dir:            dir,
		procs:          map[string]*proc{},
		eventStoreAddr: addr(0),
		issuerURL:      "http://" + addr(1),
		commandAddr:    addr(2),
		queryAddr:      addr(4),
		readModelPath:  filepath.Join(dir, "readmodel.db"),
	}
	esURL := "esdb://" + s.eventStoreAddr + "?tls=false"
	oidc := []string{"OIDC_ISSUER_URL=" + s.issuerURL, "OIDC_AUDIENCE=loans-api", "OIDC_ROLES_CLAIM=roles"}
	for _, sub := range []string{"eventstore", "identity"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	dial := func(target string) (*grpc.ClientConn, error) {
		return grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 50 * time.Millisecond,
				Multiplier: 1.6, Jitter: 0.2, MaxDelay: 500 * time.Millisecond}, MinConnectTimeout: time.Second}))
	}
	if s.esConn, err = dial(s.eventStoreAddr); err != nil {
		return nil, err
	}
	if s.cmdConn, err = dial(s.commandAddr); err != nil {
		return nil, err
	}
	if s.qryConn, err = dial(s.queryAddr); err != nil {
		return nil, err
	}
	add := func(name string, args, env []string, ready func(context.Context) error) {
		s.procs[name] = &proc{name: name, path: filepath.Join(binDir, name), args: args, env: env,
			logPath: filepath.Join(dir, name+".log"), ready: ready}
	}
	add(eventStore, []string{"-addr", s.eventStoreAddr, "-data", filepath.Join(dir, "eventstore")}, nil, s.eventStoreReady)
	add(identity, []string{"-addr", addr(1), "-issuer", s.issuerURL, "-audience", "loans-api", "-data", filepath.Join(dir, "identity")}, nil, s.identityReady)
	add(commands, []string{"-grpc-addr", s.commandAddr, "-http-addr", addr(3), "-eventstore", esURL}, oidc, grpcServing(s.cmdConn))
	add(projector, []string{"run", "-eventstore", esURL, "-readmodel", "sqlite:" + s.readModelPath}, nil,
		func(context.Context) error { return nil }) // no port: its progress is checked through the read model
	add(queries, []string{"-grpc-addr", s.queryAddr, "-http-addr", addr(5), "-readmodel", "sqlite:" + s.readModelPath}, oidc, grpcServing(s.qryConn))
	return s, nil
}

// eventStoreReady makes a real call: ServerFeatures, which the official
// client makes first too.
func (s *system) eventStoreReady(ctx context.Context) error {
	_, err := serverfeatures.NewServerFeaturesClient(s.esConn).GetSupportedMethods(ctx, &shared.Empty{})
	return err
}

// identityReady fetches the discovery document the services fetch.
func (s *system) identityReady(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.issuerURL+"/.well-known/openid-configuration", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery: HTTP %d", resp.StatusCode)
	}
	return nil
}

func grpcServing(conn *grpc.ClientConn) func(context.Context) error {
	return func(ctx context.Context) error {
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health: %v", resp.GetStatus())
		}
		return nil
	}
}

// startAll starts every process in order, each ready before the next.
func (s *system) startAll(ctx context.Context) error {
	for _, name := range processNames {
		p := s.procs[name]
		if err := p.start(); err != nil {
			return err
		}
		if err := p.waitReady(ctx, 60*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// restartDown starts again, in order, whatever is not running (killed, or
// exited by itself) and waits for it.
func (s *system) restartDown(ctx context.Context) (restarted []string, err error) {
	for _, name := range processNames {
		p := s.procs[name]
		if p.running() {
			continue
		}
		if err := p.start(); err != nil {
			return restarted, err
		}
		restarted = append(restarted, name)
	}
	for _, name := range restarted {
		if err := s.procs[name].waitReady(ctx, 60*time.Second); err != nil {
			return restarted, err
		}
	}
	return restarted, nil
}

// stopAll stops every process gracefully, the dependants first.
func (s *system) stopAll() {
	for i := len(processNames) - 1; i >= 0; i-- {
		_ = s.procs[processNames[i]].stop()
	}
	for _, c := range []*grpc.ClientConn{s.esConn, s.cmdConn, s.qryConn} {
		if c != nil {
			c.Close()
		}
	}
}

// helper adds a process that is not one of the five (a rebuild, the
// replay), logging to its own file in the run folder.
func (s *system) helper(name, path, logName string, args ...string) *proc {
	p := &proc{name: name, path: path, args: args, logPath: filepath.Join(s.dir, logName), oneShot: true}
	s.mu.Lock()
	s.extra = append(s.extra, p)
	s.mu.Unlock()
	return p
}

// all lists the five and the helpers.
func (s *system) all() []*proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.extra)
	for _, name := range processNames {
		out = append(out, s.procs[name])
	}
	return out
}

// sampleRSSUntil samples every running process's peak RSS until ctx ends.
func (s *system) sampleRSSUntil(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, p := range s.all() {
			p.sampleRSS()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rebuilder runs `projector-service rebuild` on the live read model now and
// then while the load runs: a rebuild switches readers to a new generation,
// which must never show them an older state than they saw.
type rebuilder struct {
	p              *proc
	started, ended int
	failures       []string
}

func newRebuilder(s *system, binDir string) *rebuilder {
	return &rebuilder{p: s.helper("projector-service (rebuild)", filepath.Join(binDir, projector), "projector-rebuild.log",
		"rebuild", "-grace", "1s", "-eventstore", "esdb://"+s.eventStoreAddr+"?tls=false", "-readmodel", "sqlite:"+s.readModelPath)}
}

// start begins a rebuild unless one is running.
func (r *rebuilder) start() (bool, error) {
	if r.p.running() {
		return false, nil
	}
	r.collect()
	if err := r.p.start(); err != nil {
		return false, err
	}
	r.started++
	return true, nil
}

// collect records how the last rebuild ended, once.
func (r *rebuilder) collect() {
	if r.started == r.ended || r.p.running() {
		return
	}
	r.ended++
	r.p.mu.Lock()
	err := r.p.exitErr
	r.p.mu.Unlock()
	if err != nil {
		r.failures = append(r.failures, fmt.Sprintf("rebuild #%d: %v; last log line: %s", r.ended, err, lastLine(r.p.logPath)))
	}
}

// finish waits (bounded) for a running rebuild, then collects it.
func (r *rebuilder) finish(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r.p.mu.Lock()
	exited := r.p.exited
	r.p.mu.Unlock()
	if exited != nil {
		select {
		case <-exited:
		case <-ctx.Done():
			_ = r.p.stop()
			return fmt.Errorf("a rebuild still ran after %v; stopped (log %s)", timeout, r.p.logPath)
		}
	}
	r.collect()
	return nil
}
