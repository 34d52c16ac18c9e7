package eventlog

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/google/uuid"
)

// Expectation is what an append or a delete expects of the stream's state.
type Expectation int

const (
	ExpectAny Expectation = iota
	ExpectNoStream
	ExpectStreamExists
	ExpectRevision // the stream's last revision is exactly Expected.Revision
)

// Expected is an expected stream state.
type Expected struct {
	Kind     Expectation
	Revision uint64
}

func (e Expected) String() string {
	switch e.Kind {
	case ExpectNoStream:
		return "no_stream"
	case ExpectStreamExists:
		return "stream_exists"
	case ExpectRevision:
		return fmt.Sprint(e.Revision)
	}
	return "any"
}

// WrongExpectedVersionError reports an optimistic concurrency failure.
type WrongExpectedVersionError struct {
	Stream   string
	Expected Expected
	// Current is the stream's last revision, or -1 when it has no event.
	Current int64
}

func (e *WrongExpectedVersionError) Error() string {
	cur := "no_stream"
	if e.Current >= 0 {
		cur = fmt.Sprint(e.Current)
	}
	return fmt.Sprintf("eventlog: wrong expected version on stream %q: expected %s, current %s", e.Stream, e.Expected, cur)
}

// ProposedEvent is an event to append.
type ProposedEvent struct {
	ID          uuid.UUID
	Type        string
	ContentType string
	Metadata    []byte
	Data        []byte
}

// AppendResult is the outcome of a successful append.
type AppendResult struct {
	// LastRevision is the stream's last revision after the append, or -1 when
	// the stream still has no event (an empty append to a new stream).
	LastRevision int64
	// Position is the $all position of the last event appended; 0 when the
	// append wrote nothing.
	Position uint64
}

type requestKind int

const (
	kindAppend requestKind = iota
	kindDelete
	kindTombstone
)

type request struct {
	kind     requestKind
	stream   string
	expected Expected
	events   []ProposedEvent
	size     int

	result AppendResult
	err    error
	done   chan struct{}
}

// Event types the log writes itself, as EventStoreDB names them.
const (
	MetadataEventType      = "$metadata"
	StreamDeletedEventType = "$streamDeleted"
)

// MetastreamOf names the stream that holds a stream's metadata.
func MetastreamOf(stream string) string { return "$$" + stream }

func isMetastream(stream string) bool { return strings.HasPrefix(stream, "$$") }

// Append appends events to a stream atomically with consecutive revisions.
// Appending the same events (same IDs, in order) again with the expectation
// that first succeeded returns the first outcome and writes nothing.
func (l *Log) Append(ctx context.Context, stream string, expected Expected, events []ProposedEvent) (AppendResult, error) {
	if err := validStream(stream); err != nil {
		return AppendResult{}, err
	}
	r := &request{kind: kindAppend, stream: stream, expected: expected, events: events}
	for i := range events {
		r.size += 64 + len(events[i].Type) + len(events[i].ContentType) + len(events[i].Metadata) + len(events[i].Data)
	}
	err := l.submit(ctx, r)
	return r.result, err
}

// Delete soft-deletes a stream the way EventStoreDB does: its metadata gets a
// $tb of EventNumber.DeletedStream, so reads say the stream is not found,
// while a later append continues the stream after its last revision.
func (l *Log) Delete(ctx context.Context, stream string, expected Expected) (uint64, error) {
	if err := validStream(stream); err != nil {
		return 0, err
	}
	r := &request{kind: kindDelete, stream: stream, expected: expected}
	err := l.submit(ctx, r)
	return r.result.Position, err
}

// Tombstone hard-deletes a stream: a $streamDeleted event ends it, and every
// later read or append fails with StreamDeletedError.
func (l *Log) Tombstone(ctx context.Context, stream string, expected Expected) (uint64, error) {
	if err := validStream(stream); err != nil {
		return 0, err
	}
	r := &request{kind: kindTombstone, stream: stream, expected: expected}
	err := l.submit(ctx, r)
	return r.result.Position, err
}

func validStream(stream string) error {
	if stream == "" || stream == "$all" {
		return fmt.Errorf("%w: %q", ErrInvalidStream, stream)
	}
	return nil
}

