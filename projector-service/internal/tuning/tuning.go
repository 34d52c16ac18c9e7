// Package tuning holds the Go runtime settings the projector runs with, so
// that the service and its benchmark (which measures the projector in a
// process of its own) run it the same way.
//
// The projector's memory while it catches up is a batch being written and
// the next one decoded meanwhile (tens of MB live), plus SQLite's page
// cache (outside the Go heap). The service used to run with GOGC=400, to
// spend less CPU collecting, and reached about 740 MB at its peak over a
// million events. With Go's default GOGC=100 and a smaller SQLite writer
// cache its peak stays under 256 MB, and the catch-up rate did not move
// beyond the machine's noise (docs/BENCHMARKS.md): on two cores the
// collector costs a few percent of one.
package tuning

import (
	"math"
	"runtime/debug"
)

// GCPercent is the GOGC the projector runs with unless GOGC is set.
const GCPercent = 100

// MemoryLimit is the default soft limit of the Go runtime's memory (heap,
// stacks, runtime structures; not SQLite's cache), unless GOMEMLIMIT is
// set: above the heap's usual peak, so it costs nothing in the common case,
// and low enough that with SQLite's cache the process stays under 256 MB:
// a burst of large events makes the collector work harder rather than the
// process grow.
const MemoryLimit = 128 << 20

// Apply sets GOGC to GCPercent unless goGC (the GOGC variable) is set, and
// the memory limit to limit (0 or less: none) unless goMemLimit (the
// GOMEMLIMIT variable) is set, which the runtime has applied already. It
// returns what undoes both (the service's Main may run inside a test).
func Apply(goGC, goMemLimit string, limit int64) (restore func()) {
	prevGC, prevLimit := -2, int64(-1)
	if goGC == "" {
		prevGC = debug.SetGCPercent(GCPercent)
	}
	if goMemLimit == "" {
		if limit <= 0 {
			limit = math.MaxInt64 // the runtime's "no limit"
		}
		prevLimit = debug.SetMemoryLimit(limit)
	}
	return func() {
		if prevGC != -2 {
			debug.SetGCPercent(prevGC)
		}
		if prevLimit >= 0 {
			debug.SetMemoryLimit(prevLimit)
		}
	}
}
