package sqlitestore_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// analystsExpected is the result of each SQL example of the guide on the
// data of TestAnalystsGuide_QueriesRun, one line a row (fmt's %v of the
// columns), keyed by the example's comment.
var analystsExpected = map[string]string{
	"Applications per status.":                          "[denied 1 1001]",
	"Approval rate and average decision time per week.": "[2026-09 0 2]",
	"The funnel as conversion rates from request.":      "[1 0 <nil> <nil>]",
	"The history of the most recently requested application, with who did what.": "[4 LoanRequested 2026-03-02T09:00:00.000000Z ada pending_submission 1001]\n" +
		"[5 LoanDenied 2026-03-02T11:00:00.000000Z lender-admin denied <nil>]",
	"Denials by reason.": "[income too low 1]",
}

// TestAnalystsGuide_QueriesRun runs every SQL example of docs/ANALYSTS.md
// against a store with data and checks its result, so that the guide stays
// true.
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
	for _, q := range queries {
		title, _, _ := strings.Cut(strings.TrimPrefix(string(q[1]), "-- "), "\n")
		t.Run(title, func(t *testing.T) {
			want, ok := analystsExpected[title]
			if !ok {
				t.Fatalf("no expected result for the guide's example %q: add one to analystsExpected", title)
			}
			rows, err := db.Query(string(q[1]))
			if err != nil {
				t.Fatalf("does not run: %v\n%s", err, q[1])
			}
			defer rows.Close()
			cols, err := rows.Columns()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%v", vals))
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if g := strings.Join(got, "\n"); g != want {
				t.Errorf("%s\ngives\n%s\nwant\n%s", q[1], g, want)
			}
		})
	}
}
