package tuning_test

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/loanflow/loans/projector-service/internal/tuning"
)

func TestApply(t *testing.T) {
	gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	t.Run("DefaultsUnlessTheRuntimeVariablesAreSet", func(t *testing.T) {
		restore := tuning.Apply("", "", tuning.MemoryLimit)
		if got := debug.SetGCPercent(-1); got != tuning.GCPercent {
			t.Errorf("GOGC %d, want %d", got, tuning.GCPercent)
		}
		debug.SetGCPercent(tuning.GCPercent)
		if got := debug.SetMemoryLimit(-1); got != tuning.MemoryLimit {
			t.Errorf("memory limit %d, want %d", got, tuning.MemoryLimit)
		}
		restore()
		if got := debug.SetMemoryLimit(-1); got != limit {
			t.Errorf("memory limit %d after restore, want %d", got, limit)
		}
	})
	t.Run("EnvironmentWins", func(t *testing.T) {
		restore := tuning.Apply("250", "1GiB", tuning.MemoryLimit)
		defer restore()
		if got := debug.SetMemoryLimit(-1); got != limit {
			t.Errorf("memory limit %d with GOMEMLIMIT set, want it left at %d", got, limit)
		}
		if got := debug.SetGCPercent(-1); got != gc {
			t.Errorf("GOGC %d with GOGC set, want it left at %d", got, gc)
		}
		debug.SetGCPercent(gc)
	})
	t.Run("ZeroIsNoLimit", func(t *testing.T) {
		defer tuning.Apply("x", "", 0)()
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Errorf("memory limit %d with 0 asked, want none (%d)", got, int64(math.MaxInt64))
		}
	})
}
