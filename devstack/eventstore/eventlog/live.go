package eventlog

import "sync"

// liveWindow holds the most recent durable events in memory, bounded by count
// and bytes, and wakes whoever waits for new ones. Live subscribers read from
// it; one that has fallen out of the window reads from disk until it catches
// up again, so a slow subscriber never makes the server hold more memory.
type liveWindow struct {
	mu       sync.Mutex
	events   []Event // ring buffer
	start    int     // index of the oldest event
	count    int
	bytes    int
	maxBytes int
	last     uint64        // position of the last durable event
	changed  chan struct{} // closed and replaced on every publish
}

func newLiveWindow(head uint64, maxEvents, maxBytes int) *liveWindow {
	if maxEvents <= 0 {
		maxEvents = 16384
	}
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	return &liveWindow{events: make([]Event, maxEvents), maxBytes: maxBytes, last: head, changed: make(chan struct{})}
}

func (w *liveWindow) head() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// publish adds events that have just become durable, in position order.
func (w *liveWindow) publish(events []Event) {
	if len(events) == 0 {
		return
	}
	w.mu.Lock()
	for _, e := range events {
		// The batch owns its byte slices already (they come from the request
		// or from encodeRecord inputs), so the window can keep them.
		if w.count == len(w.events) {
			w.evict()
		}
		w.events[(w.start+w.count)%len(w.events)] = e
		w.count++
		w.bytes += e.size()
		for w.bytes > w.maxBytes && w.count > 1 {
			w.evict()
		}
		w.last = e.Position
	}
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

func (w *liveWindow) evict() {
	w.bytes -= w.events[w.start].size()
	w.events[w.start] = Event{}
	w.start = (w.start + 1) % len(w.events)
	w.count--
}

// after returns up to max events with positions greater than pos, oldest
// first, and whether the window could answer: false means events after pos
// have already left the window and must be read from disk.
func (w *liveWindow) after(pos uint64, max int, dst []Event) ([]Event, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pos >= w.last {
		return dst, true
	}
	if w.count == 0 {
		return dst, false
	}
	oldest := w.events[w.start].Position
	if pos+1 < oldest {
		return dst, false
	}
	// Positions are consecutive, so the next event's slot is computed.
	i := int(pos + 1 - oldest)
	for ; i < w.count && len(dst) < max; i++ {
		dst = append(dst, w.events[(w.start+i)%len(w.events)])
	}
	return dst, true
}

// wait returns a channel closed once an event after pos is durable (at once
// if one already is).
func (w *liveWindow) wait(pos uint64) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last > pos {
		return closedChan
	}
	return w.changed
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()