// writeLoop is the single writer. It owns the position counter and the
// stream-ID counter, and is the only goroutine that changes stream state.
func (l *Log) writeLoop(head uint64) {
	defer close(l.writerEnd)
	w := &writer{log: l, head: head}
	if err := w.loadCounter(); err != nil {
		l.fail(err)
	}
	var group []*request
	for {
		group = group[:0]
		select {
		case r := <-l.requests:
			group = append(group, r)
		case <-l.closing:
			l.drainClosed()
			return
		}
		// Take whatever else is already waiting: that is the group commit.
		size := group[0].size
	more:
		for size < l.maxBatch {
			select {
			case r := <-l.requests:
				group = append(group, r)
				size += r.size
			default:
				break more
			}
		}
		w.commit(group)
	}
}

func (l *Log) drainClosed() {
	for {
		select {
		case r := <-l.requests:
			r.err = ErrClosed
			close(r.done)
		default:
			return
		}
	}
}

func (l *Log) fail(err error) {
	err = fmt.Errorf("eventlog: the event log stopped accepting writes after a storage failure: %w", err)
	l.failed.CompareAndSwap(nil, &err)
	l.logger.Error("event store: storage failure; refusing further writes", "error", err)
}

type writer struct {
	log          *Log
	head         uint64
	nextStreamID uint64

	// Per group: the state of every stream touched, as it will be once the
	// batch commits, and the event IDs written in this batch.
	batch          *pebble.Batch
	streams        map[string]*streamInfo
	dirty          map[string]bool
	newIDs         map[string]uint64
	events         []Event
	counterChanged bool
}

