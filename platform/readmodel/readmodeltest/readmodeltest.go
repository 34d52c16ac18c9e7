// Package readmodeltest is the contract every readmodel.Store adapter must
// pass. An adapter's own test calls Run with a function that opens a fresh,
// empty store:
//
//	func TestStore(t *testing.T) {
//		readmodeltest.Run(t, func(t *testing.T) readmodel.Store {
//			s, err := sqlitestore.Open(t.Context(), filepath.Join(t.TempDir(), "rm.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// open is called once per subtest (more where a rule needs several stores)
// and must arrange the store's closing itself (t.Cleanup): the suite never
// calls Close. The subtests run one after another and write at most a few
// hundred documents each, so the suite stays fast on slow backends
// (FerretDB).
//
// The subtests are named for the rules they pin. Where the port's comments
// leave a choice open, the suite settles it; those rules are marked
// "settled here" below and in the subtests:
//
//   - Times are kept at microsecond precision, truncated (not rounded), and
//     come back in UTC; unset (zero) times come back zero.
//   - Positions start at 1: 0 means "none" (Checkpoint's zero, the initial
//     last position of a day or of the funnel).
//   - A checkpoint never moves backward: Apply with a lower Checkpoint keeps
//     the higher one (a replayed or parked event's batch must not rewind
//     readers' consistency tokens).
//   - Activate refuses a generation whose checkpoint is below the active
//     generation's at that moment, with ErrGenerationBehind, and changes
//     nothing; at an equal checkpoint it switches.
//   - Apply, Checkpoint and Activate on a generation that does not exist (never
//     created, or dropped) fail; so does DropGeneration on the active one.
//     NewGeneration never reuses a number, even a dropped one's.
//   - History of an application without entries is empty, not ErrNotFound.
//   - Amount bounds are inclusive on both sides; RequestedAfter is inclusive
//     and RequestedBefore exclusive, as the port says. Applicant matches
//     exactly.
//   - Ties in the sort key are broken by ID in the same direction as the key
//     (descending orders list equal keys by descending ID).
//   - A page size of 0 or less means DefaultPageSize; above MaxPageSize,
//     MaxPageSize. The last page has an empty NextCursor, even when full; a
//     cursor is only valid with the Order it was made for (another Order:
//     ErrInvalidCursor).
//   - Pagination under writes: an item whose sort key does not change during
//     the walk appears exactly once; no item ever appears twice. (An item
//     whose sort key changes, e.g. UpdatedAt under OrderUpdatedAtDesc, may
//     be missed: keyset pagination cannot promise more without snapshots.)
//   - Parked events are listed by position, ascending (the order to replay
//     them in); parking a position again keeps the first one; unparking a
//     position that is not parked succeeds.
//   - A cancelled context makes every method fail, and an Apply that failed
//     so wrote nothing.
package readmodeltest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/readmodel"
)

// Run runs the contract suite against the stores open makes. open must
// return a new, empty store each time and close it in a t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) readmodel.Store) {
	t.Helper()
	s := suite{open: open}
	t.Run("Checkpoint", s.checkpoint)
	t.Run("Applications", s.applications)
	t.Run("History", s.history)
	t.Run("Stats", s.stats)
	t.Run("Get", s.get)
	t.Run("List", s.list)
	t.Run("Generations", s.generations)
	t.Run("Parked", s.parked)
	t.Run("Position", s.position)
	t.Run("Times", s.times)
	t.Run("ContextCanceled", s.contextCanceled)
}

type suite struct {
	open func(t *testing.T) readmodel.Store
}

// fresh opens a new store and returns it with its active generation.
func (s suite) fresh(t *testing.T) (readmodel.Store, int) {
	t.Helper()
	st := s.open(t)
	return st, activeGeneration(t, st)
}

// t0 is the time the suite's data starts at: a whole second, so that sums
// of microseconds stay readable in failures.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// at is t0 plus some minutes.
func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

// id makes an application ID like the real ones (a UUID) whose order does
// not follow n, so that ID tie-breaks are really exercised.
func id(n int) string {
	h := uint64(n)*0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019
	h ^= h >> 29
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(h>>32), uint16(h>>16), n%0x1000, (n/0x1000)%0x1000, h&0xFFFFFFFFFFFF)
}

// app is a requested application with every required field set.
func app(n int, pos uint64, requestedAt time.Time, amount int64) readmodel.Application {
	return readmodel.Application{
		ID:           id(n),
		Amount:       amount,
		Duration:     24,
		Status:       readmodel.StatusPendingSubmission,
		Applicant:    "ada",
		RequestedAt:  requestedAt,
		UpdatedAt:    requestedAt,
		LastPosition: pos,
	}
}

