package backoff_test

import (
	"context"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/backoff"
)

func TestSleep(t *testing.T) {
	t.Run("WaitsTheDuration", func(t *testing.T) {
		start := time.Now()
		if !backoff.Sleep(t.Context(), 20*time.Millisecond) {
			t.Fatal("Sleep with a live context reported it was cut short")
		}
		if waited := time.Since(start); waited < 20*time.Millisecond {
			t.Errorf("Sleep(20ms) returned after %v", waited)
		}
	})
	t.Run("EndsWithItsContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if backoff.Sleep(ctx, time.Hour) {
			t.Error("Sleep with an ended context reported the hour passed")
		}
	})
}

func TestJitter(t *testing.T) {
	const d = time.Second
	seen := map[bool]int{}
	for range 1000 {
		j := backoff.Jitter(d)
		if j < d-d/5 || j > d+d/5 {
			t.Fatalf("Jitter(%v) = %v, outside ±20%%", d, j)
		}
		seen[j < d]++
	}
	if seen[true] == 0 || seen[false] == 0 {
		t.Errorf("Jitter(%v) fell on one side only in 1000 draws: %v", d, seen)
	}
	if backoff.Jitter(0) != 0 || backoff.Jitter(-time.Second) != -time.Second {
		t.Error("Jitter of a non-positive duration changed it")
	}
}
