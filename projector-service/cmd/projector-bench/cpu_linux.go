//go:build linux

package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuSample is the CPU time this process and the whole machine had used at
// one moment: other processes on the same cores make every figure lower,
// so each run says how much of the machine it had.
type cpuSample struct {
	at          time.Time
	self        time.Duration
	busy, total uint64 // jiffies, from /proc/stat
	ok          bool
}

func sampleCPU() cpuSample {
	s := cpuSample{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return s
	}
	s.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return s
	}
	var v [8]uint64
	for i := range v {
		v[i], _ = strconv.ParseUint(f[i+1], 10, 64)
	}
	// user nice system idle iowait irq softirq steal
	s.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	s.total = s.busy + v[3] + v[4]
	s.ok = true
	return s
}

// cpuUse is how many cores this process and everything else used.
type cpuUse struct {
	self, others float64
	ok           bool
}

func (u cpuUse) String() string {
	if !u.ok {
		return ""
	}
	return fmt.Sprintf("  [CPU cores: this process %.2f, others %.2f]", u.self, u.others)
}

func cpuSince(a cpuSample) cpuUse {
	b := sampleCPU()
	if !a.ok || !b.ok || b.total <= a.total {
		return cpuUse{}
	}
	wall := b.at.Sub(a.at).Seconds()
	self := (b.self - a.self).Seconds() / wall
	machine := float64(b.busy-a.busy) / float64(b.total-a.total) * float64(runtime.NumCPU())
	return cpuUse{self: self, others: max(0, machine-self), ok: true}
}

// settle flushes dirty pages and waits, at most max, until this process is
// idle (the event store's compactions after the fill, say).
func settle(max time.Duration) time.Duration {
	start := time.Now()
	syscall.Sync()
	for time.Since(start) < max {
		a := sampleCPU()
		time.Sleep(300 * time.Millisecond)
		if u := cpuSince(a); !u.ok || u.self < 0.05 {
			break
		}
	}
	return time.Since(start)
}
