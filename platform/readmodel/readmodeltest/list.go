package readmodeltest

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/loanflow/loans/platform/readmodel"
)

var orders = []struct {
	name  string
	order readmodel.Order
}{
	{"RequestedAtDesc", readmodel.OrderRequestedAtDesc},
	{"RequestedAtAsc", readmodel.OrderRequestedAtAsc},
	{"AmountDesc", readmodel.OrderAmountDesc},
	{"AmountAsc", readmodel.OrderAmountAsc},
	{"UpdatedAtDesc", readmodel.OrderUpdatedAtDesc},
}

// The reference: what List must return, written out.

func matches(a readmodel.Application, f readmodel.Filter) bool {
	a = normApp(a)
	switch {
	case len(f.Statuses) > 0 && !slices.Contains(f.Statuses, a.Status),
		f.Applicant != "" && a.Applicant != f.Applicant,
		!f.RequestedAfter.IsZero() && a.RequestedAt.Before(f.RequestedAfter),
		!f.RequestedBefore.IsZero() && !a.RequestedAt.Before(f.RequestedBefore),
		f.MinAmount != 0 && a.Amount < f.MinAmount,
		f.MaxAmount != 0 && a.Amount > f.MaxAmount:
		return false
	}
	return true
}

// sortKey is the value an order sorts by, and whether it is descending.
func sortKey(a readmodel.Application, o readmodel.Order) (key int64, desc bool) {
	a = normApp(a)
	switch o {
	case readmodel.OrderRequestedAtDesc:
		return a.RequestedAt.UnixMicro(), true
	case readmodel.OrderRequestedAtAsc:
		return a.RequestedAt.UnixMicro(), false
	case readmodel.OrderAmountDesc:
		return a.Amount, true
	case readmodel.OrderAmountAsc:
		return a.Amount, false
	case readmodel.OrderUpdatedAtDesc:
		return a.UpdatedAt.UnixMicro(), true
	}
	panic(fmt.Sprintf("unknown order %d", o))
}

// compareIn orders a before b (<0) in order o: by the key, then by ID in
// the key's direction.
func compareIn(o readmodel.Order, a, b readmodel.Application) int {
	ka, desc := sortKey(a, o)
	kb, _ := sortKey(b, o)
	c := cmp.Or(cmp.Compare(ka, kb), strings.Compare(a.ID, b.ID))
	if desc {
		return -c
	}
	return c
}

func reference(apps []readmodel.Application, f readmodel.Filter, o readmodel.Order) []string {
	var sel []readmodel.Application
	for _, a := range apps {
		if matches(a, f) {
			sel = append(sel, a)
		}
	}
	slices.SortFunc(sel, func(a, b readmodel.Application) int { return compareIn(o, a, b) })
	return ids(sel)
}

// walk lists every page and returns the items, checking that only the last
// page has no cursor and that no page is larger than asked.
func walk(t *testing.T, st readmodel.Store, f readmodel.Filter, o readmodel.Order, size int) []readmodel.Application {
	t.Helper()
	var all []readmodel.Application
	cursor := ""
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("more than 1000 pages: the cursor does not move")
		}
		items, next := list(t, st, f, readmodel.Page{Order: o, Size: size, Cursor: cursor})
		if len(items) > size {
			t.Fatalf("page %d has %d items; asked for %d", page, len(items), size)
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) == 0 {
			t.Fatalf("page %d is empty but has a next cursor", page)
		}
		cursor = next
	}
}

// listData is a set of applications with ties in every sort key.
func listData(n int) []readmodel.Application {
	statuses := []readmodel.Status{readmodel.StatusPendingSubmission, readmodel.StatusSubmitted,
		readmodel.StatusPendingReview, readmodel.StatusApproved, readmodel.StatusDenied,
		readmodel.StatusPendingSignature, readmodel.StatusSigned, readmodel.StatusRejected}
	applicants := []string{"ada", "bob", "cyd"}
	var apps []readmodel.Application
	for i := range n {
		a := app(i, uint64(i+1), at(i%7).Add(123_456_789), 500+int64(i%5)*250)
		a.Status = statuses[i%len(statuses)]
		a.Applicant = applicants[i%len(applicants)]
		a.UpdatedAt = at(10 + i%4)
		apps = append(apps, a)
	}
	return apps
}

