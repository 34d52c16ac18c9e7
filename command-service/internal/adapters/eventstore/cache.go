package eventstore

import (
	"container/list"
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/loanflow/loans/command-service/internal/app/command"
)

// Cache keeps the streams this process read or wrote lately, so that a
// command on an application it just handled needs no read: it appends at the
// cached revision. The event store stays the judge: if another process
// changed the stream meanwhile, the append fails on its exact expected
// revision, the entry is dropped and the command loads the stream again. The
// cache only saves reads; it never decides anything.
type Cache struct {
	inner command.EventStore
	max   int

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // front: most recently used
}

type cached struct {
	stream   string
	events   []command.RecordedEvent
	revision int64
}

// NewCache keeps up to max streams (least recently used go first).
func NewCache(inner command.EventStore, max int) *Cache {
	return &Cache{inner: inner, max: max, entries: make(map[string]*list.Element), lru: list.New()}
}

var _ command.EventStore = (*Cache)(nil)

// Load answers from the cache, or reads and remembers the stream.
func (c *Cache) Load(ctx context.Context, stream string) ([]command.RecordedEvent, int64, error) {
	c.mu.Lock()
	if el, ok := c.entries[stream]; ok {
		c.lru.MoveToFront(el)
		e := el.Value.(*cached)
		c.mu.Unlock()
		return e.events, e.revision, nil
	}
	c.mu.Unlock()
	events, revision, err := c.inner.Load(ctx, stream)
	if err != nil {
		return nil, 0, err
	}
	if revision >= 0 { // nothing to remember about a stream that does not exist
		c.put(stream, events, revision)
	}
	return events, revision, nil
}

// Append appends through to the store and extends the cached stream.
func (c *Cache) Append(ctx context.Context, stream string, expectedRevision int64, events []command.NewEvent) (command.AppendResult, error) {
	res, err := c.inner.Append(ctx, stream, expectedRevision, events)
	if err != nil {
		if errors.Is(err, command.ErrConcurrencyConflict) {
			c.forget(stream)
		}
		return res, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var history []command.RecordedEvent
	if el, ok := c.entries[stream]; ok {
		e := el.Value.(*cached)
		if e.revision != expectedRevision {
			// Another command of this process got there first: the entry
			// is newer than this append's view; keep it only if it
			// already includes this append.
			if e.revision < int64(res.Revision) {
				c.remove(el)
			}
			return res, nil
		}
		history = e.events
	} else if expectedRevision >= 0 {
		return res, nil // the history before this append is not known here
	}
	// A copy: readers may hold the previous slice.
	next := slices.Grow(slices.Clip(history), len(events))
	first := res.Revision - uint64(len(events)) + 1
	for i, ev := range events {
		rec := command.RecordedEvent{ID: ev.ID, Event: ev.Event, Metadata: ev.Metadata, Revision: first + uint64(i)}
		if i == len(events)-1 {
			// Only the last event's position is known; it is the one a
			// repeated command's reply gives.
			rec.Position = res.Position
		}
		next = append(next, rec)
	}
	c.putLocked(stream, next, int64(res.Revision))
	return res, nil
}

func (c *Cache) put(stream string, events []command.RecordedEvent, revision int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[stream]; ok && el.Value.(*cached).revision >= revision {
		return // a newer view arrived meanwhile
	}
	c.putLocked(stream, events, revision)
}

func (c *Cache) putLocked(stream string, events []command.RecordedEvent, revision int64) {
	if el, ok := c.entries[stream]; ok {
		el.Value = &cached{stream: stream, events: events, revision: revision}
		c.lru.MoveToFront(el)
		return
	}
	c.entries[stream] = c.lru.PushFront(&cached{stream: stream, events: events, revision: revision})
	for c.lru.Len() > c.max {
		c.remove(c.lru.Back())
	}
}

func (c *Cache) forget(stream string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[stream]; ok {
		c.remove(el)
	}
}

func (c *Cache) remove(el *list.Element) {
	delete(c.entries, el.Value.(*cached).stream)
	c.lru.Remove(el)
}
