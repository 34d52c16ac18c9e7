// Package projectortest helps the projector's tests: it appends generated
// events with the official client, folds $all independently into an
// in-memory model (package projection's Model), and compares a store with
// that model through the query side's port (readmodel.Reader).
package projectortest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
	"github.com/loanflow/loans/projector-service/internal/projector"
)

// Append appends, in order.
func Append(tb testing.TB, c *esdb.Client, appends ...eventgen.Append) (last uint64) {
	tb.Helper()
	for _, a := range appends {
		res, err := c.AppendToStream(context.Background(), a.Stream, esdb.AppendToStreamOptions{ExpectedRevision: a.ExpectedRevision()}, a.Events...)
		if err != nil {
			tb.Fatalf("append %d events to %s: %v", len(a.Events), a.Stream, err)
		}
		last = res.CommitPosition
	}
	return last
}

// AppendLifecycles appends n generated lifecycles from workers goroutines
// (each lifecycle's appends in order) plus a noise append every tenth
// lifecycle; it returns the last position written.
func AppendLifecycles(tb testing.TB, c *esdb.Client, g *eventgen.Generator, n, workers int) uint64 {
	tb.Helper()
	lifes := make(chan []eventgen.Append, n)
	for i := range n {
		life := g.Lifecycle()
		if i%10 == 9 {
			life = append(life, g.Noise(2))
		}
		lifes <- life
	}
	close(lifes)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last uint64
		errs []error
	)
	for range workers {
		wg.Go(func() {
			for life := range lifes {
				for _, a := range life {
					res, err := c.AppendToStream(context.Background(), a.Stream, esdb.AppendToStreamOptions{ExpectedRevision: a.ExpectedRevision()}, a.Events...)
					mu.Lock()
					if err != nil {
						errs = append(errs, fmt.Errorf("append to %s: %w", a.Stream, err))
					} else {
						last = max(last, res.CommitPosition)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		tb.Fatalf("appending lifecycles: %v", errors.Join(errs...))
	}
	return last
}

// Fold reads $all and folds every loan event that decodes into a model, the
// way the projector should, but without it. It also returns the position of
// the last loan event.
func Fold(tb testing.TB, c *esdb.Client) (*projection.Model, uint64) {
	tb.Helper()
	m := projection.NewModel()
	var lastLoan uint64
	for _, rec := range ReadAll(tb, c) {
		e, err := projection.Decode(rec)
		if err != nil {
			continue // unknown types are skipped, poison events parked
		}
		if err := m.Apply(e); err != nil {
			tb.Fatalf("fold event at %d: %v", rec.Position, err)
		}
		lastLoan = rec.Position
	}
	return m, lastLoan
}

// ReadAll reads every event of $all.
func ReadAll(tb testing.TB, c *esdb.Client) []projection.Recorded {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Forwards}, math.MaxInt64)
	if err != nil {
		tb.Fatalf("read $all: %v", err)
	}
	defer rs.Close()
	var out []projection.Recorded
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("read $all after %d events: %v", len(out), err)
		}
		out = append(out, projector.Recorded(e.OriginalEvent()))
	}
}