// full is an application with every field set to something distinct.
func full(n int, pos uint64) readmodel.Application {
	return readmodel.Application{
		ID:               id(n),
		Amount:           120_000 + int64(n),
		Duration:         36,
		Status:           readmodel.StatusRejected,
		Applicant:        fmt.Sprintf("applicant-%d", n),
		RequestedAt:      at(1),
		SubmittedAt:      at(2),
		ReviewIssuedAt:   at(3),
		DecidedAt:        at(4),
		ContractIssuedAt: at(5),
		ConcludedAt:      at(6),
		UpdatedAt:        at(7),
		DenialReason:     "",
		RejectionReason:  "found a better rate ‒ «élan»",
		LastPosition:     pos,
	}
}

func entry(appN int, pos uint64) readmodel.HistoryEntry {
	return readmodel.HistoryEntry{
		ApplicationID: id(appN),
		Position:      pos,
		Stream:        "loanRequest-" + id(appN),
		Revision:      pos % 7,
		EventType:     "LoanRequestSubmitted",
		OccurredAt:    at(int(pos)),
		Actor:         "ada",
		StatusAfter:   readmodel.StatusSubmitted,
		Payload:       []byte(fmt.Sprintf(`{"loanApplicationUuid":%q, "amount":"1200", "nested":{"list":[1,2.5,"x",null,true]}, "position":%d}`, id(appN), pos)),
		CommandID:     fmt.Sprintf("cmd-%d", pos),
		CorrelationID: fmt.Sprintf("corr-%d", appN),
		CausationID:   fmt.Sprintf("cause-%d", pos),
	}
}

// Calls that fail the test on an error.

func activeGeneration(t *testing.T, st readmodel.Store) int {
	t.Helper()
	g, err := st.ActiveGeneration(t.Context())
	if err != nil {
		t.Fatalf("ActiveGeneration: %v", err)
	}
	return g
}

func apply(t *testing.T, st readmodel.Store, gen int, b readmodel.Batch) {
	t.Helper()
	if err := st.Apply(t.Context(), gen, b); err != nil {
		t.Fatalf("Apply(generation %d, checkpoint %d): %v", gen, b.Checkpoint, err)
	}
}

func applyApps(t *testing.T, st readmodel.Store, gen int, checkpoint uint64, apps ...readmodel.Application) {
	t.Helper()
	apply(t, st, gen, readmodel.Batch{Applications: apps, Checkpoint: checkpoint})
}

func checkpoint(t *testing.T, st readmodel.Store, gen int) uint64 {
	t.Helper()
	p, err := st.Checkpoint(t.Context(), gen)
	if err != nil {
		t.Fatalf("Checkpoint(%d): %v", gen, err)
	}
	return p
}

func position(t *testing.T, st readmodel.Store) uint64 {
	t.Helper()
	p, err := st.Position(t.Context())
	if err != nil {
		t.Fatalf("Position: %v", err)
	}
	return p
}

func get(t *testing.T, st readmodel.Store, id string) readmodel.Application {
	t.Helper()
	a, err := st.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return a
}

func history(t *testing.T, st readmodel.Store, id string) []readmodel.HistoryEntry {
	t.Helper()
	h, err := st.History(t.Context(), id)
	if err != nil {
		t.Fatalf("History(%s): %v", id, err)
	}
	return h
}

func stats(t *testing.T, st readmodel.Store, from, to string) ([]readmodel.DailyStats, readmodel.Funnel) {
	t.Helper()
	d, f, err := st.Stats(t.Context(), from, to)
	if err != nil {
		t.Fatalf("Stats(%s, %s): %v", from, to, err)
	}
	return d, f
}

func list(t *testing.T, st readmodel.Store, f readmodel.Filter, p readmodel.Page) ([]readmodel.Application, string) {
	t.Helper()
	items, next, err := st.List(t.Context(), f, p)
	if err != nil {
		t.Fatalf("List(%+v, %+v): %v", f, p, err)
	}
	return items, next
}

func newGeneration(t *testing.T, st readmodel.Store) int {
	t.Helper()
	g, err := st.NewGeneration(t.Context())
	if err != nil {
		t.Fatalf("NewGeneration: %v", err)
	}
	return g
}

func activate(t *testing.T, st readmodel.Store, gen int) {
	t.Helper()
	if err := st.Activate(t.Context(), gen); err != nil {
		t.Fatalf("Activate(%d): %v", gen, err)
	}
}

func parked(t *testing.T, st readmodel.Store) []readmodel.ParkedEvent {
	t.Helper()
	p, err := st.Parked(t.Context())
	if err != nil {
		t.Fatalf("Parked: %v", err)
	}
	return p
}

// Comparisons. Stores keep times at microsecond precision in UTC, so the
// expected values are normalized that way and the stored ones must be in UTC.

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Truncate(time.Microsecond).UTC()
}

// ts shows a time with its location, so that a non-UTC time differs.
func ts(t time.Time) string {
	if t.IsZero() {
		return "zero"
	}
	return t.Format(time.RFC3339Nano) + "@" + t.Location().String()
}

