package eventlog

import (
	"bytes"
	"errors"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// End stands for "after the last event" wherever a position or revision is
// expected.
const End = math.MaxUint64

// ReadAllForward returns up to max events with positions from `from` on.
func (l *Log) ReadAllForward(from uint64, max int, dst []Event) ([]Event, error) {
	if from == End || max <= 0 {
		return dst, nil
	}
	err := l.read(func(db *pebble.DB) error {
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: logKey(from), UpperBound: []byte{tableLog + 1}})
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.First(); ok && len(dst) < max; ok = it.Next() {
			e, err := decodeOwned(it.Key(), it.Value())
			if err != nil {
				return err
			}
			dst = append(dst, e)
		}
		return it.Error()
	})
	return dst, err
}

// ReadAllBackward returns up to max events with positions before `before`,
// newest first.
func (l *Log) ReadAllBackward(before uint64, max int, dst []Event) ([]Event, error) {
	if before <= 1 || max <= 0 {
		return dst, nil
	}
	err := l.read(func(db *pebble.DB) error {
		upper := []byte{tableLog + 1}
		if before != End {
			upper = logKey(before)
		}
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{tableLog}, UpperBound: upper})
		if err != nil {
			return err
		}
		defer it.Close()
		for ok := it.Last(); ok && len(dst) < max; ok = it.Prev() {
			e, err := decodeOwned(it.Key(), it.Value())
			if err != nil {
				return err
			}
			dst = append(dst, e)
		}
		return it.Error()
	})
	return dst, err
}

func decodeOwned(key, value []byte) (Event, error) {
	return decodeRecord(decodeU64(key[1:]), bytes.Clone(value))
}

// StreamState describes a stream for readers.
type StreamState struct {
	// LastRevision is the last revision written, -1 when none.
	LastRevision int64
	Tombstoned   bool
	Metadata     Metadata
}

// Stream returns a stream's state; ok is false when the log has never seen it.
func (l *Log) Stream(name string) (state StreamState, ok bool, err error) {
	var info streamInfo
	err = l.read(func(db *pebble.DB) error {
		info, ok, err = lookupStream(db, name)
		return err
	})
	return StreamState{LastRevision: int64(info.next) - 1, Tombstoned: info.tombstoned, Metadata: info.meta}, ok, err
}

func lookupStream(db pebble.Reader, name string) (streamInfo, bool, error) {
	v, closer, err := db.Get(streamKey(name))
	if errors.Is(err, pebble.ErrNotFound) {
		return streamInfo{}, false, nil
	}
	if err != nil {
		return streamInfo{}, false, err
	}
	defer closer.Close()
	info, err := decodeStreamInfo(v)
	return info, err == nil, err
}

// visibleFrom is the first revision a read may return: metadata truncates
// the start of a stream ($tb, $maxCount); metastreams keep only their latest
// event, as in EventStoreDB.
func (s *streamInfo) visibleFrom(name string) uint64 {
	first := s.meta.TruncateBefore
	maxCount := s.meta.MaxCount
	if isMetastream(name) {
		maxCount = 1
	}
	if maxCount > 0 && s.next > maxCount && s.next-maxCount > first {
		first = s.next - maxCount
	}
	return first
}

// ReadStreamForward returns up to max events of a stream with revisions from
// `from` on, honouring its metadata. It fails with ErrStreamNotFound for a
// stream without events or soft-deleted, and StreamDeletedError for a
// tombstoned one.
func (l *Log) ReadStreamForward(name string, from uint64, max int, dst []Event) ([]Event, error) {
	return l.readStream(name, from, max, false, 0, dst)
}

// ReadStreamBackward returns up to max events of a stream with revisions from
// `from` down, newest first (from may be End).
func (l *Log) ReadStreamBackward(name string, from uint64, max int, dst []Event) ([]Event, error) {
	return l.readStream(name, from, max, true, 0, dst)
}

// readStream reads one stream; a non-zero upTo ignores events positioned
// after it (subscriptions use that to stay consistent with the live window).
func (l *Log) readStream(name string, from uint64, max int, backwards bool, upTo uint64, dst []Event) ([]Event, error) {
	err := l.read(func(db *pebble.DB) error {
		info, ok, err := lookupStream(db, name)
		if err != nil {
			return err
		}
		if ok && info.tombstoned {
			return &StreamDeletedError{Stream: name}
		}
		if !ok || info.next == 0 || info.meta.softDeleted() {
			return ErrStreamNotFound
		}
		first := info.visibleFrom(name)
		var lower, upper uint64
		if backwards {
			if from == End || from >= info.next {
				from = info.next - 1
			}
			if from < first {
				return nil
			}
			lower, upper = first, from+1
		} else {
			if from < first {
				from = first
			}
			if from >= info.next {
				return nil
			}
			lower, upper = from, info.next
		}
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: indexKey(info.id, lower), UpperBound: indexKey(info.id, upper)})
		if err != nil {
			return err
		}
		defer it.Close()
		var oldest int64
		if info.meta.MaxAgeSeconds > 0 {
			oldest = l.now().Add(-time.Duration(info.meta.MaxAgeSeconds) * time.Second).UnixNano()
		}
		ok = it.First()
		if backwards {
			ok = it.Last()
		}
		for ; ok && len(dst) < max; ok = step(it, backwards) {
			pos := decodeU64(it.Value())
			if upTo != 0 && pos > upTo {
				if backwards {
					continue
				}
				break
			}
			v, closer, err := db.Get(logKey(pos))
			if err != nil {
				return err
			}
			e, err := decodeRecord(pos, bytes.Clone(v))
			closer.Close()
			if err != nil {
				return err
			}
			if e.Created < oldest {
				continue
			}
			dst = append(dst, e)
		}
		return it.Error()
	})
	return dst, err
}

func step(it *pebble.Iterator, backwards bool) bool {
	if backwards {
		return it.Prev()
	}
	return it.Next()
}