// list: filters, orders, page sizes and cursors.
func (s suite) list(t *testing.T) {
	t.Run("Filters", func(t *testing.T) {
		st, gen := s.fresh(t)
		apps := listData(24)
		applyApps(t, st, gen, 24, apps...)
		for _, c := range []struct {
			name string
			f    readmodel.Filter
		}{
			{"None", readmodel.Filter{}},
			{"OneStatus", readmodel.Filter{Statuses: []readmodel.Status{readmodel.StatusSubmitted}}},
			{"SeveralStatuses", readmodel.Filter{Statuses: []readmodel.Status{readmodel.StatusSubmitted,
				readmodel.StatusApproved, readmodel.StatusSigned}}},
			{"UnknownStatus", readmodel.Filter{Statuses: []readmodel.Status{"no_such_status"}}},
			{"Applicant", readmodel.Filter{Applicant: "bob"}},
			{"ApplicantMatchesExactly", readmodel.Filter{Applicant: "bo"}},
			{"RequestedAfterInclusive", readmodel.Filter{RequestedAfter: normTime(apps[3].RequestedAt)}},
			{"RequestedBeforeExclusive", readmodel.Filter{RequestedBefore: normTime(apps[3].RequestedAt)}},
			{"RequestedRange", readmodel.Filter{RequestedAfter: normTime(apps[2].RequestedAt),
				RequestedBefore: normTime(apps[5].RequestedAt)}},
			{"MinAmountInclusive", readmodel.Filter{MinAmount: 1000}},
			{"MaxAmountInclusive", readmodel.Filter{MaxAmount: 1000}},
			{"AmountRange", readmodel.Filter{MinAmount: 750, MaxAmount: 1250}},
			{"AllTogether", readmodel.Filter{
				Statuses:       []readmodel.Status{readmodel.StatusPendingSubmission, readmodel.StatusPendingReview, readmodel.StatusDenied, readmodel.StatusSigned},
				Applicant:      "ada",
				RequestedAfter: normTime(apps[1].RequestedAt), RequestedBefore: normTime(apps[6].RequestedAt),
				MinAmount: 750, MaxAmount: 1500,
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				for _, o := range orders {
					want := reference(apps, c.f, o.order)
					if got := ids(walk(t, st, c.f, o.order, 7)); !slices.Equal(got, want) {
						t.Errorf("%s:\n got %v\nwant %v", o.name, got, want)
					}
				}
			})
		}
	})
	t.Run("Orders", func(t *testing.T) {
		st, gen := s.fresh(t)
		apps := listData(30)
		applyApps(t, st, gen, 30, apps...)
		for _, o := range orders {
			t.Run(o.name, func(t *testing.T) {
				want := reference(apps, readmodel.Filter{}, o.order)
				for _, size := range []int{1, 4, readmodel.MaxPageSize} {
					got := walk(t, st, readmodel.Filter{}, o.order, size)
					if !slices.Equal(ids(got), want) {
						t.Errorf("page size %d:\n got %v\nwant %v", size, ids(got), want)
					}
				}
				// Items come back whole.
				items, _ := list(t, st, readmodel.Filter{}, readmodel.Page{Order: o.order, Size: 1})
				if len(items) == 1 {
					for _, a := range apps {
						if a.ID == items[0].ID {
							checkApp(t, "listed item", items[0], a)
						}
					}
				}
			})
		}
	})
	t.Run("PageSizes", func(t *testing.T) {
		st, gen := s.fresh(t)
		var apps []readmodel.Application
		for i := range readmodel.MaxPageSize + 5 {
			apps = append(apps, app(i, uint64(i+1), at(i), 1000))
		}
		applyApps(t, st, gen, uint64(len(apps)), apps...)
		for _, c := range []struct {
			name       string
			size, want int
		}{
			{"ZeroIsDefault", 0, readmodel.DefaultPageSize},
			{"NegativeIsDefault", -3, readmodel.DefaultPageSize}, // settled here
			{"AboveMaxIsMax", readmodel.MaxPageSize + 1, readmodel.MaxPageSize},
			{"FarAboveMaxIsMax", 1 << 20, readmodel.MaxPageSize},
			{"AsAsked", 7, 7},
		} {
			t.Run(c.name, func(t *testing.T) {
				items, next := list(t, st, readmodel.Filter{}, readmodel.Page{Size: c.size})
				if len(items) != c.want || next == "" {
					t.Errorf("Size %d: %d items, next cursor %q; want %d items and a cursor", c.size, len(items), next, c.want)
				}
			})
		}
	})
	t.Run("LastPageHasNoCursor", func(t *testing.T) { // settled here
		st, gen := s.fresh(t)
		if items, next := list(t, st, readmodel.Filter{}, readmodel.Page{}); len(items) != 0 || next != "" {
			t.Errorf("empty store: %d items, cursor %q; want none and no cursor", len(items), next)
		}
		apps := listData(14)
		applyApps(t, st, gen, 14, apps...)
		items, next := list(t, st, readmodel.Filter{}, readmodel.Page{Size: 7})
		if len(items) != 7 || next == "" {
			t.Fatalf("first page: %d items, cursor %q; want 7 and a cursor", len(items), next)
		}
		items, next = list(t, st, readmodel.Filter{}, readmodel.Page{Size: 7, Cursor: next})
		if len(items) != 7 || next != "" {
			t.Errorf("last (full) page: %d items, cursor %q; want 7 and no cursor", len(items), next)
		}
		if items, next := list(t, st, readmodel.Filter{}, readmodel.Page{Size: 14}); len(items) != 14 || next != "" {
			t.Errorf("one exact page: %d items, cursor %q; want 14 and no cursor", len(items), next)
		}
	})
	t.Run("ErrInvalidCursor", func(t *testing.T) {
		st, gen := s.fresh(t)
		applyApps(t, st, gen, 10, listData(10)...)
		for _, c := range []string{"garbage!", "%%%", "eyJ9", "\x00\xff", "{}", "null", strings.Repeat("A", 4096)} {
			if _, _, err := st.List(t.Context(), readmodel.Filter{}, readmodel.Page{Size: 3, Cursor: c}); !errors.Is(err, readmodel.ErrInvalidCursor) {
				t.Errorf("cursor %.20q: %v; want ErrInvalidCursor", c, err)
			}
		}
		_, next := list(t, st, readmodel.Filter{}, readmodel.Page{Order: readmodel.OrderAmountAsc, Size: 3})
		for _, o := range orders {
			if o.order == readmodel.OrderAmountAsc {
				continue
			}
			_, _, err := st.List(t.Context(), readmodel.Filter{}, readmodel.Page{Order: o.order, Size: 3, Cursor: next})
			if !errors.Is(err, readmodel.ErrInvalidCursor) { // settled here
				t.Errorf("an AmountAsc cursor used with %s: %v; want ErrInvalidCursor", o.name, err)
			}
		}
	})
	t.Run("CursorStableUnderWrites", func(t *testing.T) {
		for i, o := range orders {
			t.Run(o.name, func(t *testing.T) { s.walkUnderWrites(t, o.order, uint64(i)) })
		}
	})
}

