package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
)

const eventsPerBatch = 1000

// lifecycle is the events an application goes through, in order.
var lifecycle = []struct {
	eventType string
	status    readmodel.Status
	daily     readmodel.DailyStats
	funnel    readmodel.Funnel
}{
	{"LoanRequested", readmodel.StatusPendingSubmission, readmodel.DailyStats{RequestedCount: 1, RequestedAmount: 1200}, readmodel.Funnel{Requested: 1}},
	{"LoanRequestSubmitted", readmodel.StatusSubmitted, readmodel.DailyStats{SubmittedCount: 1}, readmodel.Funnel{Submitted: 1}},
	{"LoanReviewIssued", readmodel.StatusPendingReview, readmodel.DailyStats{}, readmodel.Funnel{ReviewIssued: 1}},
	{"LoanApproved", readmodel.StatusApproved, readmodel.DailyStats{ApprovedCount: 1, ApprovedAmount: 1200, Decisions: 1, DecisionSecondsTotal: 3600.5}, readmodel.Funnel{Approved: 1}},
	{"LoanContractIssued", readmodel.StatusPendingSignature, readmodel.DailyStats{}, readmodel.Funnel{ContractIssued: 1}},
	{"ContractSigned", readmodel.StatusSigned, readmodel.DailyStats{SignedCount: 1, SignedAmount: 1200}, readmodel.Funnel{Signed: 1}},
}

// eventBatch is the projector's batch for the events at positions
// from+1..from+eventsPerBatch: three writes per event (the application's
// upsert, a history entry, a statistics contribution). Applications go
// through their lifecycle a thousand at a time, one event each per batch (as
// the projector folds a batch's events per application): a batch inserts a
// thousand applications, the next five update them. The day changes every
// 20,000 events.
func eventBatch(from uint64) readmodel.Batch {
	b := readmodel.Batch{
		Applications:  make([]readmodel.Application, 0, eventsPerBatch),
		History:       make([]readmodel.HistoryEntry, 0, eventsPerBatch),
		Contributions: make([]readmodel.Contribution, 0, eventsPerBatch),
		Checkpoint:    from + eventsPerBatch,
	}
	for p := from + 1; p <= from+eventsPerBatch; p++ {
		i := p - 1
		batch, member := i/eventsPerBatch, i%eventsPerBatch
		group, step := batch/uint64(len(lifecycle)), batch%uint64(len(lifecycle))
		n := group*eventsPerBatch + member
		id := fmt.Sprintf("6a1d2e1c-4a0e-4c57-9c1e-%012d", n)
		e := lifecycle[step]
		at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(p) * 4 * time.Second)
		requested := at.Add(-time.Duration(step) * 4000 * time.Second)
		b.Applications = append(b.Applications, readmodel.Application{
			ID: id, Amount: 1200, Duration: 24, Status: e.status, Applicant: fmt.Sprintf("applicant-%d", n%5000),
			RequestedAt: requested, UpdatedAt: at, LastPosition: p,
		})
		b.History = append(b.History, readmodel.HistoryEntry{
			ApplicationID: id, Position: p, Stream: "loanRequest-" + id, Revision: step, EventType: e.eventType,
			OccurredAt: at, Actor: "ada", StatusAfter: e.status,
			Payload:   []byte(fmt.Sprintf(`{"loanApplicationUuid":%q,"amount":"1200","duration":24}`, id)),
			CommandID: fmt.Sprintf("cmd-%d", p), CorrelationID: "corr-" + id, CausationID: fmt.Sprintf("cmd-%d", p),
		})
		daily := e.daily
		daily.Day = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(i/20000)).Format(time.DateOnly)
		b.Contributions = append(b.Contributions, readmodel.Contribution{Position: p, Daily: daily, Funnel: e.funnel})
	}
	return b
}

// BenchmarkApply measures the projector's write rate: one Apply (one
// transaction) per 1,000 events. Run it long enough to grow the tables, e.g.
// go test -run '^$' -bench Apply -benchtime 1000x (1,000,000 events).
func BenchmarkApply(b *testing.B) {
	s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "rm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Apply(ctx, 1, eventBatch(uint64(i)*eventsPerBatch)); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	events := float64(b.N) * eventsPerBatch
	b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
	// CPU time per event (the process's, all threads): steadier than the
	// rate on a shared machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/events, "cpu-ns/event")
	b.ReportMetric(0, "ns/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRead measures the query service's reads on 100,000 events
// (about 17,000 applications).
func BenchmarkRead(b *testing.B) {
	s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "rm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := range 100 {
		if err := s.Apply(ctx, 1, eventBatch(uint64(i)*eventsPerBatch)); err != nil {
			b.Fatal(err)
		}
	}
	id := func(i int) string { return fmt.Sprintf("6a1d2e1c-4a0e-4c57-9c1e-%012d", i%16000) }
	b.Run("Get", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.Get(ctx, id(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Position", func(b *testing.B) {
		for range b.N {
			if _, err := s.Position(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("History", func(b *testing.B) {
		for i := range b.N {
			if h, err := s.History(ctx, id(i)); err != nil || len(h) == 0 {
				b.Fatal(len(h), err)
			}
		}
	})
	b.Run("ListPage20", func(b *testing.B) {
		cursor := ""
		for range b.N {
			items, next, err := s.List(ctx, readmodel.Filter{Statuses: []readmodel.Status{readmodel.StatusSigned, readmodel.StatusApproved}},
				readmodel.Page{Order: readmodel.OrderRequestedAtDesc, Cursor: cursor})
			if err != nil || len(items) == 0 {
				b.Fatal(len(items), err)
			}
			cursor = next
		}
	})
	b.Run("Stats", func(b *testing.B) {
		for range b.N {
			if _, _, err := s.Stats(ctx, "2026-01-01", "2026-12-31"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
