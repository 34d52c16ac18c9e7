// Package poll waits in tests for what happens asynchronously: a
// condition polled until it holds or a deadline passes, never a sleep that
// merely hopes.
package poll

import (
	"testing"
	"time"
)

// Until checks cond every interval until it holds, and fails the test with
// cond's last explanation once timeout has passed (or the test has ended).
func Until(t testing.TB, timeout, interval time.Duration, cond func() (ok bool, why string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, why)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting: %s", why)
		case <-tick.C:
		}
	}
}
