package health_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/health"
)

// waitFor bounds every wait of these tests.
const waitFor = 10 * time.Second

// switchable is a check whose answer the test sets.
type switchable struct{ err atomic.Pointer[error] }

func (s *switchable) set(err error) { s.err.Store(&err) }

func (s *switchable) check(context.Context) error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs checks every interval until the test ends.
func start(t *testing.T, interval, timeout time.Duration, checks ...health.Check) *health.Readiness {
	t.Helper()
	r, err := health.Start(health.Config{Interval: interval, Timeout: timeout, Logger: discard()}, checks...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Shutdown)
	return r
}

// changes delivers every change of r's readiness (the first value is the
// readiness when it is called).
func changes(t *testing.T, r *health.Readiness) <-chan bool {
	ch := make(chan bool, 100)
	t.Cleanup(r.Subscribe(func(ready bool) { ch <- ready }))
	return ch
}

func next(t *testing.T, ch <-chan bool, want bool) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("readiness went to %v; want %v", got, want)
		}
	case <-time.After(waitFor):
		t.Fatalf("readiness never went to %v", want)
	}
}

// eventually waits until cond holds, looking every few milliseconds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitFor)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("the condition never held")
		}
	}
}

func check(r *health.Readiness, name string) health.CheckReport {
	for _, c := range r.Report().Checks {
		if c.Name == name {
			return c
		}
	}
	return health.CheckReport{}
}

func TestStart_Refusals(t *testing.T) {
	ok := func(context.Context) error { return nil }
	for name, checks := range map[string][]health.Check{
		"NoName":    {{Func: ok}},
		"NoFunc":    {{Name: "readmodel"}},
		"SameNames": {{Name: "readmodel", Func: ok}, {Name: "readmodel", Func: ok}},
	} {
		t.Run(name, func(t *testing.T) {
			if r, err := health.Start(health.Config{}, checks...); err == nil {
				r.Shutdown()
				t.Fatal("no error")
			}
		})
	}
}

func TestReadiness_FollowsItsChecks(t *testing.T) {
	store, stream := &switchable{}, &switchable{}
	r := start(t, 5*time.Millisecond, time.Second, health.Check{Name: "readmodel", Func: store.check}, health.Check{Name: "subscription", Func: stream.check})

	t.Run("ReadyOnceStartReturns", func(t *testing.T) {
		if rep := r.Report(); !r.Ready() || rep.Status != health.StatusReady || len(rep.Checks) != 2 || !rep.Checks[0].OK || rep.Checks[0].Since.IsZero() {
			t.Fatalf("report %+v; want ready with both checks passing", rep)
		}
	})
	ch := changes(t, r)
	next(t, ch, true)
	since := check(r, "readmodel").Since

	t.Run("OneFailingCheckIsEnough", func(t *testing.T) {
		store.set(errors.New("connection refused"))
		next(t, ch, false)
		rep := r.Report()
		if rep.Ready() || rep.Status != health.StatusNotReady {
			t.Fatalf("report %+v; want not ready", rep)
		}
		if c := check(r, "readmodel"); c.OK || c.Error != "connection refused" || !c.Since.After(since) {
			t.Errorf("readmodel %+v; want failing with its error, since it failed", c)
		}
		if c := check(r, "subscription"); !c.OK || c.Error != "" {
			t.Errorf("subscription %+v; want passing", c)
		}
	})
	t.Run("ReadyAgainOnceItPasses", func(t *testing.T) {
		store.set(nil)
		next(t, ch, true)
		if c := check(r, "readmodel"); !c.OK || c.Error != "" {
			t.Errorf("readmodel %+v; want passing", c)
		}
	})
	t.Run("ShutdownIsNotReadyForGood", func(t *testing.T) {
		r.Shutdown()
		next(t, ch, false)
		if rep := r.Report(); rep.Status != health.StatusShuttingDown || rep.Ready() {
			t.Fatalf("report %+v; want shutting down", rep)
		}
		r.Shutdown() // again: nothing
		if r.Ready() {
			t.Error("ready after Shutdown")
		}
	})
}

func TestReadiness_NoChecksIsReadyUntilShutdown(t *testing.T) {
	r, err := health.Start(health.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if rep := r.Report(); !rep.Ready() || len(rep.Checks) != 0 {
		t.Fatalf("report %+v; want ready", rep)
	}
	r.Shutdown()
	if r.Ready() {
		t.Error("ready after Shutdown")
	}
}

// TestReadiness_HungCheck: a dependency that hangs its caller, ignoring
// the context, fails the check at the timeout; the report is answered at
// once meanwhile, and the hung call is not started again on every round.
func TestReadiness_HungCheck(t *testing.T) {
	release := make(chan struct{})
	var hang atomic.Bool
	var calls atomic.Int32
	hung := func(context.Context) error {
		calls.Add(1)
		if hang.Load() {
			<-release // deaf to its context
		}
		return nil
	}
	// Rounds a second apart: the report read just after the first failure
	// is that failure's.
	r := start(t, time.Second, 50*time.Millisecond, health.Check{Name: "eventstore", Func: hung})
	t.Cleanup(func() { close(release) })
	ch := changes(t, r)
	next(t, ch, true)

	hang.Store(true)
	next(t, ch, false)
	began := time.Now()
	rep := r.Report()
	if took := time.Since(began); took > 100*time.Millisecond {
		t.Errorf("the report took %v while a check hung", took)
	}
	if c := rep.Checks[0]; c.OK || !strings.Contains(c.Error, "no answer within 50ms") {
		t.Errorf("eventstore %+v; want failing for want of an answer", c)
	}
	// The next round finds the call still hanging and starts no other.
	hungSince := calls.Load()
	eventually(t, func() bool { return strings.Contains(check(r, "eventstore").Error, "has not returned") })
	if got := calls.Load(); got != hungSince {
		t.Errorf("the hung check was started %d more times while it hung", got-hungSince)
	}
}

func TestReadiness_PanickingCheckFails(t *testing.T) {
	r := start(t, time.Hour, time.Second, health.Check{Name: "readmodel", Func: func(context.Context) error { panic("nil store") }})
	if c := check(r, "readmodel"); r.Ready() || c.OK || !strings.Contains(c.Error, "nil store") {
		t.Fatalf("readmodel %+v; want failing with the panic", c)
	}
}
