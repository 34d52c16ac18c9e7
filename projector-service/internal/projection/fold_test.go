package projection_test

import (
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
)

func TestFolder_Batch(t *testing.T) {
	t.Run("OneApplicationWrittenOnceWithEverythingInOrder", func(t *testing.T) {
		f := projection.NewFolder(nil, 0)
		for _, e := range []ev{requested, submitted, reviewed, approved} {
			if err := f.Add(e.decoded(t)); err != nil {
				t.Fatal(err)
			}
		}
		b := f.Batch(45)
		if len(b.Applications) != 1 {
			t.Fatalf("got %d applications, want 1", len(b.Applications))
		}
		wantEqual(t, "application", b.Applications[0], given(t, requested, submitted, reviewed, approved))
		wantEqual(t, "history entries", len(b.History), 4)
		wantEqual(t, "contributions", len(b.Contributions), 4)
		for i, want := range []uint64{10, 20, 30, 40} {
			wantEqual(t, "history position", b.History[i].Position, want)
			wantEqual(t, "contribution position", b.Contributions[i].Position, want)
		}
		wantEqual(t, "checkpoint", b.Checkpoint, uint64(45))
	})
	t.Run("FoldsOntoTheStoredApplication", func(t *testing.T) {
		stored := given(t, requested, submitted)
		f := projection.NewFolder(map[string]readmodel.Application{appID: stored}, 1)
		if err := f.Add(reviewed.decoded(t)); err != nil {
			t.Fatal(err)
		}
		wantEqual(t, "application", f.Batch(30).Applications[0], given(t, requested, submitted, reviewed))
		wantEqual(t, "stored map untouched", stored.Status, readmodel.StatusSubmitted)
	})
	t.Run("RedeliveredEventsWriteNoApplication", func(t *testing.T) {
		stored := given(t, requested, submitted)
		f := projection.NewFolder(map[string]readmodel.Application{appID: stored}, 1)
		for _, e := range []ev{requested, submitted} {
			if err := f.Add(e.decoded(t)); err != nil {
				t.Fatal(err)
			}
		}
		b := f.Batch(20)
		wantEqual(t, "applications", len(b.Applications), 0)
		wantEqual(t, "history entries (kept once by the store)", len(b.History), 2)
	})
	t.Run("ErrorChangesNothing", func(t *testing.T) {
		f := projection.NewFolder(nil, 0)
		e := requested.decoded(t)
		e.Type = "LoanApproved"
		if err := f.Add(e); err == nil {
			t.Fatal("want an error")
		}
		wantEqual(t, "len", f.Len(), 0)
		wantEqual(t, "applications", len(f.Batch(0).Applications), 0)
	})
}

func TestModel_ApplyBatch(t *testing.T) {
	events := []ev{requested, submitted, reviewed, approved, issued, signed}
	m := projection.NewModel()
	for _, e := range events {
		if err := m.Apply(e.decoded(t)); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("Totals", func(t *testing.T) {
		wantEqual(t, "application", m.Applications[appID], given(t, events...))
		wantEqual(t, "funnel", m.Funnel, readmodel.Funnel{Requested: 1, Submitted: 1, ReviewIssued: 1, Approved: 1, ContractIssued: 1, Signed: 1})
		wantEqual(t, "day", m.Daily["2026-11-20"], readmodel.DailyStats{Day: "2026-11-20", RequestedCount: 1, RequestedAmount: 1200,
			SubmittedCount: 1, ApprovedCount: 1, ApprovedAmount: 1200, SignedCount: 1, SignedAmount: 1200, Decisions: 1, DecisionSecondsTotal: 240})
		wantEqual(t, "history", len(m.History[appID]), 6)
		wantEqual(t, "checkpoint", m.Checkpoint, uint64(60))
	})
	t.Run("SameEventsTwiceChangeNothing", func(t *testing.T) {
		before := snapshot(m)
		for _, e := range events {
			if err := m.Apply(e.decoded(t)); err != nil {
				t.Fatal(err)
			}
		}
		wantEqual(t, "model", snapshot(m), before)
	})
}

type modelSnapshot struct {
	app     readmodel.Application
	funnel  readmodel.Funnel
	day     readmodel.DailyStats
	history int
}

func snapshot(m *projection.Model) modelSnapshot {
	return modelSnapshot{m.Applications[appID], m.Funnel, m.Daily["2026-11-20"], len(m.History[appID])}
}
