package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/loanflow/loans/devstack/benchcpu"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
)

// liveProjector is the projector's process of the last catch-up run, kept
// for the live lag, with the query side's store on its file.
type liveProjector struct {
	path    string
	timings string
	store   *sqlitestore.Store
	child   *child
}

// stop ends the projector and removes its file.
func (l *liveProjector) stop() error {
	err := l.child.stop()
	l.store.Close()
	removeDB(l.path)
	return err
}

// catchUpRun runs the projector's process from checkpoint 0 into a fresh
// SQLite file until its checkpoint reaches the last event; keep leaves it
// running (noting its writes, for the live lag).
func (b *bench) catchUpRun(r int, keep bool) error {
	path := filepath.Join(b.dir, fmt.Sprintf("catchup-%d.db", r))
	// Created here, so that the projector opens a store that exists and
	// this process reads it as the query side does.
	st, gen, err := b.freshSQLite(path)
	if err != nil {
		return err
	}
	l := &liveProjector{path: path, store: st}
	if keep {
		l.timings = path + ".writes"
	}
	cpu := benchcpu.Now()
	start := time.Now()
	if l.child, err = b.startChild(path, l.timings); err != nil {
		st.Close()
		return err
	}
	for {
		cp, err := st.Checkpoint(context.Background(), gen)
		if err != nil {
			_ = l.stop()
			return err
		}
		if cp >= b.lastPos {
			break
		}
		select {
		case <-l.child.exited:
			err := l.stop()
			return fmt.Errorf("the projector stopped at %d: %v", cp, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	use := benchcpu.Since(cpu)
	projectorCPU := l.child.cpu().Seconds() / elapsed.Seconds()
	rss, err := l.child.maxRSS()
	if err != nil {
		_ = l.stop()
		return err
	}
	if err := b.verify(context.Background(), st, path); err != nil {
		_ = l.stop()
		return fmt.Errorf("catch-up run %d: %w", r+1, err)
	}
	b.catchUp.add(float64(b.events) / elapsed.Seconds())
	b.catchUpRSS.add(float64(rss))
	b.catchUpCPU = append(b.catchUpCPU, use)
	b.ratio.add(b.catchUp.values[r] / b.raw.values[r])
	fmt.Printf("catch-up        run %d/%d: %s events/s (%v), %.2f× the raw run before it, projector's max RSS %s%s\n",
		r+1, b.cfg.runs, group(b.catchUp.values[r]), elapsed.Round(time.Millisecond), b.ratio.values[r], mib(rss),
		cpuSplit(use, projectorCPU))
	if keep {
		b.live = l
		return nil
	}
	return l.stop()
}

func mib(bytes int64) string { return fmt.Sprintf("%.0f MiB", float64(bytes)/(1<<20)) }

// cpuSplit says who had the cores: the projector's process, this one (the
// event store, the query side) and everything else.
func cpuSplit(u benchcpu.Use, projector float64) string {
	if !u.OK {
		return fmt.Sprintf("  [CPU cores: projector %.2f]", projector)
	}
	return fmt.Sprintf("  [CPU cores: projector %.2f, this process (event store, query side) %.2f, others %.2f]",
		projector, u.Self, max(0, u.Others-projector))
}