// WaitCheckpoint waits until the active generation's checkpoint reaches
// position.
func WaitCheckpoint(tb testing.TB, r readmodel.Reader, position uint64, timeout time.Duration) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var got uint64
	var err error
	for time.Now().Before(deadline) {
		if got, err = r.Position(context.Background()); err == nil && got >= position {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatalf("checkpoint %d (last error %v) did not reach %d within %v", got, err, position, timeout)
}

// Snapshot is a whole read model as the query side sees it.
type Snapshot struct {
	Applications map[string]readmodel.Application
	History      map[string][]readmodel.HistoryEntry
	Days         []readmodel.DailyStats
	Funnel       readmodel.Funnel
}

// FromModel is the snapshot a model predicts.
func FromModel(m *projection.Model) Snapshot {
	s := Snapshot{Applications: maps.Clone(m.Applications), History: maps.Clone(m.History), Days: m.Days(), Funnel: m.Funnel}
	if s.Days == nil {
		s.Days = []readmodel.DailyStats{}
	}
	return s
}

// Read reads everything the active generation holds through the reader:
// every application (walking List), its history, every day's statistics.
func Read(tb testing.TB, r readmodel.Reader) Snapshot {
	tb.Helper()
	ctx := context.Background()
	s := Snapshot{Applications: map[string]readmodel.Application{}, History: map[string][]readmodel.HistoryEntry{}}
	cursor := ""
	for {
		items, next, err := r.List(ctx, readmodel.Filter{}, readmodel.Page{Order: readmodel.OrderRequestedAtAsc, Size: readmodel.MaxPageSize, Cursor: cursor})
		if err != nil {
			tb.Fatalf("list applications: %v", err)
		}
		for _, a := range items {
			if _, dup := s.Applications[a.ID]; dup {
				tb.Fatalf("list gave application %s twice", a.ID)
			}
			s.Applications[a.ID] = a
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for id := range s.Applications {
		h, err := r.History(ctx, id)
		if err != nil {
			tb.Fatalf("history of %s: %v", id, err)
		}
		if len(h) > 0 {
			s.History[id] = h
		}
	}
	days, funnel, err := r.Stats(ctx, "0001-01-01", "9999-12-31")
	if err != nil {
		tb.Fatalf("stats: %v", err)
	}
	if days == nil {
		days = []readmodel.DailyStats{}
	}
	s.Days, s.Funnel = days, funnel
	return s
}

// Diff describes how got differs from want (empty: equal). Sums of decision
// times may differ in the last bits (addition order).
func Diff(got, want Snapshot) []string {
	var d []string
	add := func(format string, args ...any) {
		if len(d) < 20 {
			d = append(d, fmt.Sprintf(format, args...))
		}
	}
	if len(got.Applications) != len(want.Applications) {
		add("%d applications, want %d", len(got.Applications), len(want.Applications))
	}
	for id, w := range want.Applications {
		g, ok := got.Applications[id]
		switch {
		case !ok:
			add("application %s missing", id)
		case g != w:
			add("application %s:\n  got %+v\n want %+v", id, g, w)
		}
	}
	for id, w := range want.History {
		g := got.History[id]
		if reflect.DeepEqual(g, w) {
			continue
		}
		if len(g) != len(w) {
			add("history of %s: %d entries, want %d", id, len(g), len(w))
			continue
		}
		for i := range w {
			if !reflect.DeepEqual(g[i], w[i]) {
				add("history of %s, entry %d:\n  got %s\n want %s", id, i, entryString(g[i]), entryString(w[i]))
				break
			}
		}
	}
	for id, g := range got.History {
		if _, ok := want.History[id]; !ok {
			add("history of %s: %d unexpected entries", id, len(g))
		}
	}
	if len(got.Days) != len(want.Days) {
		add("%d days of statistics, want %d", len(got.Days), len(want.Days))
	} else {
		for i := range want.Days {
			g, w := got.Days[i], want.Days[i]
			if math.Abs(g.DecisionSecondsTotal-w.DecisionSecondsTotal) <= 1e-6*math.Max(1, math.Abs(w.DecisionSecondsTotal)) {
				g.DecisionSecondsTotal = w.DecisionSecondsTotal
			}
			if g != w {
				add("day %s:\n  got %+v\n want %+v", w.Day, g, w)
			}
		}
	}
	if got.Funnel != want.Funnel {
		add("funnel %+v, want %+v", got.Funnel, want.Funnel)
	}
	return d
}

// Equal fails the test when the store's active generation is not what the
// model predicts.
func Equal(tb testing.TB, r readmodel.Reader, m *projection.Model) {
	tb.Helper()
	if d := Diff(Read(tb, r), FromModel(m)); len(d) > 0 {
		tb.Errorf("read model differs from the independent fold:\n%s", joinLines(d))
	}
}

func entryString(h readmodel.HistoryEntry) string {
	p := h.Payload
	h.Payload = nil
	return fmt.Sprintf("%+v payload %s", h, p)
}

func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}
