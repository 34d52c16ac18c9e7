package main

import (
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

// summary prints the figures beside their targets.
func (b *bench) summary(total time.Duration) {
	if b.raw.ok() {
		fmt.Printf("\nSUMMARY (median of %d runs, with their min-max; total time %s)\n\n", b.cfg.runs, total.Round(time.Second))
	} else {
		fmt.Printf("\nSUMMARY (total time %s)\n\n", total.Round(time.Second))
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "figure\tmedian\tmin-max\ttarget\tratio\tverdict\t")
	verdict := func(pass bool) string {
		if pass {
			return "PASS"
		}
		return "BELOW"
	}
	rate := func(f *figure) (string, string) {
		return group(f.median()) + " events/s", group(f.min()) + "-" + group(f.max())
	}
	if b.fillRate.ok() { // not when the store was filled by an earlier run
		m, mm := rate(&b.fillRate)
		fmt.Fprintf(tw, "fill (%s events, %d writers)\t%s\t%s\t\t\t\t\n", group(float64(b.events)), b.cfg.writers, m, mm)
	}
	if b.raw.ok() && b.catchUp.ok() {
		m, mm := rate(&b.raw)
		fmt.Fprintf(tw, "(b) raw SQLite writes, same batches\t%s\t%s\t\t\t\t\n", m, mm)
		m, mm = rate(&b.catchUp)
		r := b.catchUp.median() / targetCatchUp
		fmt.Fprintf(tw, "(a) catch-up, checkpoint 0 to head\t%s\t%s\t≥ %s\t%.2f×\t%s\t\n", m, mm, group(targetCatchUp), r, verdict(r >= 1))
		r = b.ratio.median() / targetVsRaw
		fmt.Fprintf(tw, "    catch-up ÷ raw (same run)\t%.2f×\t%.2f-%.2f\t≥ %.2f×\t%.2f×\t%s\t\n", b.ratio.median(), b.ratio.min(), b.ratio.max(), targetVsRaw, r, verdict(r >= 1))
		r = b.catchUpRSS.max() / targetRSS
		fmt.Fprintf(tw, "    the projector's max RSS (VmHWM)\t%s\t%s-%s\t≤ %s\t%.2f×\t%s\t\n", mib(int64(b.catchUpRSS.median())),
			mib(int64(b.catchUpRSS.min())), mib(int64(b.catchUpRSS.max())), mib(targetRSS), r, verdict(r <= 1))
	}
	if b.lagCommands > 0 {
		fmt.Fprintf(tw, "(c) live lag p50, %.0f commands/s\t%s\t\t\t\t\t\n", b.lagRate, msString(b.lagP50))
		r := float64(b.lagP99) / float64(targetLagP99)
		fmt.Fprintf(tw, "    live lag p99\t%s\tmax %s\t≤ %s\t%.2f×\t%s\t\n", msString(b.lagP99), msString(b.lagMax), msString(targetLagP99), r, verdict(r <= 1))
		fmt.Fprintf(tw, "    of which the append, p50 / p99\t%s\t%s\t\t\t\t\n", msString(b.appendP50), msString(b.appendP99))
		for _, p := range b.lagParts[1:] {
			fmt.Fprintf(tw, "    %s, p50 / p99\t%s\t%s\t\t\t\t\n", p.name, msString(p.p50), msString(p.p99))
		}
	}
	if b.ferretRate > 0 {
		fmt.Fprintf(tw, "(d) MongoDB adapter on FerretDB*\t%s events/s\t%s events\t\t\t\t\n", group(b.ferretRate), group(float64(b.ferretEvents)))
	}
	_ = tw.Flush()
	if b.ferretNote != "" {
		fmt.Printf("(d) MongoDB adapter on FerretDB: %s\n", b.ferretNote)
	}
	if b.ferretRate > 0 {
		fmt.Printf("* functional reference only, not a MongoDB figure: FerretDB v1 on SQLite scans a collection for every lookup.\n")
	}
	if b.raw.ok() {
		fmt.Printf("(a) and (b) on fresh SQLite files (WAL, synchronous=NORMAL), alternating, each run (b) then (a); (c) on the read model (a) built,\n")
		fmt.Printf("    the lag measured from the start of each append (official client, the command's events) to the query side's Get seeing it.\n")
		fmt.Printf("    The projector runs in a process of its own, as projector-service does (GOGC, memory limit, batch); its max RSS is that process's VmHWM.\n")
	}
}
