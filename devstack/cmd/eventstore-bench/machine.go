package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"
)

// cpuModel reads the CPU model from /proc/cpuinfo where there is one.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "model name", "Model", "cpu model":
			return strings.TrimSpace(value)
		}
	}
	return "unknown"
}

// loadAverage is the 1, 5 and 15 minute load averages from /proc/loadavg: a
// busy machine (other processes on the same cores) skews every figure.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// fsyncResult is one run of the raw fsync loop.
type fsyncResult struct {
	syncs   int
	elapsed time.Duration
	lat     latencies
}

// maxSyncs bounds the fsync loop whatever the duration.
const maxSyncs = 2_000_000

// fsyncRun appends 4 KiB and fsyncs, in a loop, for d: what one writer that
// must make each write durable before the next can do on this disk.
func fsyncRun(dir string, d time.Duration) (fsyncResult, error) {
	f, err := os.CreateTemp(dir, "fsync-*.dat")
	if err != nil {
		return fsyncResult{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i)
	}
	res := fsyncResult{lat: make(latencies, 0, 16384)}
	start := time.Now()
	for res.syncs < maxSyncs {
		t0 := time.Now()
		if t0.Sub(start) >= d {
			break
		}
		if _, err := f.Write(buf); err != nil {
			return res, fmt.Errorf("write: %w", err)
		}
		if err := f.Sync(); err != nil {
			return res, fmt.Errorf("fsync: %w", err)
		}
		res.lat = append(res.lat, time.Since(t0))
		res.syncs++
	}
	res.elapsed = time.Since(start)
	return res, nil
}
