package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/app/command"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// memStore is an event store in memory with exact expected revisions, as
// the real one; it counts the reads that reach it.
type memStore struct {
	mu      sync.Mutex
	streams map[string][]command.RecordedEvent
	loads   int
}

func newMemStore() *memStore { return &memStore{streams: map[string][]command.RecordedEvent{}} }

func (s *memStore) Load(_ context.Context, stream string) ([]command.RecordedEvent, int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	events := s.streams[stream]
	return events, int64(len(events)) - 1, nil
}

func (s *memStore) Append(_ context.Context, stream string, expectedRevision int64, events []command.NewEvent) (command.AppendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	current := s.streams[stream]
	if int64(len(current))-1 != expectedRevision {
		return command.AppendResult{}, command.ErrConcurrencyConflict
	}
	next := append([]command.RecordedEvent(nil), current...)
	for _, e := range events {
		next = append(next, command.RecordedEvent{ID: e.ID, Event: e.Event, Metadata: e.Metadata, Revision: uint64(len(next))})
	}
	s.streams[stream] = next
	return command.AppendResult{Revision: uint64(len(next) - 1), Position: uint64(len(next))}, nil
}

func (s *memStore) loadCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// bigEvent is an event holding about size bytes (a long denial reason).
func bigEvent(size int) command.NewEvent {
	return command.NewEvent{ID: uuid.New(), Event: &loansv1.LoanDenied{LoanApplicationUuid: uuid.NewString(), Reason: strings.Repeat("r", size)},
		Metadata: loanevents.Metadata{CommandID: uuid.NewString(), Actor: "officer@lender.example"}}
}

// A flood of streams much larger in all than the bound, appended and read
// from several goroutines: the estimate never exceeds the bound, the cache
// keeps serving reads, and every revision it gives is the store's.
func TestCache_BoundedByBytes(t *testing.T) {
	const maxBytes = 1 << 20
	store := newMemStore()
	cache := NewCache(store, maxBytes)
	ctx := t.Context()

	const writers, streamsEach, eventsEach, eventSize = 4, 100, 3, 16 << 10 // 4 × 100 × 48 KiB: about 19 MiB
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		over    int64
		streams []string
	)
	for w := range writers {
		wg.Go(func() {
			for i := range streamsEach {
				stream := fmt.Sprintf("loanReview-%d-%d", w, i)
				for rev := range eventsEach {
					// Load first, as the use cases do, then append at
					// the revision it gave.
					_, loaded, err := cache.Load(ctx, stream)
					if err != nil {
						t.Error(err)
						return
					}
					if loaded != int64(rev)-1 {
						t.Errorf("%s: Load gave revision %d; want %d", stream, loaded, rev-1)
						return
					}
					if _, err := cache.Append(ctx, stream, loaded, []command.NewEvent{bigEvent(eventSize)}); err != nil {
						t.Errorf("%s: append at %d: %v", stream, loaded, err)
						return
					}
					if b := cache.Bytes(); b > maxBytes {
						mu.Lock()
						over = max(over, b)
						mu.Unlock()
					}
				}
				mu.Lock()
				streams = append(streams, stream)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if over > 0 {
		t.Fatalf("the cache's estimate reached %d bytes; bound %d", over, maxBytes)
	}
	if b := cache.Bytes(); b < maxBytes/2 {
		t.Fatalf("after the flood the cache holds %d bytes; want it used (bound %d)", b, maxBytes)
	}

	t.Run("every revision is the store's", func(t *testing.T) {
		for _, stream := range streams {
			events, rev, err := cache.Load(ctx, stream)
			if err != nil || rev != eventsEach-1 || len(events) != eventsEach {
				t.Fatalf("%s: Load = %d events at revision %d, %v; want %d at %d", stream, len(events), rev, err, eventsEach, eventsEach-1)
			}
			for i, e := range events {
				if e.Revision != uint64(i) {
					t.Fatalf("%s: event %d has revision %d", stream, i, e.Revision)
				}
			}
		}
		if b := cache.Bytes(); b > maxBytes {
			t.Fatalf("after reading every stream the estimate is %d; bound %d", b, maxBytes)
		}
	})

	t.Run("a recent stream is served without a read", func(t *testing.T) {
		stream := streams[len(streams)-1]
		if _, _, err := cache.Load(ctx, stream); err != nil {
			t.Fatal(err)
		}
		before := store.loadCount()
		if _, rev, err := cache.Load(ctx, stream); err != nil || rev != eventsEach-1 {
			t.Fatalf("Load = %d, %v", rev, err)
		}
		if store.loadCount() != before {
			t.Fatal("a stream just read was read again from the store")
		}
	})

	t.Run("a change by another process is caught by the exact revision", func(t *testing.T) {
		stream := streams[len(streams)-1]
		_, cached, _ := cache.Load(ctx, stream)
		if _, err := store.Append(ctx, stream, cached, []command.NewEvent{bigEvent(10)}); err != nil { // another instance
			t.Fatal(err)
		}
		_, err := cache.Append(ctx, stream, cached, []command.NewEvent{bigEvent(10)})
		if !errors.Is(err, command.ErrConcurrencyConflict) {
			t.Fatalf("append at the stale cached revision: %v; want ErrConcurrencyConflict", err)
		}
		if _, rev, err := cache.Load(ctx, stream); err != nil || rev != cached+1 {
			t.Fatalf("Load after the conflict = revision %d, %v; want %d (the store's)", rev, err, cached+1)
		}
	})

	t.Run("a stream larger than the bound is read, not kept", func(t *testing.T) {
		small := NewCache(store, 4<<10)
		stream := streams[0] // about 48 KiB
		for range 2 {
			if _, rev, err := small.Load(ctx, stream); err != nil || rev != eventsEach-1 {
				t.Fatalf("Load = %d, %v", rev, err)
			}
		}
		if b := small.Bytes(); b != 0 {
			t.Fatalf("a cache bounded at 4 KiB holds %d bytes", b)
		}
	})
}
