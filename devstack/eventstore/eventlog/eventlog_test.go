package eventlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openMem(t *testing.T, opts Options) *Log {
	t.Helper()
	opts.Logger = quietLogger()
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

func events(n int, typ string) []ProposedEvent {
	out := make([]ProposedEvent, n)
	for i := range out {
		out[i] = ProposedEvent{ID: uuid.New(), Type: typ, ContentType: "application/json", Data: []byte(fmt.Sprintf(`{"i":%d}`, i))}
	}
	return out
}

func TestRecord_RoundTrip(t *testing.T) {
	e := Event{Position: 7, Stream: "loanRequest-1", Revision: 3, ID: uuid.New(), Type: "LoanRequested",
		ContentType: "application/json", Created: time.Now().UnixNano(), Metadata: []byte(`{"m":1}`), Data: []byte(`{"d":2}`)}
	got, err := decodeRecord(7, encodeRecord(&e))
	if err != nil {
		t.Fatal(err)
	}
	if got.Stream != e.Stream || got.Revision != e.Revision || got.ID != e.ID || got.Type != e.Type ||
		got.ContentType != e.ContentType || got.Created != e.Created || !bytes.Equal(got.Metadata, e.Metadata) || !bytes.Equal(got.Data, e.Data) {
		t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", got, e)
	}
	t.Run("ErrCorruptRecord", func(t *testing.T) {
		b := encodeRecord(&e)
		if _, err := decodeRecord(7, b[:len(b)-1]); !errors.Is(err, errCorruptRecord) {
			t.Fatalf("truncated record: got %v", err)
		}
	})
}

func TestStreamInfo_RoundTrip(t *testing.T) {
	s := streamInfo{id: 9, next: 12, tombstoned: true, meta: Metadata{MaxCount: 3, MaxAgeSeconds: 60, TruncateBefore: softDeletedTB}}
	got, err := decodeStreamInfo(s.encode())
	if err != nil || got != s {
		t.Fatalf("got %+v, %v; want %+v", got, err, s)
	}
}

func TestLog_GroupCommit(t *testing.T) {
	l := openMem(t, Options{})
	ctx := context.Background()
	const writers, appends = 16, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				exp := Expected{Kind: ExpectNoStream}
				if i > 0 {
					exp = Expected{Kind: ExpectRevision, Revision: uint64(i*2 - 1)}
				}
				if _, err := l.Append(ctx, fmt.Sprintf("s-%d", w), exp, events(2, "E")); err != nil {
					t.Errorf("writer %d append %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	all, err := l.ReadAllForward(1, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := writers * appends * 2; len(all) != want {
		t.Fatalf("$all holds %d events, want %d", len(all), want)
	}
	for i, e := range all {
		if e.Position != uint64(i+1) {
			t.Fatalf("event %d has position %d: positions must be 1..n without gaps", i, e.Position)
		}
	}
	if l.Head() != uint64(len(all)) {
		t.Fatalf("head %d, want %d", l.Head(), len(all))
	}
}

func TestLog_Append(t *testing.T) {
	ctx := context.Background()
	t.Run("IdempotentInOneBatch", func(t *testing.T) {
		// The same append submitted twice at once lands in one group commit:
		// the second must see the first's events as already written.
		l := openMem(t, Options{})
		evs := events(3, "E")
		var wg sync.WaitGroup
		results := make([]AppendResult, 8)
		for i := range results {
			wg.Go(func() {
				r, err := l.Append(ctx, "s", Expected{Kind: ExpectNoStream}, evs)
				if err != nil {
					t.Errorf("append %d: %v", i, err)
				}
				results[i] = r
			})
		}
		wg.Wait()
		for _, r := range results {
			if r != results[0] || r.LastRevision != 2 || r.Position != 3 {
				t.Fatalf("results differ or are wrong: %+v", results)
			}
		}
		if l.Head() != 3 {
			t.Fatalf("head %d: duplicates were written", l.Head())
		}
	})
	t.Run("ErrWrongExpectedVersion", func(t *testing.T) {
		l := openMem(t, Options{})
		if _, err := l.Append(ctx, "s", Expected{Kind: ExpectAny}, events(2, "E")); err != nil {
			t.Fatal(err)
		}
		_, err := l.Append(ctx, "s", Expected{Kind: ExpectRevision, Revision: 0}, events(1, "E"))
		var wrong *WrongExpectedVersionError
		if !errors.As(err, &wrong) || wrong.Current != 1 {
			t.Fatalf("got %v, want wrong expected version with current 1", err)
		}
	})
	t.Run("EmptyAppendChecksOnly", func(t *testing.T) {
		l := openMem(t, Options{})
		r, err := l.Append(ctx, "s", Expected{Kind: ExpectNoStream}, nil)
		if err != nil || r.LastRevision != -1 || r.Position != 0 || l.Head() != 0 {
			t.Fatalf("got %+v, %v", r, err)
		}
	})
	t.Run("ErrInvalidStream", func(t *testing.T) {
		l := openMem(t, Options{})
		if _, err := l.Append(ctx, "", Expected{}, events(1, "E")); !errors.Is(err, ErrInvalidStream) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestLog_SoftDeleteThenAppend(t *testing.T) {
	ctx := context.Background()
	l := openMem(t, Options{})
	if _, err := l.Append(ctx, "s", Expected{Kind: ExpectNoStream}, events(3, "E")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Delete(ctx, "s", Expected{Kind: ExpectRevision, Revision: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ReadStreamForward("s", 0, 10, nil); !errors.Is(err, ErrStreamNotFound) {
		t.Fatalf("read after delete: %v", err)
	}
	r, err := l.Append(ctx, "s", Expected{Kind: ExpectNoStream}, events(1, "E"))
	if err != nil || r.LastRevision != 3 {
		t.Fatalf("append after delete: %+v, %v; want revision 3", r, err)
	}
	got, err := l.ReadStreamForward("s", 0, 10, nil)
	if err != nil || len(got) != 1 || got[0].Revision != 3 {
		t.Fatalf("read after undelete: %v, %v", got, err)
	}
	st, _, _ := l.Stream("s")
	if st.Metadata.TruncateBefore != 3 {
		t.Fatalf("$tb after undelete is %d, want 3", st.Metadata.TruncateBefore)
	}
}

func TestLiveWindow_BoundedAndConsecutive(t *testing.T) {
	w := newLiveWindow(0, 4, 1<<20)
	var batch []Event
	for i := uint64(1); i <= 10; i++ {
		batch = append(batch, Event{Position: i})
	}
	w.publish(batch)
	if got, ok := w.after(5, 10, nil); ok {
		t.Fatalf("position 6 was evicted, yet the window answered %v", got)
	}
	got, ok := w.after(6, 10, nil)
	if !ok || len(got) != 4 || got[0].Position != 7 || got[3].Position != 10 {
		t.Fatalf("after 6: %v %v", got, ok)
	}
	if got, ok := w.after(10, 10, nil); !ok || len(got) != 0 {
		t.Fatalf("after head: %v %v", got, ok)
	}
	t.Run("BytesBound", func(t *testing.T) {
		w := newLiveWindow(0, 100, 1000)
		for i := uint64(1); i <= 10; i++ {
			w.publish([]Event{{Position: i, Data: make([]byte, 300)}})
		}
		if w.bytes > 1000 || w.count != 2 {
			t.Fatalf("window holds %d events, %d bytes", w.count, w.bytes)
		}
	})
}

func TestSubscription_SlowSubscriberReadsFromDisk(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := openMem(t, Options{LiveBufferEvents: 8})
	sub := l.SubscribeAll(0)
	if u, err := sub.Next(ctx); err != nil || !u.CaughtUp {
		t.Fatalf("empty log: %+v %v", u, err)
	}
	for range 100 {
		if _, err := l.Append(ctx, "s", Expected{}, events(1, "E")); err != nil {
			t.Fatal(err)
		}
	}
	var next uint64 = 1
	sawFellBehind := false
	for next <= 100 {
		u, err := sub.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sawFellBehind = sawFellBehind || u.FellBehind
		for _, e := range u.Events {
			if e.Position != next {
				t.Fatalf("got position %d, want %d", e.Position, next)
			}
			next++
		}
	}
	if !sawFellBehind {
		t.Fatal("a subscriber 100 events behind an 8-event window must be told it fell behind")
	}
}

func TestLog_ReopenKeepsPositions(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, err := Open(Options{Dir: dir, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(ctx, "s", Expected{}, events(5, "E")); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	l, err = Open(Options{Dir: dir, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.Append(ctx, "s", Expected{Kind: ExpectRevision, Revision: 4}, events(1, "E"))
	if err != nil || r.Position != 6 || r.LastRevision != 5 {
		t.Fatalf("after reopen: %+v %v", r, err)
	}
	if bytes.Contains(logs.Bytes(), []byte("did not shut down cleanly")) {
		t.Fatalf("a clean shutdown was reported as unclean: %s", logs.String())
	}
}

// copyDir copies a live data directory: after a synced commit that is what a
// crash would leave on disk.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLog_RecoversFromTornWALTail(t *testing.T) {
	ctx := context.Background()
	live, crashed := t.TempDir(), t.TempDir()
	l, err := Open(Options{Dir: live, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(ctx, "s", Expected{Kind: ExpectNoStream}, events(3, "E")); err != nil {
		t.Fatal(err)
	}
	big := events(4, "E")
	for i := range big {
		big[i].Data = bytes.Repeat([]byte("x"), 10_000)
	}
	if _, err := l.Append(ctx, "s", Expected{Kind: ExpectRevision, Revision: 2}, big); err != nil {
		t.Fatal(err)
	}
	copyDir(t, live, crashed)

	// Cut the last write (the 40 KB append) in the middle, as a crash during
	// its write would.
	wals, _ := filepath.Glob(filepath.Join(crashed, "*.log"))
	if len(wals) == 0 {
		t.Fatal("no write-ahead log in the data directory")
	}
	walFile := wals[len(wals)-1]
	tail, ok, err := inspectWALTail(crashed)
	if err != nil || !ok || tail.torn {
		t.Fatalf("before the cut: %+v %v %v", tail, ok, err)
	}
	if err := os.Truncate(walFile, tail.valid+20_000); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	recovered, err := Open(Options{Dir: crashed, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer recovered.Close()
	t.Log(logs.String())
	if !bytes.Contains(logs.Bytes(), []byte("ended in a torn write")) {
		t.Fatalf("recovery did not report the torn write:\n%s", logs.String())
	}
	got, err := recovered.ReadAllForward(1, 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The torn append is gone as a whole; the one before it is intact.
	if len(got) != 3 || recovered.Head() != 3 {
		t.Fatalf("recovered %d events (head %d), want the 3 of the first append", len(got), recovered.Head())
	}
	r, err := recovered.Append(ctx, "s", Expected{Kind: ExpectRevision, Revision: 2}, events(1, "E"))
	if err != nil || r.Position != 4 || r.LastRevision != 3 {
		t.Fatalf("append after recovery: %+v %v", r, err)
	}
}
