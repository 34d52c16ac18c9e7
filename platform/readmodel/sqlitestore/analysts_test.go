package sqlitestore_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// TestAnalystsGuide_QueriesRun runs every SQL example of docs/ANALYSTS.md
// against a store with data, so that the guide stays true.
func TestAnalystsGuide_QueriesRun(t *testing.T) {
	guide, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "ANALYSTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	queries := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllSubmatch(guide, -1)
	if len(queries) < 4 {
		t.Fatalf("found %d SQL examples in the guide, want at least 4", len(queries))
	}

	path := filepath.Join(t.TempDir(), "rm.db")
	s := open(t, path)
	a := application(1, 5)
	a.RequestedAt = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	a.DecidedAt = a.RequestedAt.Add(2 * time.Hour)
	a.Status, a.DenialReason = readmodel.StatusDenied, "income too low"
	mustApply(t, s, 1, readmodel.Batch{
		Applications: []readmodel.Application{a},
		History: []readmodel.HistoryEntry{
			{ApplicationID: a.ID, Position: 4, Stream: "loanRequest-" + a.ID, EventType: "LoanRequested", OccurredAt: a.RequestedAt,
				StatusAfter: readmodel.StatusPendingSubmission, Payload: []byte(`{"amount":"1001"}`), Actor: "ada"},
			{ApplicationID: a.ID, Position: 5, Stream: "loanReview-" + a.ID, EventType: "LoanDenied", OccurredAt: a.DecidedAt,
				StatusAfter: readmodel.StatusDenied, Payload: []byte(`{"reason":"income too low"}`), Actor: "lender-admin"},
		},
		Contributions: []readmodel.Contribution{
			{Position: 4, Daily: readmodel.DailyStats{Day: "2026-03-02", RequestedCount: 1, RequestedAmount: 1001}, Funnel: readmodel.Funnel{Requested: 1}},
			{Position: 5, Daily: readmodel.DailyStats{Day: "2026-03-02", DeniedCount: 1, DeniedAmount: 1001, Decisions: 1, DecisionSecondsTotal: 7200}, Funnel: readmodel.Funnel{Denied: 1}},
		},
		Checkpoint: 5,
	})
	db := rawDB(t, path)
	for i, q := range queries {
		rows, err := db.Query(string(q[1]))
		if err != nil {
			t.Fatalf("example %d does not run: %v\n%s", i+1, err, q[1])
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("example %d: %v", i+1, err)
		}
		rows.Close()
		if n == 0 {
			t.Errorf("example %d returns no row on a store with data:\n%s", i+1, q[1])
		}
	}
}
