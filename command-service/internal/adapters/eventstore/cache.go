package eventstore

import (
	"context"
	"errors"
	"math"
	"slices"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"google.golang.org/protobuf/proto"

	"github.com/loanflow/loans/command-service/internal/app/command"
)

// Cache keeps the streams this process read or wrote lately, so that a
// command on an application it just handled needs no read: it appends at the
// cached revision. The event store stays the judge: if another process
// changed the stream meanwhile, the append fails on its exact expected
// revision, the entry is dropped and the command loads the stream again. The
// cache only saves reads; it never decides anything.
//
// It is bounded by an estimate of the memory its entries hold, not by their
// count: one stream of large events (a long denial reason, many events)
// weighs what it holds.
type Cache struct {
	inner    command.EventStore
	maxBytes int64

	mu    sync.Mutex
	lru   *simplelru.LRU[string, cached] // evictions subtract from bytes
	bytes int64
}

type cached struct {
	events   []command.RecordedEvent
	revision int64
	bytes    int64
}

// NewCache keeps recently used streams up to maxBytes of estimated memory
// (least recently used go first).
func NewCache(inner command.EventStore, maxBytes int64) *Cache {
	c := &Cache{inner: inner, maxBytes: maxBytes}
	// The count bound is never reached: bytes bound the cache.
	c.lru, _ = simplelru.NewLRU(math.MaxInt, func(_ string, e cached) { c.bytes -= e.bytes })
	return c
}

var _ command.EventStore = (*Cache)(nil)

// Bytes is the estimated memory the cached streams hold now.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

// Load answers from the cache, or reads and remembers the stream.
func (c *Cache) Load(ctx context.Context, stream string) ([]command.RecordedEvent, int64, error) {
	c.mu.Lock()
	if e, ok := c.lru.Get(stream); ok {
		c.mu.Unlock()
		return e.events, e.revision, nil
	}
	c.mu.Unlock()
	events, revision, err := c.inner.Load(ctx, stream)
	if err != nil {
		return nil, 0, err
	}
	if revision >= 0 { // nothing to remember about a stream that does not exist
		c.mu.Lock()
		if e, ok := c.lru.Peek(stream); !ok || e.revision < revision { // unless a newer view arrived meanwhile
			c.putLocked(stream, events, revision)
		}
		c.mu.Unlock()
	}
	return events, revision, nil
}

// Append appends through to the store and extends the cached stream.
func (c *Cache) Append(ctx context.Context, stream string, expectedRevision int64, events []command.NewEvent) (command.AppendResult, error) {
	res, err := c.inner.Append(ctx, stream, expectedRevision, events)
	if err != nil {
		if errors.Is(err, command.ErrConcurrencyConflict) {
			c.mu.Lock()
			c.lru.Remove(stream)
			c.mu.Unlock()
		}
		return res, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var history []command.RecordedEvent
	if e, ok := c.lru.Peek(stream); ok {
		if e.revision != expectedRevision {
			// Another command of this process got there first: the entry
			// is newer than this append's view; keep it only if it
			// already includes this append.
			if e.revision < int64(res.Revision) {
				c.lru.Remove(stream)
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

// putLocked remembers a stream, then drops the least recently used streams
// until the estimate is back under the bound. A stream larger than the whole
// bound is not kept.
func (c *Cache) putLocked(stream string, events []command.RecordedEvent, revision int64) {
	c.lru.Remove(stream)
	size := streamBytes(stream, events)
	if size > c.maxBytes {
		return
	}
	c.lru.Add(stream, cached{events: events, revision: revision, bytes: size})
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.lru.RemoveOldest()
	}
}

// Rough sizes, in bytes, of what a cached stream holds besides its strings:
// the entry with its key and list element, and one recorded event with its
// metadata and the payload message's own fields (measured on loan events:
// the estimate comes within about 20 % of the heap they take).
const (
	entryOverhead = 160
	eventOverhead = 400
)

// streamBytes estimates the memory a cached stream holds: the overheads,
// each payload's encoded size (its strings, mostly) and the metadata's
// strings.
func streamBytes(stream string, events []command.RecordedEvent) int64 {
	n := int64(entryOverhead + len(stream))
	for _, e := range events {
		m := e.Metadata
		n += eventOverhead + int64(proto.Size(e.Event)) +
			int64(len(m.CommandID)+len(m.CommandType)+len(m.CommandDigest)+len(m.CorrelationID)+len(m.CausationID)+
				len(m.Actor)+len(m.ActorIssuer)+len(m.TraceParent))
		for _, r := range m.ActorRoles {
			n += 16 + int64(len(r))
		}
	}
	return n
}