func (w *writer) loadCounter() error {
	v, closer, err := w.log.db.Get([]byte{keyCounter})
	if errors.Is(err, pebble.ErrNotFound) {
		w.nextStreamID = 1
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	w.nextStreamID = decodeU64(v)
	return nil
}

func (w *writer) commit(group []*request) {
	if errp := w.log.failed.Load(); errp != nil {
		for _, r := range group {
			r.err = *errp
			close(r.done)
		}
		return
	}
	w.batch = w.log.db.NewBatch()
	w.streams = make(map[string]*streamInfo)
	w.dirty = make(map[string]bool)
	w.newIDs = make(map[string]uint64)
	w.events = w.events[:0]
	w.counterChanged = false
	startHead := w.head
	startStreamID := w.nextStreamID

	for _, r := range group {
		mark := len(w.events)
		var err error
		switch r.kind {
		case kindAppend:
			err = w.append(r)
		case kindDelete:
			err = w.softDelete(r)
		case kindTombstone:
			err = w.tombstone(r)
		}
		if err != nil {
			// Requests are checked before anything of theirs is written, so a
			// refused request has added nothing to the batch.
			if len(w.events) != mark {
				panic("eventlog: refused request left events in the batch")
			}
			r.err = err
		}
	}

	for name := range w.dirty {
		s := w.streams[name]
		_ = w.batch.Set(streamKey(name), s.encode(), nil)
	}
	if w.counterChanged {
		_ = w.batch.Set([]byte{keyCounter}, u64(w.nextStreamID), nil)
	}
	var err error
	if !w.batch.Empty() {
		err = w.batch.Commit(pebble.Sync)
	}
	_ = w.batch.Close()
	w.batch = nil
	if err != nil {
		w.head, w.nextStreamID = startHead, startStreamID
		w.log.fail(err)
		for _, r := range group {
			if r.err == nil {
				r.err = *w.log.failed.Load()
			}
			close(r.done)
		}
		return
	}
	w.log.live.publish(w.events)
	for _, r := range group {
		close(r.done)
	}
}

// stream returns the state of a stream as of the batch being built.
func (w *writer) stream(name string, create bool) (*streamInfo, error) {
	if s, ok := w.streams[name]; ok {
		return s, nil
	}
	v, closer, err := w.log.db.Get(streamKey(name))
	switch {
	case err == nil:
		s, derr := decodeStreamInfo(v)
		closer.Close()
		if derr != nil {
			return nil, derr
		}
		w.streams[name] = &s
		return &s, nil
	case errors.Is(err, pebble.ErrNotFound):
		if !create {
			return nil, nil
		}
		s := &streamInfo{id: w.nextStreamID}
		w.nextStreamID++
		w.counterChanged = true
		w.streams[name] = s
		w.dirty[name] = true
		return s, nil
	default:
		return nil, err
	}
}

// check applies an expectation to a stream's state. A soft-deleted stream
// counts as absent for no_stream and stream_exists, as in EventStoreDB, and
// an exact expectation still names its last revision.
func check(name string, s *streamInfo, exp Expected) error {
	current := int64(-1)
	if s != nil {
		current = int64(s.next) - 1
	}
	exists := current >= 0 && !s.meta.softDeleted()
	ok := true
	switch exp.Kind {
	case ExpectNoStream:
		ok = !exists
	case ExpectStreamExists:
		ok = exists
	case ExpectRevision:
		ok = current >= 0 && uint64(current) == exp.Revision
	}
	if !ok {
		if s != nil && s.meta.softDeleted() && exp.Kind != ExpectRevision {
			current = -1
		}
		return &WrongExpectedVersionError{Stream: name, Expected: exp, Current: current}
	}
	return nil
}

func (w *writer) append(r *request) error {
	s, err := w.stream(r.stream, false)
	if err != nil {
		return err
	}
	if s != nil && s.tombstoned {
		return &StreamDeletedError{Stream: r.stream}
	}
	if len(r.events) > 0 && s != nil && mayBeWritten(s, r.expected) {
		if done, err := w.idempotent(r, s); done || err != nil {
			return err
		}
	}
	if err := check(r.stream, s, r.expected); err != nil {
		return err
	}
	if len(r.events) == 0 {
		r.result = AppendResult{LastRevision: -1}
		if s != nil {
			r.result.LastRevision = int64(s.next) - 1
		}
		return nil
	}
	if s == nil {
		if s, err = w.stream(r.stream, true); err != nil {
			return err
		}
	}
	if s.meta.softDeleted() {
		// Appending to a soft-deleted stream brings it back: as EventStoreDB
		// does, truncate it before the new events, keeping its other metadata.
		meta, err := w.currentMetadataJSON(r.stream)
		if err != nil {
			return err
		}
		meta["$tb"] = s.next
		if err := w.writeMetadata(r.stream, meta); err != nil {
			return err
		}
	}
	for i := range r.events {
		p := &r.events[i]
		w.put(r.stream, s, Event{ID: p.ID, Type: p.Type, ContentType: p.ContentType, Metadata: p.Metadata, Data: p.Data})
	}
	r.result = AppendResult{LastRevision: int64(s.next) - 1, Position: w.head}
	return nil
}

// idempotent recognises an append that was already made: the same event IDs,
// already in this stream at consecutive revisions where the expectation says
// they belong. It then answers with the first outcome. If only part of the
// events match, the append is a conflicting retry and is refused.
func (w *writer) idempotent(r *request, s *streamInfo) (bool, error) {
	first, found, err := w.eventRevision(r.events[0].ID, s.id)
	if err != nil || !found {
		return false, err
	}
	switch r.expected.Kind {
	case ExpectRevision:
		if first != r.expected.Revision+1 {
			return false, nil
		}
	case ExpectNoStream:
		if first != 0 {
			return false, nil
		}
	}
	for i := 1; i < len(r.events); i++ {
		rev, found, err := w.eventRevision(r.events[i].ID, s.id)
		if err != nil {
			return false, err
		}
		if !found || rev != first+uint64(i) {
			return false, &WrongExpectedVersionError{Stream: r.stream, Expected: r.expected, Current: int64(s.next) - 1}
		}
	}
	last := first + uint64(len(r.events)) - 1
	pos, err := w.positionOf(s.id, last)
	if err != nil {
		return false, err
	}
	r.result = AppendResult{LastRevision: int64(last), Position: pos}
	return true, nil
}

// mayBeWritten tells whether an append could already be in the stream. With
// an exact expectation its first event belongs at the next revision after the
// expected one, so unless the stream has gone past that revision there is
// nothing to look up: the common case of a command appending at the revision
// it loaded costs no event-ID lookup.
func mayBeWritten(s *streamInfo, exp Expected) bool {
	switch exp.Kind {
	case ExpectRevision:
		return s.next > exp.Revision+1
	case ExpectNoStream:
		return s.next > 0
	}
	return true
}

func (w *writer) eventRevision(id uuid.UUID, streamID uint64) (uint64, bool, error) {
	k := eventIDKey(id, streamID)
	if rev, ok := w.newIDs[string(k)]; ok {
		return rev, true, nil
	}
	v, closer, err := w.log.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	return decodeU64(v), true, nil
}

func (w *writer) positionOf(streamID, rev uint64) (uint64, error) {
	for i := len(w.events) - 1; i >= 0; i-- {
		// Written earlier in this same batch: not yet readable from Pebble.
		if e := &w.events[i]; e.Revision == rev && w.streams[e.Stream].id == streamID {
			return e.Position, nil
		}
	}
	v, closer, err := w.log.db.Get(indexKey(streamID, rev))
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	return decodeU64(v), nil
}

// put adds one event to the batch at the stream's next revision.
func (w *writer) put(name string, s *streamInfo, e Event) {
	w.head++
	e.Position = w.head
	e.Stream = name
	e.Created = w.log.now().UnixNano()
	if e.Revision != math.MaxInt64 { // the tombstone keeps its revision
		e.Revision = s.next
		s.next++
		_ = w.batch.Set(indexKey(s.id, e.Revision), u64(e.Position), nil)
		idKey := eventIDKey(e.ID, s.id)
		_ = w.batch.Set(idKey, u64(e.Revision), nil)
		w.newIDs[string(idKey)] = e.Revision
	}
	_ = w.batch.Set(logKey(e.Position), encodeRecord(&e), nil)
	w.dirty[name] = true
	w.events = append(w.events, e)
	if isMetastream(name) && e.Type == MetadataEventType {
		w.applyMetadata(strings.TrimPrefix(name, "$$"), e.Data)
	}
}

// applyMetadata caches a stream's new metadata in its stream info.
func (w *writer) applyMetadata(stream string, data []byte) {
	target, err := w.stream(stream, true)
	if err != nil {
		return
	}
	target.meta = parseMetadata(data)
	w.dirty[stream] = true
}

// parseMetadata reads the system fields of EventStoreDB stream metadata.
// Metadata that is not a JSON object has no system fields, as in
// EventStoreDB, which ignores malformed metadata.
func parseMetadata(data []byte) Metadata {
	var raw map[string]json.RawMessage
	if json.Unmarshal(data, &raw) != nil {
		return Metadata{}
	}
	num := func(key string) uint64 {
		var v float64
		if b, ok := raw[key]; ok && json.Unmarshal(b, &v) == nil && v > 0 {
			if v >= math.MaxInt64 {
				return math.MaxInt64
			}
			return uint64(v)
		}
		return 0
	}
	return Metadata{MaxCount: num("$maxCount"), MaxAgeSeconds: num("$maxAge"), TruncateBefore: num("$tb")}
}

func (w *writer) softDelete(r *request) error {
	s, err := w.stream(r.stream, false)
	if err != nil {
		return err
	}
	if s != nil && s.tombstoned {
		return &StreamDeletedError{Stream: r.stream}
	}
	if err := check(r.stream, s, r.expected); err != nil {
		return err
	}
	meta, err := w.currentMetadataJSON(r.stream)
	if err != nil {
		return err
	}
	meta["$tb"] = int64(softDeletedTB)
	if err := w.writeMetadata(r.stream, meta); err != nil {
		return err
	}
	r.result.Position = w.head
	return nil
}

func (w *writer) tombstone(r *request) error {
	s, err := w.stream(r.stream, false)
	if err != nil {
		return err
	}
	if s != nil && s.tombstoned {
		return &StreamDeletedError{Stream: r.stream}
	}
	if err := check(r.stream, s, r.expected); err != nil {
		return err
	}
	if s == nil {
		if s, err = w.stream(r.stream, true); err != nil {
			return err
		}
	}
	id := uuid.New()
	w.put(r.stream, s, Event{ID: id, Revision: math.MaxInt64, Type: StreamDeletedEventType, ContentType: "application/octet-stream"})
	s.tombstoned = true
	r.result.Position = w.head
	return nil
}

// writeMetadata appends a $metadata event to the stream's metastream.
func (w *writer) writeMetadata(stream string, meta map[string]any) error {
	data, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	ms, err := w.stream(MetastreamOf(stream), true)
	if err != nil {
		return err
	}
	w.put(MetastreamOf(stream), ms, Event{ID: uuid.New(), Type: MetadataEventType, ContentType: "application/json", Data: data})
	return nil
}

// currentMetadataJSON returns the stream's latest metadata document.
func (w *writer) currentMetadataJSON(stream string) (map[string]any, error) {
	meta := map[string]any{}
	name := MetastreamOf(stream)
	for i := len(w.events) - 1; i >= 0; i-- {
		if w.events[i].Stream == name {
			_ = json.Unmarshal(w.events[i].Data, &meta)
			return meta, nil
		}
	}
	ms, err := w.stream(name, false)
	if err != nil || ms == nil || ms.next == 0 {
		return meta, err
	}
	pos, err := w.positionOf(ms.id, ms.next-1)
	if err != nil {
		return nil, err
	}
	v, closer, err := w.log.db.Get(logKey(pos))
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	e, err := decodeRecord(pos, v)
	if err != nil {
		return nil, err
	}
	_ = json.Unmarshal(e.Data, &meta)
	return meta, nil
}

func decodeU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }
