// Package health tells whether a process is alive and whether it is ready,
// the same way for every process.
//
// Liveness is the process answering at all: GET /healthz answers 200 while
// the HTTP server runs. It never looks at a dependency, so an orchestrator
// restarts a process that is wedged, not one whose database is down (a
// restart would not bring the database back).
//
// Readiness is whether the process can do its work now: every named check
// (a cheap, bounded call to a dependency: "eventstore", "readmodel", or a
// look at a state the process keeps, "subscription") passed on its last
// run. Checks run in the background, every Config.Interval, each under
// Config.Timeout; probes read the last results, so a probe costs nothing
// and a hung dependency cannot hang it. GET /readyz answers 200 or 503 with
// each check's last result; the gRPC health service of platform/apiserver
// follows the same Readiness (Subscribe). Readiness goes false for good
// when Shutdown is called, at the start of a process's shutdown.
//
// A check that reads a state the process keeps is a closure over it:
//
//	var live atomic.Bool // set by the subscription once it is live
//	health.Check{Name: "subscription", Func: func(context.Context) error {
//		if !live.Load() {
//			return errors.New("not live: catching up or reconnecting")
//		}
//		return nil
//	}}
package health

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Config.
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = time.Second
)

// Check is one named condition of readiness. Func returns nil when the
// dependency answers; it is given a context that ends after Config.Timeout
// and should return when it does.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Config tunes a Readiness; zero fields take the defaults.
type Config struct {
	// Interval is how often the checks run (default DefaultInterval): how
	// long a change may take to show.
	Interval time.Duration
	// Timeout bounds one run of a check (default DefaultTimeout); a check
	// that has not answered by then fails.
	Timeout time.Duration
	// Logger receives a record each time a check starts failing or passes
	// again (default slog.Default()).
	Logger *slog.Logger
}

// Report values of Report.Status.
const (
	StatusReady        = "ready"
	StatusNotReady     = "not ready"
	StatusShuttingDown = "shutting down"
)

// Report is the readiness at one moment, as GET /readyz shows it.
type Report struct {
	Status string        `json:"status"` // StatusReady, StatusNotReady or StatusShuttingDown
	Checks []CheckReport `json:"checks"`
}

// Ready tells whether r says ready.
func (r Report) Ready() bool { return r.Status == StatusReady }

// CheckReport is a check's last result.
type CheckReport struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Since is when the check last went from passing to failing or back
	// (or first ran): how long an outage has lasted.
	Since time.Time `json:"since"`
}

// Readiness runs the checks of one process and keeps their last results.
type Readiness struct {
	interval, timeout time.Duration
	logger            *slog.Logger
	checks            []Check
	// busy[i] is set while check i runs. A run that outlives its timeout is
	// abandoned but not started again until it returns, so a dependency
	// that hangs its caller costs one goroutine, not one more every round.
	busy []atomic.Bool

	mu        sync.Mutex
	results   []CheckReport
	ready     bool
	stopping  bool
	listeners map[int]func(ready bool)
	nextID    int

	stop     chan struct{}
	stopOnce sync.Once
}

// Start runs every check once (so a process is never ready before its
// checks have passed; this takes at most cfg.Timeout), then every
// cfg.Interval in the background until Shutdown. With no checks the
// process is ready until Shutdown.
func Start(cfg Config, checks ...Check) (*Readiness, error) {
	seen := map[string]bool{}
	for _, c := range checks {
		switch {
		case c.Name == "" || c.Func == nil:
			return nil, fmt.Errorf("health: check %q needs a name and a Func", c.Name)
		case seen[c.Name]:
			return nil, fmt.Errorf("health: two checks named %q", c.Name)
		}
		seen[c.Name] = true
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Readiness{
		interval: cfg.Interval, timeout: cfg.Timeout, logger: cfg.Logger,
		checks:    slices.Clone(checks),
		busy:      make([]atomic.Bool, len(checks)),
		results:   make([]CheckReport, len(checks)),
		ready:     len(checks) == 0,
		listeners: map[int]func(bool){},
		stop:      make(chan struct{}),
	}
	for i, c := range checks {
		r.results[i].Name = c.Name
	}
	if len(checks) > 0 {
		r.round()
		go r.loop()
	}
	return r, nil
}

// Ready tells whether every check passed on its last run and Shutdown has
// not been called.
func (r *Readiness) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// Report is the checks' last results, in the order they were given.
func (r *Readiness) Report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := Report{Status: StatusNotReady, Checks: append([]CheckReport{}, r.results...)}
	switch {
	case r.stopping:
		rep.Status = StatusShuttingDown
	case r.ready:
		rep.Status = StatusReady
	}
	return rep
}

// Subscribe calls f with the readiness now, then each time it changes,
// until the returned function is called. f runs while the Readiness is
// locked, so calls come in the order of the changes, and whoever f tells
// of a change finds Ready and Report already saying so; f must be quick
// and must not call back into the Readiness.
func (r *Readiness) Subscribe(f func(ready bool)) (unsubscribe func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.nextID
	r.nextID++
	r.listeners[id] = f
	f(r.ready)
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		delete(r.listeners, id)
	}
}

// Shutdown makes the process not ready for good (a load balancer stops
// sending it work while it finishes what it has) and stops the checks.
// Calling it again does nothing.
func (r *Readiness) Shutdown() {
	r.stopOnce.Do(func() {
		close(r.stop)
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stopping = true
		r.update()
	})
}

func (r *Readiness) loop() {
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-ticker.C:
			r.round()
		}
	}
}

// round runs every check at once and records the results; it returns
// within the timeout whatever the checks do.
func (r *Readiness) round() {
	errs := make([]error, len(r.checks))
	var wg sync.WaitGroup
	for i := range r.checks {
		wg.Go(func() { errs[i] = r.run(i) })
	}
	wg.Wait()
	r.record(errs)
}

func (r *Readiness) run(i int) error {
	if !r.busy[i].CompareAndSwap(false, true) {
		return fmt.Errorf("an earlier run has not returned yet (timeout %v)", r.timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	done := make(chan error, 1)
	go func() {
		defer r.busy[i].Store(false)
		defer cancel()
		done <- call(ctx, r.checks[i].Func)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-done: // it answered as its context ended
			return err
		default:
			return fmt.Errorf("no answer within %v", r.timeout)
		}
	}
}

// call turns a panicking check into a failing one: a bug in a check should
// show in /readyz, not stop the process.
func call(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("check panicked: %v", p)
		}
	}()
	return f(ctx)
}

func (r *Readiness) record(errs []error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, err := range errs {
		res := &r.results[i]
		first := res.Since.IsZero()
		if first || res.OK != (err == nil) {
			res.Since = now
			switch {
			case err != nil:
				r.logger.Warn("health: check failing", "check", res.Name, "error", err)
			case !first:
				r.logger.Info("health: check passing again", "check", res.Name)
			}
		}
		res.OK, res.Error = err == nil, ""
		if err != nil {
			res.Error = err.Error()
		}
	}
	r.update()
}

// update recomputes readiness and tells the listeners if it changed; r.mu
// is held.
func (r *Readiness) update() {
	ready := !r.stopping
	for _, res := range r.results {
		ready = ready && res.OK
	}
	if ready == r.ready {
		return
	}
	r.ready = ready
	for _, f := range r.listeners {
		f(ready)
	}
}
