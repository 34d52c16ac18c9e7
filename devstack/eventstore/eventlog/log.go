// Package eventlog is the storage engine of the embedded event store: an
// append-only log of events with per-stream revisions and optimistic
// concurrency, kept in Pebble.
//
// All writes go through one goroutine that group-commits: it takes every
// request waiting at that moment, checks each against the streams' current
// state, writes them all in one Pebble batch and syncs it to disk once. An
// append is acknowledged only after that sync, and readers see an event only
// once it is durable, so a crash never exposes or loses an acknowledged event.
package eventlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure a Log.
type Options struct {
	// Dir holds the data. Empty means in memory: nothing survives Close.
	Dir string
	// Logger receives the log's own messages; nil means slog.Default().
	Logger *slog.Logger
	// LiveBufferEvents and LiveBufferBytes bound the in-memory window of recent
	// events that live subscribers are served from. A subscriber that falls
	// further behind reads from disk instead, so memory stays bounded however
	// slow it is. Zero means the defaults (16,384 events, 64 MiB).
	LiveBufferEvents int
	LiveBufferBytes  int
	// MaxBatchBytes caps how much one group commit carries; zero means 8 MiB.
	MaxBatchBytes int
	// Now returns the commit time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Log is an open event log. It is safe for concurrent use.
type Log struct {
	db     *pebble.DB
	logger *slog.Logger
	now    func() time.Time

	requests chan *request
	maxBatch int

	live *liveWindow

	// closing is closed when Close starts: subscribers stop waiting and new
	// writes are refused. readers counts the reads in flight so that Close
	// does not pull Pebble from under them.
	closing   chan struct{}
	closeOnce sync.Once
	readers   sync.RWMutex
	writerEnd chan struct{}
	failed    atomic.Pointer[error]
}

// Errors returned by the log.
var (
	ErrClosed         = errors.New("eventlog: the event log is closed")
	ErrStreamNotFound = errors.New("eventlog: stream not found")
	ErrInvalidStream  = errors.New("eventlog: invalid stream name")
)

// StreamDeletedError reports a tombstoned stream.
type StreamDeletedError struct{ Stream string }

func (e *StreamDeletedError) Error() string {
	return fmt.Sprintf("eventlog: stream %q is deleted", e.Stream)
}

// Open opens (or creates) the log.
func Open(opts Options) (*Log, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	var err error
	pebbleOpts := &pebble.Options{
		Logger:             pebbleLogger{logger},
		MemTableSize:       64 << 20,
		FormatMajorVersion: pebble.FormatNewest,
	}
	// Appends look up event IDs that mostly do not exist yet: bloom filters
	// answer those without reading a block.
	for i := range pebbleOpts.Levels {
		pebbleOpts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	pebbleOpts.EnsureDefaults()
	var tail walTail
	var tailKnown bool
	if opts.Dir != "" {
		if tail, tailKnown, err = inspectWALTail(opts.Dir); err != nil {
			logger.Warn("event store: could not inspect the write-ahead log before opening", "error", err)
		}
	}
	dir := opts.Dir
	if dir == "" {
		pebbleOpts.FS = vfs.NewMem()
		dir = "mem"
	}
	db, err := pebble.Open(dir, pebbleOpts)
	if err != nil {
		return nil, fmt.Errorf("eventlog: open %s: %w", dir, err)
	}
	l := &Log{
		db:     db,
		logger: logger,
		now:    opts.Now,
		// Unbuffered: a request is either taken by the writer or refused
		// once closing, never left in a buffer nobody reads.
		requests:  make(chan *request),
		maxBatch:  opts.MaxBatchBytes,
		closing:   make(chan struct{}),
		writerEnd: make(chan struct{}),
	}
	if l.now == nil {
		l.now = time.Now
	}
	if l.maxBatch <= 0 {
		l.maxBatch = 8 << 20
	}
	head, err := l.recover(opts.Dir != "", tail, tailKnown)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	l.live = newLiveWindow(head, opts.LiveBufferEvents, opts.LiveBufferBytes)
	go l.writeLoop(head)
	return l, nil
}

// recover finds the last position and tells whether the previous run ended
// cleanly. Pebble replays its write-ahead log on open and stops at the first
// record that is not whole, so a write torn by a crash is discarded there;
// such a write was never acknowledged, because acknowledgement waits for the
// sync. What remains is all-or-nothing per group commit.
func (l *Log) recover(onDisk bool, tail walTail, tailKnown bool) (uint64, error) {
	head, err := l.lastPosition()
	if err != nil {
		return 0, err
	}
	_, closer, err := l.db.Get([]byte{keyClean})
	switch {
	case err == nil:
		_ = closer.Close()
		if err := l.db.Delete([]byte{keyClean}, pebble.Sync); err != nil {
			return 0, fmt.Errorf("eventlog: clear shutdown marker: %w", err)
		}
	case errors.Is(err, pebble.ErrNotFound):
		if !onDisk || head == 0 {
			break
		}
		if tailKnown && tail.torn {
			l.logger.Warn("event store: the previous run did not shut down cleanly; the write-ahead log ended in a torn "+
				"write (cut short by the crash, so never acknowledged): discarded it and recovered everything before it",
				"last_position", head, "wal", tail.file, "last_whole_record_at", tail.valid, "file_bytes", tail.size)
		} else {
			l.logger.Warn("event store: the previous run did not shut down cleanly; recovered from the write-ahead log "+
				"(it ended on a whole record: nothing torn)", "last_position", head)
		}
	default:
		return 0, fmt.Errorf("eventlog: read shutdown marker: %w", err)
	}
	if onDisk {
		l.logger.Info("event store: log opened", "last_position", head)
	}
	return head, nil
}

func (l *Log) lastPosition() (uint64, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: []byte{tableLog}, UpperBound: []byte{tableLog + 1}})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	if !it.Last() {
		return 0, it.Error()
	}
	k := it.Key()
	if len(k) != 9 {
		return 0, fmt.Errorf("eventlog: malformed log key %x", k)
	}
	return decodeU64(k[1:]), nil
}

