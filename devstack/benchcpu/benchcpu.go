// Package benchcpu tells a benchmark how much of the machine it had: other
// processes on the same cores make every figure lower, so each run reports
// the cores it used and the cores everything else used meanwhile (other
// processes, the kernel's threads, the hypervisor's steal). On systems
// without /proc/stat the figures are simply absent.
package benchcpu

import (
	"fmt"
	"time"
)

// Sample is the CPU time this process and the whole machine had used at one
// moment.
type Sample struct {
	at          time.Time
	self        time.Duration
	busy, total uint64 // jiffies, from /proc/stat
	ok          bool
}

// Now takes a sample.
func Now() Sample { return sample() }

// Use is how many cores this process and everything else used over a span
// of time; OK is false where the system does not tell.
type Use struct {
	Self, Others float64
	OK           bool
}

func (u Use) String() string {
	if !u.OK {
		return ""
	}
	return fmt.Sprintf("  [CPU cores: this process %.2f, others %.2f]", u.Self, u.Others)
}

// Since measures the use between a and now.
func Since(a Sample) Use {
	b := sample()
	if !a.ok || !b.ok || b.total <= a.total {
		return Use{}
	}
	wall := b.at.Sub(a.at).Seconds()
	self := (b.self - a.self).Seconds() / wall
	machine := float64(b.busy-a.busy) / float64(b.total-a.total) * float64(numCPU())
	return Use{Self: self, Others: max(0, machine-self), OK: true}
}

// Settle flushes dirty pages to disk and waits, at most max, until this
// process is idle (its background work, such as a store's compactions after
// a bulk load, has finished), so the next figure does not pay for the
// previous phase. It returns how long it waited.
func Settle(max time.Duration) time.Duration {
	start := time.Now()
	syncDisks()
	for time.Since(start) < max {
		a := sample()
		if !a.ok {
			time.Sleep(min(max, 2*time.Second)) // nothing to watch: a short pause
			break
		}
		time.Sleep(300 * time.Millisecond)
		if u := Since(a); !u.OK || u.Self < 0.05 {
			break
		}
	}
	return time.Since(start)
}
