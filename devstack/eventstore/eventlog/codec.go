package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/google/uuid"
)

// Key space. Every key starts with one byte naming its table, so each table is
// one contiguous range in Pebble's ordered key space.
//
//	'L' position(8)                   -> event record        ($all, in commit order)
//	'N' stream name                   -> stream info         (one per stream)
//	'S' stream id(8) revision(8)      -> position(8)         (per-stream index)
//	'E' event id(16) stream id(8)     -> revision(8)         (idempotent appends)
//	'C'                               -> next stream id(8)   (counter)
//	'U'                               -> clean-shutdown marker
//
// Integers are big-endian so that byte order is numeric order.
const (
	tableLog      = 'L'
	tableStreams  = 'N'
	tableIndex    = 'S'
	tableEventIDs = 'E'
	keyCounter    = 'C'
	keyClean      = 'U'
)

func logKey(pos uint64) []byte {
	k := make([]byte, 9)
	k[0] = tableLog
	binary.BigEndian.PutUint64(k[1:], pos)
	return k
}

func streamKey(name string) []byte {
	k := make([]byte, 1+len(name))
	k[0] = tableStreams
	copy(k[1:], name)
	return k
}

func indexKey(streamID, revision uint64) []byte {
	k := make([]byte, 17)
	k[0] = tableIndex
	binary.BigEndian.PutUint64(k[1:], streamID)
	binary.BigEndian.PutUint64(k[9:], revision)
	return k
}

func eventIDKey(id uuid.UUID, streamID uint64) []byte {
	k := make([]byte, 25)
	k[0] = tableEventIDs
	copy(k[1:], id[:])
	binary.BigEndian.PutUint64(k[17:], streamID)
	return k
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// streamInfo is what the log keeps about one stream. It also caches the
// stream's metadata (the latest $metadata event of its $$stream) so that reads
// honour $maxCount, $maxAge and $tb with a single lookup.
type streamInfo struct {
	id         uint64
	next       uint64 // revision the next event gets; 0 means no event yet
	tombstoned bool
	meta       Metadata
}

// Metadata is the part of EventStoreDB stream metadata the log enforces.
type Metadata struct {
	MaxCount       uint64 // 0: unlimited
	MaxAgeSeconds  uint64 // 0: unlimited
	TruncateBefore uint64 // 0: nothing truncated
}

// softDeletedTB is EventStoreDB's EventNumber.DeletedStream: a $tb of this
// value marks a soft-deleted stream.
const softDeletedTB = math.MaxInt64

func (m Metadata) softDeleted() bool { return m.TruncateBefore == softDeletedTB }

const streamInfoLen = 1 + 8*5

func (s *streamInfo) encode() []byte {
	b := make([]byte, streamInfoLen)
	if s.tombstoned {
		b[0] = 1
	}
	binary.BigEndian.PutUint64(b[1:], s.id)
	binary.BigEndian.PutUint64(b[9:], s.next)
	binary.BigEndian.PutUint64(b[17:], s.meta.MaxCount)
	binary.BigEndian.PutUint64(b[25:], s.meta.MaxAgeSeconds)
	binary.BigEndian.PutUint64(b[33:], s.meta.TruncateBefore)
	return b
}

func decodeStreamInfo(b []byte) (streamInfo, error) {
	if len(b) != streamInfoLen {
		return streamInfo{}, fmt.Errorf("eventlog: stream info of %d bytes, want %d", len(b), streamInfoLen)
	}
	return streamInfo{
		tombstoned: b[0]&1 != 0,
		id:         binary.BigEndian.Uint64(b[1:]),
		next:       binary.BigEndian.Uint64(b[9:]),
		meta: Metadata{
			MaxCount:       binary.BigEndian.Uint64(b[17:]),
			MaxAgeSeconds:  binary.BigEndian.Uint64(b[25:]),
			TruncateBefore: binary.BigEndian.Uint64(b[33:]),
		},
	}, nil
}

// Event is one recorded event.
type Event struct {
	Position    uint64 // position in $all; positions start at 1 and have no gaps
	Stream      string
	Revision    uint64
	ID          uuid.UUID
	Type        string
	ContentType string
	Created     int64 // Unix nanoseconds, set by the log when the event is committed
	Metadata    []byte
	Data        []byte
}

const recordVersion = 1

// encodeRecord lays out an event record: a version byte, fixed-size fields,
// then length-prefixed strings and byte slices. The position is the key.
func encodeRecord(e *Event) []byte {
	n := 1 + 16 + 8 + 8 + 5*binary.MaxVarintLen32 + len(e.Stream) + len(e.Type) + len(e.ContentType) + len(e.Metadata) + len(e.Data)
	b := make([]byte, 0, n)
	b = append(b, recordVersion)
	b = append(b, e.ID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Created))
	b = binary.BigEndian.AppendUint64(b, e.Revision)
	for _, f := range [][]byte{[]byte(e.Stream), []byte(e.Type), []byte(e.ContentType), e.Metadata, e.Data} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

var errCorruptRecord = errors.New("eventlog: corrupt event record")

// decodeRecord decodes a record; the returned event's byte slices alias b.
func decodeRecord(pos uint64, b []byte) (Event, error) {
	if len(b) < 33 || b[0] != recordVersion {
		return Event{}, fmt.Errorf("%w at position %d", errCorruptRecord, pos)
	}
	e := Event{Position: pos}
	copy(e.ID[:], b[1:17])
	e.Created = int64(binary.BigEndian.Uint64(b[17:]))
	e.Revision = binary.BigEndian.Uint64(b[25:])
	rest := b[33:]
	var fields [5][]byte
	for i := range fields {
		l, n := binary.Uvarint(rest)
		if n <= 0 || uint64(len(rest)-n) < l {
			return Event{}, fmt.Errorf("%w at position %d", errCorruptRecord, pos)
		}
		fields[i] = rest[n : n+int(l)]
		rest = rest[n+int(l):]
	}
	e.Stream, e.Type, e.ContentType = string(fields[0]), string(fields[1]), string(fields[2])
	e.Metadata, e.Data = fields[3], fields[4]
	return e, nil
}

// size is what an event costs in memory and in an append, roughly.
func (e *Event) size() int {
	return 64 + len(e.Stream) + len(e.Type) + len(e.ContentType) + len(e.Metadata) + len(e.Data)
}
