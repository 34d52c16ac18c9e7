// Package backoff is the waiting between two tries of something that
// failed for a passing reason: a wait that ends early when its context
// does, and jitter, so that many clients cut off at once do not come back
// at once.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Sleep waits d, or less if ctx ends first; it tells whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Jitter is d give or take a fifth.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return d
	}
	return d - d/5 + rand.N(2*d/5+1)
}
