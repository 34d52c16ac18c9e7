// Command chaos runs the whole system as `make run` does, five processes on
// loopback ports and a fresh data folder, drives simulated users through
// full loan lifecycles, and round after round SIGKILLs a random process (the
// event store and the identity provider included; sometimes two at once) and
// restarts it on the same data and ports. Then it stops the load, lets the
// system settle, and checks from the event store and the query service that
// nothing acknowledged was lost or duplicated, that the process managers did
// their work, that nothing is parked, and that the read model equals a fresh
// replay of the store. The last line it prints is
//
//	chaos: R rounds, K kills, A acknowledged commands, L lost, D duplicated, read model equals replay: yes
//
// and it exits 0 only if every check passed. docs/RELIABILITY.md says what
// this covers and what it does not.
//
//	go run ./chaos/cmd/chaos -bin .bin -rounds 10
//
// Flags (CHAOS_ROUNDS and CHAOS_SEED stand in for -rounds and -seed):
//
//	-rounds 100     kill rounds
//	-round 2s       length of a round; the kill falls at a random moment in it
//	-users 6        simulated users acting at once
//	-double 0.25    share of rounds that kill two processes at once
//	-rebuild 0.1    share of rounds that also start `projector-service rebuild` (one at a time)
//	-max-down 3s    longest a killed process stays down before its restart
//	-victims LIST   the processes that may be killed (default all five: eventstore,identity,command-service,projector-service,query-service)
//	-seed N         the seed of the kill schedule and the users' choices (printed; 0: from the clock)
//	-bin DIR        the binaries (make build puts them in .bin); empty: build them into the run folder
//	-dir DIR        the run folder (data, logs); empty: a new temporary folder
//	-keep           keep the run folder even when every check passed
//	-settle 60s     how long the system may take to come to rest after the load
//	-think 20ms     a user's pause between two lifecycles
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/readmodel"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type config struct {
	rounds, users             int
	round, maxDown, settle    time.Duration
	double, rebuild           float64
	victims                   []string
	seed                      uint64
	bin, dir                  string
	keep                      bool
	think                     time.Duration
	stdout, stderr            io.Writer
	seedFromClock, dirCreated bool
}

// Main runs the chaos suite and returns the exit code: 0 every check
// passed, 1 something failed, 2 usage.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := config{stdout: stdout, stderr: stderr}
	fs.IntVar(&cfg.rounds, "rounds", envInt("CHAOS_ROUNDS", 100), "kill rounds (CHAOS_ROUNDS)")
	fs.DurationVar(&cfg.round, "round", 2*time.Second, "length of a round; the kill falls at a random moment in it")
	fs.IntVar(&cfg.users, "users", 6, "simulated users acting at once")
	fs.Float64Var(&cfg.double, "double", 0.25, "share of rounds that kill two processes at once")
	fs.Float64Var(&cfg.rebuild, "rebuild", 0.1, "share of rounds that also start a rebuild (projector-service rebuild) of the live read model, one at a time")
	fs.DurationVar(&cfg.maxDown, "max-down", 3*time.Second, "longest a killed process stays down before it is restarted")
	fs.Uint64Var(&cfg.seed, "seed", uint64(envInt("CHAOS_SEED", 0)), "seed of the kill schedule and the users' choices; 0: from the clock (CHAOS_SEED)")
	victims := fs.String("victims", strings.Join(processNames, ","), "the processes that may be killed, comma-separated (to chase one fault)")
	fs.StringVar(&cfg.bin, "bin", "", "folder with the binaries (make build: .bin); empty: build them")
	fs.StringVar(&cfg.dir, "dir", "", "run folder for data and logs; empty: a new temporary folder")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the run folder even when every check passed")
	fs.DurationVar(&cfg.settle, "settle", 60*time.Second, "how long the system may take to come to rest after the load")
	fs.DurationVar(&cfg.think, "think", 20*time.Millisecond, "pause of a user between two lifecycles")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if cfg.rounds < 0 || cfg.users < 1 || cfg.round <= 0 || cfg.maxDown < 0 || cfg.double < 0 || cfg.double > 1 ||
		cfg.rebuild < 0 || cfg.rebuild > 1 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "chaos: want -rounds >= 0, -users >= 1, -round > 0, -max-down >= 0, -double and -rebuild from 0 to 1, and no arguments")
		return 2
	}
	for _, v := range strings.Split(*victims, ",") {
		if v = strings.TrimSpace(v); !slices.Contains(processNames, v) {
			fmt.Fprintf(stderr, "chaos: -victims: %q is none of %v\n", v, processNames)
			return 2
		}
		if !slices.Contains(cfg.victims, v) {
			cfg.victims = append(cfg.victims, v)
		}
	}
	if cfg.seed == 0 {
		cfg.seed, cfg.seedFromClock = uint64(time.Now().UnixNano()), true
	}
	code, err := run(ctx, &cfg)
	if err != nil {
		fmt.Fprintf(stdout, "chaos: could not finish: %v\n", err)
		fmt.Fprintf(stdout, "chaos: seed %d; logs kept in %s\n", cfg.seed, cfg.dir)
		return 1
	}
	return code
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// timings are the phases' durations, for the report.
type timings []struct {
	phase string
	took  time.Duration
}

