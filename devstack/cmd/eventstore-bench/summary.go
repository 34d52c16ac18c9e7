package main

import (
	"fmt"
	"os"
	"runtime"
	"text/tabwriter"
	"time"
)

// summary prints every figure and the verdicts against the targets, and
// returns how many figures are below their targets.
func (b *bench) summary(total time.Duration) int {
	below := 0
	verdict := func(pass bool) string {
		if pass {
			return "PASS"
		}
		below++
		return "BELOW"
	}
	fmt.Printf("\nSUMMARY (median of %d runs, with their min-max; total time %s)\n\n", b.cfg.runs, total.Round(time.Second))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "figure\tmedian\tmin-max\ttarget\tratio\tverdict\t")
	row := func(name string, f *figure, unit string, decimals int, target, ratio, verdict string) {
		if !f.ok() {
			return
		}
		format := func(v float64) string {
			if decimals == 0 {
				return group(v)
			}
			return fmt.Sprintf("%.*f", decimals, v)
		}
		fmt.Fprintf(tw, "%s\t%s %s\t%s-%s\t%s\t%s\t%s\t\n", name, format(f.median()), unit, format(f.min()), format(f.max()), target, ratio, verdict)
	}
	info := func(name string, f *figure, unit string, decimals int) { row(name, f, unit, decimals, "", "", "") }
	atLeast := func(name string, f *figure, unit string, target float64) {
		if !f.ok() {
			return
		}
		r := f.median() / target
		row(name, f, unit, 0, "≥ "+group(target), fmt.Sprintf("%.2f×", r), verdict(r >= 1))
	}
	w := b.cfg.writers

	info("1a raw fsync (4 KiB)", &b.fsync, "syncs/s", 0)
	info("   fsync latency p50", &b.fsyncP50, "ms", 3)
	info("   fsync latency p99", &b.fsyncP99, "ms", 3)
	info(fmt.Sprintf("1b bare gRPC append shape, %d callers", w), &b.bareAppend, "calls/s", 0)
	info("   bare call latency p50", &b.bareAppendP50, "ms", 2)
	info("   bare call latency p99", &b.bareAppendP99, "ms", 2)
	info("1c bare gRPC server streaming", &b.bareRead, "msgs/s", 0)
	info("2a store append, 1 writer", &b.append1, "events/s", 0)
	info("   latency p50, 1 writer", &b.append1P50, "ms", 2)
	info("   latency p99, 1 writer", &b.append1P99, "ms", 2)
	atLeast(fmt.Sprintf("2a store append, %d writers", w), &b.appendN, "events/s", targetAppendRate)
	if b.appendN.ok() && b.bareAppend.ok() {
		bare := b.bareAppend.median()
		r := b.appendN.median() / bare
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", fmt.Sprintf("   vs bare gRPC (%d callers)", w),
			fmt.Sprintf("%.2f× bare", r), fmt.Sprintf("%.2f-%.2f", b.appendN.min()/bare, b.appendN.max()/bare),
			fmt.Sprintf("≥ %.2f× bare", targetAppendVsBare), fmt.Sprintf("%.2f×", r/targetAppendVsBare), verdict(r >= targetAppendVsBare))
	}
	info(fmt.Sprintf("   latency p50, %d writers", w), &b.appendNP50, "ms", 2)
	if b.appendNP99.ok() {
		p99 := b.appendNP99.median()
		row(fmt.Sprintf("   latency p99, %d writers", w), &b.appendNP99, "ms", 2,
			fmt.Sprintf("≤ %.0f ms", targetAppendP99), fmt.Sprintf("%.2f×", p99/targetAppendP99), verdict(p99 <= targetAppendP99))
	}
	info(fmt.Sprintf("2b fill, %d-event appends, %d writers", b.cfg.fillBatch, b.cfg.fillWriters), &b.fill, "events/s", 0)
	info("   fill append latency p99", &b.fillP99, "ms", 1)
	atLeast(fmt.Sprintf("2c read $all (%s events)", group(float64(b.readEvents))), &b.readAll, "events/s", targetReadRate)
	if b.readAll.ok() && b.bareRead.ok() {
		fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\n", "   vs bare server streaming", fmt.Sprintf("%.2f× bare", b.readAll.median()/b.bareRead.median()))
	}
	atLeast("2d catch-up subscription $all", &b.subscribe, "events/s", targetReadRate)
	if b.subscribe.ok() && b.bareRead.ok() {
		fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\n", "   vs bare server streaming", fmt.Sprintf("%.2f× bare", b.subscribe.median()/b.bareRead.median()))
	}
	_ = tw.Flush()
	if b.fillEvents > 0 {
		fmt.Printf("\nstore: %s events, %.1f MiB on disk (%.0f bytes/event); ratio = median ÷ target (for latency ≤ 1.00× passes)\n",
			group(float64(b.fillEvents)), float64(b.storeBytes)/(1<<20), float64(b.storeBytes)/float64(b.fillEvents))
	}
	if b.idleWaited >= time.Second {
		fmt.Printf("waited %s in all for other processes to quieten before measurements\n", b.idleWaited.Round(time.Second))
	}
	if b.discarded > 0 {
		fmt.Printf("%d measurement(s) were made again because other processes used more than %.2f CPU cores; each run kept its least disturbed attempt (fill runs are never made again)\n",
			b.discarded, b.cfg.busyLimit)
	}
	if othersMax > b.cfg.busyLimit {
		fmt.Printf("WARNING: other processes used up to %.2f of the %d CPU cores during a kept run: figures are lower and noisier than on an idle machine\n",
			othersMax, runtime.NumCPU())
	}
	fmt.Printf("machine: %s/%s, %d CPUs, %s; %s; %s; load average now %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(),
		runtime.Version(), time.Now().Format(time.RFC3339), loadAverage())
	return below
}
