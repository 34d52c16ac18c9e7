package projection

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/loanflow/loans/platform/readmodel"
)

// Model is a whole read model in memory, kept by the rules the stores
// follow (readmodel's package comment): what a store should hold after the
// same events. Tests and the benchmark compare stores with it.
type Model struct {
	Applications map[string]readmodel.Application
	History      map[string][]readmodel.HistoryEntry // by application, in position order
	Daily        map[string]readmodel.DailyStats     // by day
	Funnel       readmodel.Funnel
	Checkpoint   uint64

	historyAt   map[uint64]bool
	dayPosition map[string]uint64
	funnelAt    uint64
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{
		Applications: map[string]readmodel.Application{},
		History:      map[string][]readmodel.HistoryEntry{},
		Daily:        map[string]readmodel.DailyStats{},
		historyAt:    map[uint64]bool{},
		dayPosition:  map[string]uint64{},
	}
}

// Apply projects one event.
func (m *Model) Apply(e Event) error {
	r, err := Project(m.Applications[e.ApplicationID], e)
	if err != nil {
		return err
	}
	m.ApplyBatch(readmodel.Batch{History: []readmodel.HistoryEntry{r.History},
		Contributions: []readmodel.Contribution{r.Contribution}, Checkpoint: max(m.Checkpoint, e.Position),
		Applications: appIf(r.Changed, r.Application)})
	return nil
}

func appIf(ok bool, a readmodel.Application) []readmodel.Application {
	if !ok {
		return nil
	}
	return []readmodel.Application{a}
}

// ApplyBatch writes a batch as a store would.
func (m *Model) ApplyBatch(b readmodel.Batch) {
	for _, a := range b.Applications {
		if old, ok := m.Applications[a.ID]; !ok || old.LastPosition < a.LastPosition {
			m.Applications[a.ID] = a
		}
	}
	for _, h := range b.History {
		if m.historyAt[h.Position] {
			continue
		}
		m.historyAt[h.Position] = true
		hs := append(m.History[h.ApplicationID], h)
		slices.SortFunc(hs, func(a, b readmodel.HistoryEntry) int { return cmp.Compare(a.Position, b.Position) })
		m.History[h.ApplicationID] = hs
	}
	for _, c := range b.Contributions {
		if day := c.Daily.Day; c.Position > m.dayPosition[day] {
			m.dayPosition[day] = c.Position
			d := m.Daily[day]
			d.Day = day
			delta := c.Daily
			delta.Day = ""
			d.Add(delta)
			m.Daily[day] = d
		}
		if c.Position > m.funnelAt {
			m.funnelAt = c.Position
			m.Funnel.Add(c.Funnel)
		}
	}
	m.Checkpoint = max(m.Checkpoint, b.Checkpoint)
}

// Days returns the days with data, in order.
func (m *Model) Days() []readmodel.DailyStats {
	days := slices.Collect(maps.Values(m.Daily))
	slices.SortFunc(days, func(a, b readmodel.DailyStats) int { return strings.Compare(a.Day, b.Day) })
	return days
}

// IDs returns the applications' IDs, sorted.
func (m *Model) IDs() []string { return slices.Sorted(maps.Keys(m.Applications)) }
