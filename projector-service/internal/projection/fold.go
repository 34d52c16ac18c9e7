package projection

import (
	"maps"

	"github.com/loanflow/loans/platform/readmodel"
)

// Folder folds a run of events (in position order) onto the stored
// applications they name and gathers what to write as one readmodel.Batch.
type Folder struct {
	apps    map[string]readmodel.Application
	changed []string // IDs of the applications changed, in first-change order
	touched map[string]bool
	history []readmodel.HistoryEntry
	contrib []readmodel.Contribution
}

// NewFolder starts a fold on the stored applications (missing ones are
// new) for about events events (room is made for them at once: growing by
// appends copied a batch's entries over and over). The map is copied, not
// changed.
func NewFolder(stored map[string]readmodel.Application, events int) *Folder {
	apps := maps.Clone(stored)
	if apps == nil {
		apps = map[string]readmodel.Application{}
	}
	return &Folder{apps: apps, touched: make(map[string]bool, len(stored)),
		changed: make([]string, 0, len(stored)),
		history: make([]readmodel.HistoryEntry, 0, events), contrib: make([]readmodel.Contribution, 0, events)}
}

// Add folds one event in; on error nothing changes.
func (f *Folder) Add(e Event) error {
	r, err := Project(f.apps[e.ApplicationID], e)
	if err != nil {
		return err
	}
	if r.Changed {
		if !f.touched[e.ApplicationID] {
			f.touched[e.ApplicationID] = true
			f.changed = append(f.changed, e.ApplicationID)
		}
		f.apps[e.ApplicationID] = r.Application
	}
	f.history = append(f.history, r.History)
	f.contrib = append(f.contrib, r.Contribution)
	return nil
}

// Len is the number of events folded in.
func (f *Folder) Len() int { return len(f.history) }

// Batch is what to write: the applications changed (as they end), the
// history entries and the contributions in position order.
func (f *Folder) Batch(checkpoint uint64) readmodel.Batch {
	b := readmodel.Batch{History: f.history, Contributions: f.contrib, Checkpoint: checkpoint}
	b.Applications = make([]readmodel.Application, len(f.changed))
	for i, id := range f.changed {
		b.Applications[i] = f.apps[id]
	}
	return b
}
