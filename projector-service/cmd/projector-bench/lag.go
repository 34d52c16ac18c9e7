package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/benchcpu"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
)

// command is one command of the live lag: its append's start and end, its
// position, and when the query side saw it (Unix nanoseconds).
type command struct {
	id                  string
	pos                 uint64
	start, acked, shown int64
}

// liveLag appends commands at cfg.rate a second while the projector of the
// last catch-up run follows live, and measures when each is visible to the
// query side; then it splits each command's lag where the projector's
// write of it began and ended.
func (b *bench) liveLag() error {
	l := b.live
	reader := l.store
	var (
		mu      sync.Mutex
		waiting []*command
		done    []*command
		genMu   sync.Mutex
		// A new seed each run: with a store kept from an earlier run (-dir),
		// the same seed would append the same events again, which the store
		// takes as retries (same event IDs): nothing new to project.
		g        = eventgen.New(uint64(time.Now().UnixNano()), epoch.AddDate(1, 0, 0))
		stop     atomic.Bool
		firstErr error
	)
	// The poller: the query side looking for each command's application.
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		ctx := context.Background()
		for {
			mu.Lock()
			batch := slices.Clone(waiting)
			mu.Unlock()
			if len(batch) == 0 && stop.Load() {
				return
			}
			seen := map[*command]bool{}
			for _, c := range batch {
				a, err := reader.Get(ctx, c.id)
				if err == nil && a.LastPosition >= c.pos {
					c.shown = time.Now().UnixNano()
					seen[c] = true
				}
			}
			if len(seen) > 0 {
				mu.Lock()
				waiting = slices.DeleteFunc(waiting, func(c *command) bool { return seen[c] })
				for c := range seen {
					done = append(done, c)
				}
				mu.Unlock()
			}
			time.Sleep(200 * time.Microsecond) // the query side's pace
		}
	}()

	// Commands are due every 1/rate s from the start (an open loop: a late
	// command does not push the next ones back).
	tokens := make(chan struct{}, 1024)
	go func() {
		interval := time.Second / time.Duration(b.cfg.rate)
		begin := time.Now()
		for i := 0; ; i++ {
			due := begin.Add(time.Duration(i) * interval)
			if due.Sub(begin) >= b.cfg.lagDuration {
				close(tokens)
				return
			}
			time.Sleep(time.Until(due))
			tokens <- struct{}{}
		}
	}()
	var wg sync.WaitGroup
	var commands atomic.Int64
	cpu := benchcpu.Now()
	cpuProjector := l.child.cpu()
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			var life []eventgen.Append
			for range tokens {
				if len(life) == 0 {
					genMu.Lock()
					life = g.Lifecycle()
					genMu.Unlock()
				}
				a := life[0]
				life = life[1:]
				c := &command{id: a.Stream[strings.IndexByte(a.Stream, '-')+1:], start: time.Now().UnixNano()}
				res, err := b.client.AppendToStream(context.Background(), a.Stream, esdb.AppendToStreamOptions{ExpectedRevision: a.ExpectedRevision()}, a.Events...)
				c.acked = time.Now().UnixNano()
				mu.Lock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
					}
				} else {
					c.pos = res.CommitPosition
					waiting = append(waiting, c)
				}
				mu.Unlock()
				commands.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop.Store(true)
	select {
	case <-pollDone:
	case <-time.After(10 * time.Second):
		_ = l.stop()
		return errors.New("live lag: commands still not visible 10 s after the last one")
	}
	use := benchcpu.Since(cpu)
	projectorCPU := (l.child.cpu() - cpuProjector).Seconds() / time.Since(start).Seconds()
	b.lagRSS, _ = l.child.maxRSS()
	stopErr := l.stop() // the projector writes down its writes as it stops
	if firstErr != nil {
		return firstErr
	}
	if stopErr != nil {
		return stopErr
	}
	writes, err := loadWrites(l.timings)
	if err != nil {
		return err
	}
	b.lagCPU = cpuSplit(use, projectorCPU)
	lags := make([]time.Duration, len(done))
	appends := make([]time.Duration, len(done))
	for i, c := range done {
		lags[i], appends[i] = time.Duration(c.shown-c.start), time.Duration(c.acked-c.start)
	}
	slices.Sort(lags)
	slices.Sort(appends)
	b.lagCommands = len(lags)
	b.lagRate = float64(commands.Load()) / elapsed.Seconds()
	b.lagP50, b.lagP99, b.lagMax = percentile(lags, 50), percentile(lags, 99), lags[len(lags)-1]
	b.appendP50, b.appendP99 = percentile(appends, 50), percentile(appends, 99)
	b.lagParts = splitLag(done, writes, b.lagP99)
	fmt.Printf("\nlive lag        %d commands at %.0f/s: append→visible p50 %s, p99 %s, max %s (the append itself: p50 %s, p99 %s), projector's max RSS %s%s\n",
		b.lagCommands, b.lagRate, msString(b.lagP50), msString(b.lagP99), msString(b.lagMax), msString(b.appendP50), msString(b.appendP99),
		mib(b.lagRSS), b.lagCPU)
	for _, p := range b.lagParts {
		fmt.Printf("  %-44s p50 %9s  p99 %9s  mean over the slowest 1%% of commands %9s\n", p.name, msString(p.p50), msString(p.p99), msString(p.slowMean))
	}
	b.lagWrites = longWrites(writes, start.UnixNano())
	fmt.Printf("  the projector's writes meanwhile: %s\n", b.lagWrites)
	return nil
}

