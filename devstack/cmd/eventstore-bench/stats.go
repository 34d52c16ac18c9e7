package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// figure is one measured quantity, with one value per run.
type figure struct {
	values []float64
}

func (f *figure) add(v float64) { f.values = append(f.values, v) }

func (f *figure) ok() bool { return f != nil && len(f.values) > 0 }

// median, min and max of the runs; the median of an even count is the mean of
// the middle two.
func (f *figure) median() float64 {
	s := slices.Clone(f.values)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func (f *figure) min() float64 { return slices.Min(f.values) }
func (f *figure) max() float64 { return slices.Max(f.values) }

// latencies are per-call durations; percentile sorts them on first use.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	if !slices.IsSorted(l) {
		slices.Sort(l)
	}
	i := int(p/100*float64(len(l))+0.5) - 1
	return l[max(0, min(i, len(l)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// loopResult is what a closed-loop load run measured.
type loopResult struct {
	calls   int
	events  int
	elapsed time.Duration
	lat     latencies
}

func (r loopResult) rate() float64 { return float64(r.events) / r.elapsed.Seconds() }

// maxCallsPerWorker bounds a closed loop whatever the duration.
const maxCallsPerWorker = 5_000_000

// closedLoop runs `workers` goroutines, each calling op back to back until d
// has passed; op returns how many events the call carried. The first error
// stops every worker and is returned.
func closedLoop(ctx context.Context, workers int, d time.Duration, op func(ctx context.Context, worker, seq int) (int, error)) (loopResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		stop     atomic.Bool
		res      loopResult
	)
	start := time.Now()
	deadline := start.Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make(latencies, 0, 4096)
			calls, events := 0, 0
			for seq := 0; seq < maxCallsPerWorker && !stop.Load(); seq++ {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				n, err := op(ctx, w, seq)
				if err != nil {
					if stop.CompareAndSwap(false, true) {
						mu.Lock()
						firstErr = fmt.Errorf("worker %d, call %d: %w", w, seq, err)
						mu.Unlock()
						cancel()
					}
					break
				}
				lat = append(lat, time.Since(t0))
				calls++
				events += n
			}
			mu.Lock()
			res.calls += calls
			res.events += events
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, firstErr
}

// group formats a number with thousands separators.
func group(v float64) string {
	s := strconv.FormatInt(int64(v+0.5), 10)
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3)
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// othersMax is the most CPU (in cores) that other processes used during any
// one run; the summary warns when it is large.
var othersMax float64

func noteOthers(cores float64) { othersMax = max(othersMax, cores) }
