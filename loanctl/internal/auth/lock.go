package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// lockPollInterval is how often a loanctl waiting for the cache's lock
// tries again.
const lockPollInterval = 20 * time.Millisecond

// lockCache takes the lock of the cache file at path (path + ".lock", held
// with the system's advisory file lock, which ends with the process), waiting
// until ctx ends for another loanctl to release it. The lock file is kept:
// removing it would let two processes lock two different files. Where the
// system has no such lock, loanctl goes on without one.
func lockCache(ctx context.Context, path string) (unlock func(), err error) {
	lockPath := path + ".lock"
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o700); err != nil {
		return nil, fmt.Errorf("token cache lock: %w", err)
	}
	l := flock.New(lockPath, flock.SetPermissions(0o600))
	ok, err := l.TryLockContext(ctx, lockPollInterval)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return func() {}, nil
	case ctx.Err() != nil:
		return nil, fmt.Errorf("waiting for another loanctl to finish with the token cache (%s): %w", lockPath, context.Cause(ctx))
	case err != nil:
		return nil, fmt.Errorf("token cache lock %s: %w", lockPath, err)
	case !ok:
		return nil, fmt.Errorf("token cache lock %s: not taken", lockPath)
	}
	return func() { _ = l.Close() }, nil // closing the file releases the lock
}