func (t *timings) since(phase string, start time.Time) {
	*t = append(*t, struct {
		phase string
		took  time.Duration
	}{phase, time.Since(start).Round(100 * time.Millisecond)})
}

func run(ctx context.Context, cfg *config) (int, error) {
	out := cfg.stdout
	if cfg.dir == "" {
		dir, err := os.MkdirTemp("", "chaos-")
		if err != nil {
			return 1, err
		}
		cfg.dir, cfg.dirCreated = dir, true
	}
	fmt.Fprintf(out, "chaos: seed %d (reproduce with -seed %d or CHAOS_SEED=%d), %d rounds of %v, %d users, run folder %s\n",
		cfg.seed, cfg.seed, cfg.seed, cfg.rounds, cfg.round, cfg.users, cfg.dir)
	var took timings

	start := time.Now()
	if cfg.bin == "" {
		root, err := repoRoot()
		if err != nil {
			return 1, err
		}
		cfg.bin = filepath.Join(cfg.dir, "bin")
		if err := build(ctx, root, cfg.bin); err != nil {
			return 1, err
		}
		took.since("build", start)
	}

	start = time.Now()
	sys, err := newSystem(cfg.bin, cfg.dir)
	if err != nil {
		return 1, err
	}
	defer sys.stopAll()
	if err := sys.startAll(ctx); err != nil {
		return 1, err
	}
	took.since("start", start)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go sys.sampleRSSUntil(sampleCtx, 250*time.Millisecond)
	// The read model as the query service reads it, watched all along.
	live, err := openReadModel(ctx, sys.readModelPath)
	if err != nil {
		return 1, err
	}
	defer live.Close()
	watch := &positionWatch{}
	go watch.run(sampleCtx, live, 50*time.Millisecond)
	rebuilds := newRebuilder(sys, cfg.bin)

	// The load.
	led := &ledger{}
	newClient := func() *client {
		return &client{commands: loansv1.NewLoanCommandServiceClient(sys.cmdConn), queries: loansv1.NewLoanQueryServiceClient(sys.qryConn),
			issuerURL: sys.issuerURL, http: &http.Client{}, ledger: led, think: cfg.think}
	}
	load := newClient()
	usersCtx, cancelUsers := context.WithCancel(ctx)
	defer cancelUsers()
	waitUsers := startUsers(usersCtx, load, cfg.users, cfg.seed)

	// The faults.
	start = time.Now()
	rounds, runErr := chaosRounds(ctx, cfg, sys, rebuilds)
	took.since(fmt.Sprintf("%d rounds", rounds), start)

	// Stop the load: no new command; those in flight finish their retries
	// against a system whole again.
	start = time.Now()
	load.stopping.Store(true)
	if runErr == nil {
		if restarted, err := sys.restartDown(ctx); err != nil {
			runErr = err
		} else if len(restarted) > 0 {
			fmt.Fprintf(out, "chaos: restarted %v after the last round\n", restarted)
		}
	}
	drained := make(chan struct{})
	go func() { waitUsers(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(commandBudget + readBudget + 30*time.Second):
		cancelUsers()
		<-drained
		fmt.Fprintln(out, "chaos: users did not finish their commands in time; cancelled")
	}
	if runErr == nil {
		runErr = rebuilds.finish(ctx, 3*time.Minute)
	}
	took.since("drain", start)
	if runErr != nil {
		return 1, runErr
	}
	if ctx.Err() != nil {
		return 1, ctx.Err()
	}

	f := &findings{}
	t := &tally{}
	equal, err := checkAll(ctx, cfg, sys, live, led, newClient(), f, t, &took)
	if err != nil {
		return 1, err
	}
	stopSampling()
	watch.check(f)
	for _, r := range rebuilds.failures {
		f.note("%s", r)
	}
	if rebuilds.started > 0 {
		f.note("%d rebuilds ran during the load (log %s)", rebuilds.started, rebuilds.p.logPath)
	}
	sys.stopAll()
	kills := 0
	for _, name := range processNames {
		kills += sys.procs[name].kills
	}
	return report(cfg, sys, led, f, t, equal, rounds, kills, took), nil
}

// chaosRounds kills and restarts processes round after round. Each round's
// choices (victims, moment, downtime, a rebuild) are drawn from the seed
// before the round starts, so a seed replays the same schedule (not the
// same interleaving: the processes and users run on their own time).
func chaosRounds(ctx context.Context, cfg *config, sys *system, rebuilds *rebuilder) (rounds int, err error) {
	rng := rand.New(rand.NewPCG(cfg.seed, 0))
	for round := 1; round <= cfg.rounds; round++ {
		start := time.Now()
		at := time.Duration(rng.Int64N(int64(cfg.round)))
		victims := []string{cfg.victims[rng.IntN(len(cfg.victims))]}
		if rng.Float64() < cfg.double && len(cfg.victims) > 1 {
			others := slices.DeleteFunc(slices.Clone(cfg.victims), func(n string) bool { return n == victims[0] })
			victims = append(victims, others[rng.IntN(len(others))])
		}
		down := time.Duration(rng.Int64N(int64(cfg.maxDown) + 1))
		rebuild := ""
		if rng.Float64() < cfg.rebuild {
			started, err := rebuilds.start()
			if err != nil {
				return rounds, err
			}
			if rebuild = ", rebuild already running"; started {
				rebuild = fmt.Sprintf(", rebuild #%d started", rebuilds.started)
			}
		}
		if !wait(ctx, at) {
			return rounds, ctx.Err()
		}
		for _, v := range victims {
			if err := sys.procs[v].kill(); err != nil {
				return rounds, err
			}
		}
		if !wait(ctx, down) {
			return rounds, ctx.Err()
		}
		upStart := time.Now()
		restarted, err := sys.restartDown(ctx)
		if err != nil {
			return rounds, fmt.Errorf("round %d: restart: %w", round, err)
		}
		rounds = round
		fmt.Fprintf(cfg.stdout, "round %d/%d: killed %s at +%v, down %v, restarted %s, ready in %v%s\n", round, cfg.rounds,
			strings.Join(victims, " and "), at.Round(time.Millisecond), down.Round(time.Millisecond),
			strings.Join(restarted, ", "), time.Since(upStart).Round(time.Millisecond), rebuild)
		if !wait(ctx, time.Until(start.Add(cfg.round))) {
			return rounds, ctx.Err()
		}
	}
	return rounds, nil
}

// wait is the driver's pacing: d, or until ctx ends.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// checkAll lets the system settle, then runs every check. It returns
// whether the read model equals the replay.
func checkAll(ctx context.Context, cfg *config, sys *system, live readmodel.Store, led *ledger, c *client, f *findings, t *tally, took *timings) (bool, error) {
	start := time.Now()
	// Not closed: closing the official client while a call may be inside
	// it races (a call bounded by its context may still be running).
	es, err := dialEventStore(sys.eventStoreAddr)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(cfg.stdout, "chaos: load stopped; waiting (at most %v) for the process managers and the read model to settle\n", cfg.settle)
	view, why, err := settle(ctx, es, live, cfg.settle)
	if err != nil {
		return false, err
	}
	if why != "" {
		f.fail("the system did not settle", "%s", why)
	}
	if pos, err := live.Position(ctx); err != nil {
		f.fail("the read model stopped short of the store", "cannot read its position: %v", err)
	} else {
		if pos < view.lastLoan {
			f.fail("the read model stopped short of the store", "checkpoint %d, last loan event %d; the projector's last log line: %s",
				pos, view.lastLoan, lastLine(sys.procs[projector].logPath))
		}
		for _, e := range view.events {
			if e.Position > pos {
				f.fail("the read model stopped short of the store", "not projected: %s", e)
			}
		}
	}
	took.since("settle", start)

	start = time.Now()
	checkCommands(led, view, f, t)
	checkFollowUps(view, f, t)
	checkDuplicates(led, view, f, t)
	checkReads(led, f)

	u := &user{client: c, rng: rand.New(rand.NewPCG(cfg.seed, 0))}
	ops, ok := u.login(ctx, "omar")
	if !ok {
		return false, fmt.Errorf("cannot log in as omar (ops) for the query checks: %v", led.loginErr)
	}
	checkQueryService(ctx, c.queries, ops.access, view, f)
	took.since("checks", start)

	// The replay: a second projector, the same binary, from the start of
	// $all into a fresh SQLite file, until it reaches the last loan event.
	// Running the real `projector-service run` (rather than calling its
	// packages, which are internal to its module) replays exactly what a
	// rebuild would, and the comparison goes through the same read-model
	// adapter the query service reads with.
	start = time.Now()
	fmt.Fprintf(cfg.stdout, "chaos: %d loan events in the store; replaying them into a fresh read model\n", len(view.events))
	replayPath := filepath.Join(cfg.dir, "replay.db")
	rp := sys.helper("projector-service (replay)", filepath.Join(cfg.bin, projector), "projector-replay.log",
		"run", "-eventstore", "esdb://"+sys.eventStoreAddr+"?tls=false", "-readmodel", "sqlite:"+replayPath)
	if err := rp.start(); err != nil {
		return false, err
	}
	caughtUp := waitReplay(ctx, rp, replayPath, view.lastLoan, 2*time.Minute)
	if err := rp.stop(); err != nil {
		f.fail("replay", "%v", err)
	}
	if caughtUp != nil {
		f.fail("replay", "%v (log %s)", caughtUp, rp.logPath)
	}
	replay, err := openReadModel(ctx, replayPath)
	if err != nil {
		return false, err
	}
	defer replay.Close()
	checkParked(ctx, view, map[string]readmodel.Writer{"live": live, "replay": replay}, f)
	diffs, err := compareReadModels(ctx, live, replay, view)
	if err != nil {
		return false, err
	}
	for _, d := range diffs {
		f.fail("the read model differs from the replay", "%s", d)
	}
	took.since("replay and compare", start)
	return len(diffs) == 0 && caughtUp == nil, nil
}

// waitReplay polls the replay's read model until its checkpoint reaches
// target, the projector exits, or the timeout.
func waitReplay(ctx context.Context, rp *proc, path string, target uint64, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var store interface {
		Position(context.Context) (uint64, error)
		Close() error
	}
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	var pos uint64
	for {
		if !rp.running() {
			return fmt.Errorf("the replay projector exited: %s", lastLine(rp.logPath))
		}
		if store == nil {
			if _, err := os.Stat(path); err == nil {
				if s, err := openReadModel(ctx, path); err == nil {
					store = s
				}
			}
		}
		if store != nil {
			if p, err := store.Position(ctx); err == nil {
				pos = p
				if p >= target {
					return nil
				}
			}
		}
		if !wait(ctx, 200*time.Millisecond) {
			return fmt.Errorf("the replay reached position %d of %d within %v", pos, target, timeout)
		}
	}
}

// report prints what differed, the seed, the processes' peak memory and the
// timings, then the final line; it returns the exit code.
func report(cfg *config, sys *system, led *ledger, f *findings, t *tally, equal bool, rounds, kills int, took timings) int {
	out := cfg.stdout
	ok := !f.failed() && t.lost == 0 && t.duplicated == 0 && equal
	var acked, refusedN, unknownN int
	reasons := map[string]int{}
	for _, r := range led.commands {
		switch r.Outcome {
		case acknowledged:
			acked++
		case refused:
			refusedN++
			reasons[r.Code.String()+" "+r.Reason]++
		case unknown:
			unknownN++
		}
	}
	fmt.Fprintf(out, "\nchaos: %d lifecycles, %d commands sent (%d acknowledged, %d refused, %d outcome unknown), %d logins, %d reads with a consistency token\n",
		led.lives.Load(), len(led.commands), acked, refusedN, unknownN, led.logins, len(led.reads))
	if len(reasons) > 0 {
		var rs []string
		for r, n := range reasons {
			rs = append(rs, fmt.Sprintf("%s x%d", r, n))
		}
		slices.Sort(rs)
		fmt.Fprintf(out, "refusals: %s\n", strings.Join(rs, ", "))
	}
	const firstFew = 8
	for _, check := range f.order {
		details := f.details[check]
		fmt.Fprintf(out, "FAILED %s (%d):\n", check, len(details))
		for i, d := range details {
			if i == firstFew {
				fmt.Fprintf(out, "  ... and %d more\n", len(details)-firstFew)
				break
			}
			fmt.Fprintf(out, "  %s\n", d)
		}
	}
	for i, n := range f.notes {
		if i == firstFew {
			fmt.Fprintf(out, "note: ... and %d more notes\n", len(f.notes)-firstFew)
			break
		}
		fmt.Fprintf(out, "note: %s\n", n)
	}
	fmt.Fprintln(out, "max RSS (VmHWM, across restarts):")
	for _, p := range sys.all() {
		if p.starts == 0 {
			continue
		}
		fmt.Fprintf(out, "  %-28s %7.1f MB  (%d starts, %d kills)\n", p.name, float64(p.maxHWMkB)/1024, p.starts, p.kills)
		for _, c := range p.crashes {
			fmt.Fprintf(out, "  note: %s\n", c)
		}
	}
	var phases []string
	for _, p := range took {
		phases = append(phases, fmt.Sprintf("%s %v", p.phase, p.took))
	}
	fmt.Fprintf(out, "timings: %s\n", strings.Join(phases, ", "))
	if ok && cfg.dirCreated && !cfg.keep {
		os.RemoveAll(cfg.dir)
	} else {
		fmt.Fprintf(out, "logs: %s\n", strings.Join(logPaths(sys), " "))
	}
	fmt.Fprintf(out, "seed: %d\n", cfg.seed)
	word := "no"
	if equal {
		word = "yes"
	}
	fmt.Fprintf(out, "chaos: %d rounds, %d kills, %d acknowledged commands, %d lost, %d duplicated, read model equals replay: %s\n",
		rounds, kills, t.acknowledged, t.lost, t.duplicated, word)
	if ok {
		return 0
	}
	return 1
}

func logPaths(sys *system) []string {
	var paths []string
	for _, p := range sys.all() {
		if p.starts > 0 && !slices.Contains(paths, p.logPath) {
			paths = append(paths, p.logPath)
		}
	}
	return paths
}