// walkUnderWrites walks a list while applications are inserted and updated
// between pages: no item appears twice, every item present through the walk
// whose sort key did not change appears exactly once, and the items come in
// order.
func (s suite) walkUnderWrites(t *testing.T, o readmodel.Order, seed uint64) {
	st, gen := s.fresh(t)
	rnd := rand.New(rand.NewPCG(seed, 42))
	apps := listData(40)
	pos := uint64(len(apps))
	applyApps(t, st, gen, pos, apps...)
	current := map[string]readmodel.Application{}
	for _, a := range apps {
		current[a.ID] = a
	}
	keyChanged := map[string]bool{}
	next := len(apps)

	seen := map[string]int{}
	var walked []readmodel.Application
	cursor := ""
	for page := 0; ; page++ {
		if page > 100 {
			t.Fatalf("more than 100 pages")
		}
		items, nextCursor := list(t, st, readmodel.Filter{}, readmodel.Page{Order: o, Size: 6, Cursor: cursor})
		for _, a := range items {
			seen[a.ID]++
		}
		walked = append(walked, items...)
		if nextCursor == "" {
			break
		}
		cursor = nextCursor

		// Between pages: two new applications anywhere in the order, and two
		// updates of existing ones (status and UpdatedAt; for UpdatedAtDesc
		// one of them keeps its UpdatedAt).
		var batch []readmodel.Application
		for range 2 {
			pos++
			a := app(next, pos, at(rnd.IntN(9)-1), 250*int64(1+rnd.IntN(6)))
			a.UpdatedAt = at(9 + rnd.IntN(6))
			next++
			batch = append(batch, a)
		}
		for k := range 2 {
			pos++
			a := current[id(rnd.IntN(len(apps)))]
			a.Status, a.LastPosition = readmodel.StatusApproved, pos
			if k == 0 || o != readmodel.OrderUpdatedAtDesc {
				a.UpdatedAt = at(20 + int(pos))
			}
			before, _ := sortKey(current[a.ID], o)
			if after, _ := sortKey(a, o); after != before {
				keyChanged[a.ID] = true
			}
			batch = append(batch, a)
		}
		for _, a := range batch {
			current[a.ID] = a
		}
		applyApps(t, st, gen, pos, batch...)
	}

	for id, n := range seen {
		if n > 1 {
			t.Errorf("%s listed %d times", id, n)
		}
	}
	for _, a := range apps {
		if !keyChanged[a.ID] && seen[a.ID] != 1 {
			t.Errorf("%s (present through the walk, sort key unchanged) listed %d times; want once", a.ID, seen[a.ID])
		}
	}
	for i := 1; i < len(walked); i++ {
		if compareIn(o, walked[i-1], walked[i]) >= 0 {
			t.Errorf("items %d and %d out of order: %s then %s", i-1, i, appString(walked[i-1]), appString(walked[i]))
		}
	}
}