func appString(a readmodel.Application) string {
	return fmt.Sprintf("{ID:%s Amount:%d Duration:%d Status:%s Applicant:%q RequestedAt:%s SubmittedAt:%s "+
		"ReviewIssuedAt:%s DecidedAt:%s ContractIssuedAt:%s ConcludedAt:%s UpdatedAt:%s DenialReason:%q "+
		"RejectionReason:%q LastPosition:%d}",
		a.ID, a.Amount, a.Duration, a.Status, a.Applicant, ts(a.RequestedAt), ts(a.SubmittedAt),
		ts(a.ReviewIssuedAt), ts(a.DecidedAt), ts(a.ContractIssuedAt), ts(a.ConcludedAt), ts(a.UpdatedAt),
		a.DenialReason, a.RejectionReason, a.LastPosition)
}

func normApp(a readmodel.Application) readmodel.Application {
	for _, p := range []*time.Time{&a.RequestedAt, &a.SubmittedAt, &a.ReviewIssuedAt, &a.DecidedAt,
		&a.ContractIssuedAt, &a.ConcludedAt, &a.UpdatedAt} {
		*p = normTime(*p)
	}
	return a
}

// checkApp fails unless got is want as a store keeps it.
func checkApp(t *testing.T, what string, got, want readmodel.Application) {
	t.Helper()
	if g, w := appString(got), appString(normApp(want)); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func entryString(e readmodel.HistoryEntry) string {
	return fmt.Sprintf("{ApplicationID:%s Position:%d Stream:%s Revision:%d EventType:%s OccurredAt:%s Actor:%q "+
		"StatusAfter:%s CommandID:%q CorrelationID:%q CausationID:%q}",
		e.ApplicationID, e.Position, e.Stream, e.Revision, e.EventType, ts(e.OccurredAt), e.Actor,
		e.StatusAfter, e.CommandID, e.CorrelationID, e.CausationID)
}

// checkEntry fails unless got is want as a store keeps it; payloads are
// compared as JSON (a store may re-encode them).
func checkEntry(t *testing.T, what string, got, want readmodel.HistoryEntry) {
	t.Helper()
	want.OccurredAt = normTime(want.OccurredAt)
	if g, w := entryString(got), entryString(want); g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
	if !jsonEqual(got.Payload, want.Payload) {
		t.Errorf("%s: payload %s; want (as JSON) %s", what, got.Payload, want.Payload)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func parkedString(p readmodel.ParkedEvent) string {
	return fmt.Sprintf("{Position:%d Stream:%s EventType:%s EventID:%s Error:%q ParkedAt:%s}",
		p.Position, p.Stream, p.EventType, p.EventID, p.Error, ts(p.ParkedAt))
}

func checkParked(t *testing.T, got []readmodel.ParkedEvent, want ...readmodel.ParkedEvent) {
	t.Helper()
	var g, w []string
	for _, p := range got {
		g = append(g, parkedString(p))
	}
	for _, p := range want {
		p.ParkedAt = normTime(p.ParkedAt)
		w = append(w, parkedString(p))
	}
	if !slices.Equal(g, w) {
		t.Errorf("Parked:\n got %s\nwant %s", strings.Join(g, "\n     "), strings.Join(w, "\n     "))
	}
}

// statsString shows a day without DecisionSecondsTotal, compared apart.
func statsString(d readmodel.DailyStats) string {
	d.DecisionSecondsTotal = 0
	return fmt.Sprintf("%+v", d)
}

// checkStats fails unless the days are want's, in order, with
// DecisionSecondsTotal equal up to float rounding.
func checkStats(t *testing.T, got, want []readmodel.DailyStats) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("Stats returned %d days %v; want %d: %v", len(got), days(got), len(want), days(want))
		return
	}
	for i := range want {
		if g, w := statsString(got[i]), statsString(want[i]); g != w {
			t.Errorf("day %d:\n got %s\nwant %s", i, g, w)
		}
		if !floatClose(got[i].DecisionSecondsTotal, want[i].DecisionSecondsTotal) {
			t.Errorf("day %s: DecisionSecondsTotal %.9f; want %.9f", want[i].Day,
				got[i].DecisionSecondsTotal, want[i].DecisionSecondsTotal)
		}
	}
}

func days(d []readmodel.DailyStats) []string {
	var s []string
	for _, x := range d {
		s = append(s, x.Day)
	}
	return s
}

// floatClose allows the rounding of adding the same terms in another order.
func floatClose(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b))
}

func ids(apps []readmodel.Application) []string {
	s := make([]string, len(apps))
	for i, a := range apps {
		s[i] = a.ID
	}
	return s
}

// isNotFound reports whether err is the port's ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, readmodel.ErrNotFound) }