// lagPart is one stretch of the commands' lag.
type lagPart struct {
	name     string
	p50, p99 time.Duration
	slowMean time.Duration // over the commands whose lag is at least the p99
}

// splitLag cuts each command's lag at its append's acknowledgement and at
// the start and end of the projector's write that reached its position:
// the append; waiting for the projector's write before it to end (a write
// in progress when the command was acknowledged); the rest of the way to
// the projector's write (delivery by the subscription, decoding: negative
// when the event reached the projector before the client had its
// acknowledgement, counted as zero); the write; and from the write's end
// until the query side saw it (its polling).
func splitLag(done []*command, writes []write, p99 time.Duration) []lagPart {
	sort.Slice(writes, func(i, j int) bool { return writes[i].checkpoint < writes[j].checkpoint })
	// waited is how long a command acknowledged at acked waited for the
	// write before w (index i) to end.
	waited := func(c *command, i int) time.Duration {
		if i == 0 {
			return 0
		}
		return max(0, time.Duration(min(writes[i-1].end, writes[i].start)-c.acked))
	}
	parts := []struct {
		name string
		of   func(c *command, i int) time.Duration
	}{
		{"the append (until acknowledged)", func(c *command, _ int) time.Duration { return time.Duration(c.acked - c.start) }},
		{"waiting for the projector's write before", waited},
		{"delivery to the projector, decoding", func(c *command, i int) time.Duration {
			return max(0, time.Duration(writes[i].start-c.acked)-waited(c, i))
		}},
		{"the projector's write", func(_ *command, i int) time.Duration { return time.Duration(writes[i].end - writes[i].start) }},
		{"written → seen by the query side", func(c *command, i int) time.Duration { return max(0, time.Duration(c.shown-writes[i].end)) }},
	}
	out := make([]lagPart, len(parts))
	values := make([][]time.Duration, len(parts))
	slowSums := make([]time.Duration, len(parts))
	slow := 0
	for _, c := range done {
		i := sort.Search(len(writes), func(i int) bool { return writes[i].checkpoint >= c.pos })
		if i == len(writes) {
			continue // written by no write the projector noted
		}
		isSlow := time.Duration(c.shown-c.start) >= p99
		if isSlow {
			slow++
		}
		for k, p := range parts {
			d := p.of(c, i)
			values[k] = append(values[k], d)
			if isSlow {
				slowSums[k] += d
			}
		}
	}
	for k, p := range parts {
		slices.Sort(values[k])
		out[k] = lagPart{name: p.name, p50: percentile(values[k], 50), p99: percentile(values[k], 99)}
		if slow > 0 {
			out[k].slowMean = slowSums[k] / time.Duration(slow)
		}
	}
	return out
}

// longWrites describes the projector's writes during the live lag that
// took longest.
func longWrites(writes []write, from int64) string {
	var ds []time.Duration
	for _, w := range writes {
		if w.start >= from {
			ds = append(ds, time.Duration(w.end-w.start))
		}
	}
	if len(ds) == 0 {
		return "no writes"
	}
	slices.Sort(ds)
	over := len(ds) - sort.Search(len(ds), func(i int) bool { return ds[i] >= 10*time.Millisecond })
	return fmt.Sprintf("%d writes: p50 %s, p99 %s, max %s, %d over 10 ms", len(ds), msString(percentile(ds, 50)),
		msString(percentile(ds, 99)), msString(ds[len(ds)-1]), over)
}

func (p lagPart) String() string {
	return fmt.Sprintf("%s: p50 %s, p99 %s", p.name, msString(p.p50), msString(p.p99))
}