// Head is the position of the last durable event (0 when the log is empty).
func (l *Log) Head() uint64 { return l.live.head() }

// Closing is closed once Close has begun; long waits should end then.
func (l *Log) Closing() <-chan struct{} { return l.closing }

// Shutdown stops accepting writes and wakes every waiting subscriber, without
// closing the storage yet. Close calls it; a server calls it first so that its
// streaming calls end before it waits for them.
func (l *Log) Shutdown() {
	l.closeOnce.Do(func() { close(l.closing) })
}

// Close stops the writer after it has finished the requests it holds, waits
// for reads in flight, records a clean shutdown and closes Pebble.
func (l *Log) Close() error {
	l.Shutdown()
	<-l.writerEnd
	l.readers.Lock()
	defer l.readers.Unlock()
	if l.db == nil {
		return nil
	}
	var errs []error
	if l.failed.Load() == nil {
		errs = append(errs, l.db.Set([]byte{keyClean}, nil, pebble.Sync))
	}
	errs = append(errs, l.db.Close())
	l.db = nil
	return errors.Join(errs...)
}

// read runs fn while holding off Close.
func (l *Log) read(fn func(db *pebble.DB) error) error {
	l.readers.RLock()
	defer l.readers.RUnlock()
	if l.db == nil {
		return ErrClosed
	}
	return fn(l.db)
}

// pebbleLogger sends Pebble's messages to slog. Pebble logs little at info
// level (mostly what it replayed from its write-ahead log at open).
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble: fatal: " + strings.TrimSpace(fmt.Sprintf(format, args...)))
	panic(fmt.Sprintf(format, args...))
}

// submit hands a request to the writer and waits for its outcome.
func (l *Log) submit(ctx context.Context, r *request) error {
	if errp := l.failed.Load(); errp != nil {
		return *errp
	}
	select {
	case <-l.closing:
		return ErrClosed
	default:
	}
	r.done = make(chan struct{})
	select {
	case l.requests <- r:
	case <-l.closing:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the request is decided by the writer whatever the
	// caller does: wait for the answer so it is never ambiguous.
	<-r.done
	return r.err
}
