package eventstore_test

import (
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
)

// TestReadStream: a stream reads forwards or backwards from its start, its
// end or a revision (inclusive), returning at most count events.
func TestReadStream(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	mustAppend(t, ctx, c, "other", esdb.NoStream{}, numberedEvents("Other", 0, 2)...)
	mustAppend(t, ctx, c, "s", esdb.NoStream{}, numberedEvents("E", 0, 4)...)
	mustAppend(t, ctx, c, "other", esdb.Any{}, numberedEvents("Other", 2, 2)...)
	mustAppend(t, ctx, c, "s", esdb.Revision(3), numberedEvents("E", 4, 6)...) // s: revisions 0..9

	for _, tc := range []struct {
		name  string
		opts  esdb.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"ForwardsFromStart", esdb.ReadStreamOptions{From: esdb.Start{}}, 100, span(0, 10, 1)},
		{"ForwardsFromStartWithCount", esdb.ReadStreamOptions{From: esdb.Start{}}, 3, span(0, 3, 1)},
		{"ForwardsFromRevisionIsInclusive", esdb.ReadStreamOptions{From: esdb.Revision(4)}, 100, span(4, 6, 1)},
		{"ForwardsFromRevisionWithCount", esdb.ReadStreamOptions{From: esdb.Revision(4)}, 2, span(4, 2, 1)},
		{"ForwardsFromLastRevision", esdb.ReadStreamOptions{From: esdb.Revision(9)}, 100, []uint64{9}},
		{"ForwardsPastTheEndIsEmpty", esdb.ReadStreamOptions{From: esdb.Revision(10)}, 100, []uint64{}},
		{"ForwardsFromEndIsEmpty", esdb.ReadStreamOptions{From: esdb.End{}}, 100, []uint64{}},
		{"BackwardsFromEnd", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100, span(9, 10, -1)},
		{"BackwardsFromEndWithCount", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 3, span(9, 3, -1)},
		{"BackwardsFromRevisionIsInclusive", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(5)}, 100, span(5, 6, -1)},
		{"BackwardsFromRevisionWithCount", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(5)}, 2, []uint64{5, 4}},
		{"BackwardsFromStartReadsTheFirstEvent", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Start{}}, 100, []uint64{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := mustReadStream(t, ctx, c, "s", tc.opts, tc.count)
			requireUints(t, "revisions", revisions(events), tc.want)
			for _, e := range events {
				if e.StreamID != "s" {
					t.Fatalf("read an event of stream %q", e.StreamID)
				}
			}
		})
	}
}

// TestReadStream_LongStream: reads are not limited by how the server pages
// through the log (it reads 512 events at a time).
func TestReadStream_LongStream(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	const n = 1300
	for i := 0; i < n; i += 100 {
		mustAppend(t, ctx, c, "long", esdb.Any{}, numberedEvents("E", i, 100)...)
		mustAppend(t, ctx, c, "noise", esdb.Any{}, numberedEvents("Noise", i, 1)...)
	}
	for _, tc := range []struct {
		name  string
		opts  esdb.ReadStreamOptions
		count uint64
		want  []uint64
	}{
		{"ForwardsEverything", esdb.ReadStreamOptions{From: esdb.Start{}}, 10_000, span(0, n, 1)},
		{"ForwardsExactCountAcrossPages", esdb.ReadStreamOptions{From: esdb.Revision(300)}, 700, span(300, 700, 1)},
		{"ForwardsCountOfOnePage", esdb.ReadStreamOptions{From: esdb.Start{}}, 512, span(0, 512, 1)},
		{"ForwardsCountJustOverOnePage", esdb.ReadStreamOptions{From: esdb.Start{}}, 513, span(0, 513, 1)},
		{"BackwardsEverything", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10_000, span(n-1, n, -1)},
		{"BackwardsExactCountAcrossPages", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1000)}, 600, span(1000, 600, -1)},
		{"BackwardsToTheStartAcrossPages", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1023)}, 5000, span(1023, 1024, -1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireUints(t, "revisions", revisions(mustReadStream(t, ctx, c, "long", tc.opts, tc.count)), tc.want)
		})
	}
}

// TestReadStream_NotFound: reading a stream that has no events reports
// ResourceNotFound from Recv.
func TestReadStream_NotFound(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	mustAppend(t, ctx, c, "exists", esdb.NoStream{}, jsonEvent("E", `{}`))
	var meta esdb.StreamMetadata
	meta.SetMaxCount(5)
	if _, err := c.SetStreamMetadata(ctx, "metadata-only", esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		stream string
		opts   esdb.ReadStreamOptions
	}{
		{"NeverWrittenForwards", "never-written", esdb.ReadStreamOptions{}},
		{"NeverWrittenBackwards", "never-written", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}},
		{"NeverWrittenFromRevision", "never-written", esdb.ReadStreamOptions{From: esdb.Revision(3)}},
		{"OnlyMetadataWritten", "metadata-only", esdb.ReadStreamOptions{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := c.ReadStream(ctx, tc.stream, tc.opts, 10)
			if err != nil {
				t.Fatalf("ReadStream itself failed (the error belongs to Recv): %v", err)
			}
			defer rs.Close()
			e, err := rs.Recv()
			if e != nil {
				t.Fatalf("read an event %s@%d from a stream that does not exist", e.OriginalEvent().StreamID, e.OriginalEvent().EventNumber)
			}
			requireErrorCode(t, err, esdb.ErrorCodeResourceNotFound)
		})
	}
}

// TestReadAll: $all reads forwards from the start, from a position
// (inclusive) or from the end (nothing), and backwards from the end or from
// a position (exclusive: the events before it).
func TestReadAll(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	const n = 12
	for i := 0; i < n; i += 3 {
		mustAppend(t, ctx, c, "a", esdb.Any{}, numberedEvents("A", i, 2)...)
		mustAppend(t, ctx, c, "b", esdb.Any{}, numberedEvents("B", i, 1)...)
	}
	at := func(p uint64) esdb.Position { return esdb.Position{Commit: p, Prepare: p} }

	all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 1000)
	if len(all) != n {
		t.Fatalf("$all holds %d events, want %d", len(all), n)
	}
	requireAllContiguous(t, all)

	for _, tc := range []struct {
		name  string
		opts  esdb.ReadAllOptions
		count uint64
		want  []uint64
	}{
		{"ForwardsFromStart", esdb.ReadAllOptions{From: esdb.Start{}}, 1000, span(1, n, 1)},
		{"ForwardsFromStartWithCount", esdb.ReadAllOptions{From: esdb.Start{}}, 5, span(1, 5, 1)},
		{"ForwardsFromPositionIsInclusive", esdb.ReadAllOptions{From: at(5)}, 1000, span(5, n-4, 1)},
		{"ForwardsFromPositionWithCount", esdb.ReadAllOptions{From: at(5)}, 3, span(5, 3, 1)},
		{"ForwardsFromEndIsEmpty", esdb.ReadAllOptions{From: esdb.End{}}, 1000, []uint64{}},
		{"BackwardsFromEnd", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1000, span(n, n, -1)},
		{"BackwardsFromEndWithCount", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 4, span(n, 4, -1)},
		{"BackwardsFromPositionIsExclusive", esdb.ReadAllOptions{Direction: esdb.Backwards, From: at(5)}, 1000, span(4, 4, -1)},
		{"BackwardsFromPositionWithCount", esdb.ReadAllOptions{Direction: esdb.Backwards, From: at(5)}, 2, []uint64{4, 3}},
		{"BackwardsFromStartIsEmpty", esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.Start{}}, 1000, []uint64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			events := mustReadAll(t, ctx, c, tc.opts, tc.count)
			requireUints(t, "positions", commitPositions(events), tc.want)
			for _, e := range events {
				// Each event is the one at its position in the full read.
				if ref := all[e.Position.Commit-1]; e.EventID != ref.EventID || e.StreamID != ref.StreamID || e.EventNumber != ref.EventNumber {
					t.Fatalf("event at %d is %s %s@%d, the full read has %s %s@%d there", e.Position.Commit,
						e.EventID, e.StreamID, e.EventNumber, ref.EventID, ref.StreamID, ref.EventNumber)
				}
			}
		})
	}
}

// TestReadAll_LongLog: $all reads page through a long log seamlessly.
func TestReadAll_LongLog(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	const n = 1200
	for i := 0; i < n; i += 200 {
		mustAppend(t, ctx, c, "long", esdb.Any{}, numberedEvents("E", i, 200)...)
	}
	t.Run("ForwardsEverything", func(t *testing.T) {
		all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 10_000)
		requireAllContiguous(t, all)
		if len(all) != n {
			t.Fatalf("read %d events, want %d", len(all), n)
		}
	})
	t.Run("ForwardsExactCountAcrossPages", func(t *testing.T) {
		events := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Position{Commit: 100, Prepare: 100}}, 1000)
		requireUints(t, "positions", commitPositions(events), span(100, 1000, 1))
	})
	t.Run("BackwardsEverything", func(t *testing.T) {
		events := mustReadAll(t, ctx, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 10_000)
		requireUints(t, "positions", commitPositions(events), span(n, n, -1))
	})
	t.Run("BackwardsExactCountAcrossPages", func(t *testing.T) {
		events := mustReadAll(t, ctx, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.Position{Commit: 1100, Prepare: 1100}}, 700)
		requireUints(t, "positions", commitPositions(events), span(1099, 700, -1))
	})
}

// TestStreamMetadata: metadata set with SetStreamMetadata is stored as a
// $metadata event in the stream's metastream $$<stream>, is returned by
// GetStreamMetadata, and is honoured by stream reads: $maxCount keeps the
// last N events, $tb hides the revisions before it, $maxAge hides events
// older than the age.
func TestStreamMetadata(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	setMeta := func(t *testing.T, stream string, meta esdb.StreamMetadata) *esdb.WriteResult {
		t.Helper()
		res, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta)
		if err != nil {
			t.Fatalf("set metadata of %q: %v", stream, err)
		}
		return res
	}

	t.Run("MaxCountKeepsTheLastEvents", func(t *testing.T) {
		mustAppend(t, ctx, c, "maxcount", esdb.NoStream{}, numberedEvents("E", 0, 10)...)
		var meta esdb.StreamMetadata
		meta.SetMaxCount(3)
		setMeta(t, "maxcount", meta)
		requireUints(t, "forwards", revisions(mustReadStream(t, ctx, c, "maxcount", esdb.ReadStreamOptions{}, 100)), []uint64{7, 8, 9})
		requireUints(t, "backwards", revisions(mustReadStream(t, ctx, c, "maxcount",
			esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100)), []uint64{9, 8, 7})
		mustAppend(t, ctx, c, "maxcount", esdb.Revision(9), jsonEvent("E", `{}`))
		requireUints(t, "after one more", revisions(mustReadStream(t, ctx, c, "maxcount", esdb.ReadStreamOptions{}, 100)), []uint64{8, 9, 10})
	})
	t.Run("TruncateBeforeHidesEarlierRevisions", func(t *testing.T) {
		mustAppend(t, ctx, c, "tb", esdb.NoStream{}, numberedEvents("E", 0, 10)...)
		var meta esdb.StreamMetadata
		meta.SetTruncateBefore(6)
		setMeta(t, "tb", meta)
		requireUints(t, "forwards", revisions(mustReadStream(t, ctx, c, "tb", esdb.ReadStreamOptions{}, 100)), span(6, 4, 1))
		requireUints(t, "forwards from a hidden revision", revisions(mustReadStream(t, ctx, c, "tb",
			esdb.ReadStreamOptions{From: esdb.Revision(2)}, 100)), span(6, 4, 1))
		requireUints(t, "backwards", revisions(mustReadStream(t, ctx, c, "tb",
			esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100)), span(9, 4, -1))
		requireUints(t, "backwards from a hidden revision", revisions(mustReadStream(t, ctx, c, "tb",
			esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(3)}, 100)), []uint64{})
	})
	t.Run("MaxAgeHidesOldEvents", func(t *testing.T) {
		var meta esdb.StreamMetadata
		meta.SetMaxAge(time.Second)
		setMeta(t, "maxage", meta)
		appended := time.Now()
		mustAppend(t, ctx, c, "maxage", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
		events := mustReadStream(t, ctx, c, "maxage", esdb.ReadStreamOptions{}, 100)
		if time.Since(appended) < 800*time.Millisecond { // otherwise the machine was too slow to tell
			requireUints(t, "fresh events", revisions(events), span(0, 3, 1))
		}
		// Time passing is the condition here: poll, boundedly, until the
		// events have aged out, and check they did not go too early.
		deadline := time.Now().Add(10 * time.Second)
		for len(events) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("events of a stream with $maxAge 1s still readable %v after they were appended", time.Since(appended))
			}
			time.Sleep(100 * time.Millisecond)
			events = mustReadStream(t, ctx, c, "maxage", esdb.ReadStreamOptions{}, 100)
		}
		if age := time.Since(appended); age < time.Second {
			t.Fatalf("events hidden after %v, before the $maxAge of 1s", age)
		}
		appended = time.Now()
		mustAppend(t, ctx, c, "maxage", esdb.Revision(2), jsonEvent("E", `{}`))
		events = mustReadStream(t, ctx, c, "maxage", esdb.ReadStreamOptions{}, 100)
		if time.Since(appended) < 800*time.Millisecond {
			requireUints(t, "after a fresh append", revisions(events), []uint64{3})
		}
	})
	t.Run("GetReturnsWhatWasSet", func(t *testing.T) {
		var meta esdb.StreamMetadata
		meta.SetMaxCount(50)
		meta.SetMaxAge(2 * time.Hour)
		meta.SetTruncateBefore(4)
		meta.AddCustomProperty("owner", "loans")
		setMeta(t, "roundtrip", meta)
		got, err := c.GetStreamMetadata(ctx, "roundtrip", esdb.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.MaxCount() == nil || *got.MaxCount() != 50 {
			t.Errorf("MaxCount = %v, want 50", got.MaxCount())
		}
		if got.MaxAge() == nil || *got.MaxAge() != 2*time.Hour {
			t.Errorf("MaxAge = %v, want 2h", got.MaxAge())
		}
		if got.TruncateBefore() == nil || *got.TruncateBefore() != 4 {
			t.Errorf("TruncateBefore = %v, want 4", got.TruncateBefore())
		}
		if got.CustomProperty("owner") != "loans" {
			t.Errorf("custom property owner = %v, want loans", got.CustomProperty("owner"))
		}
	})
	t.Run("GetReturnsTheLatest", func(t *testing.T) {
		for i := uint64(1); i <= 3; i++ {
			var meta esdb.StreamMetadata
			meta.SetMaxCount(i)
			setMeta(t, "latest", meta)
		}
		got, err := c.GetStreamMetadata(ctx, "latest", esdb.ReadStreamOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.MaxCount() == nil || *got.MaxCount() != 3 {
			t.Fatalf("MaxCount = %v, want the latest, 3", got.MaxCount())
		}
	})
	t.Run("SettingMetadataAppendsMetadataEventToAll", func(t *testing.T) {
		var meta esdb.StreamMetadata
		meta.SetMaxCount(7)
		res := setMeta(t, "visible", meta)
		all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if len(all) != 1 {
			t.Fatalf("read %d events from the end of $all, want 1", len(all))
		}
		e := all[0]
		if e.StreamID != "$$visible" || e.EventType != "$metadata" || e.Position.Commit != res.CommitPosition {
			t.Fatalf("last event of $all is %q in %q at %d, want $metadata in $$visible at %d", e.EventType, e.StreamID, e.Position.Commit, res.CommitPosition)
		}
		parsed, err := esdb.StreamMetadataFromJson(e.Data)
		if err != nil {
			t.Fatalf("the $metadata event's data is not stream metadata: %v (%s)", err, e.Data)
		}
		if parsed.MaxCount() == nil || *parsed.MaxCount() != 7 {
			t.Fatalf("the $metadata event says MaxCount %v, want 7", parsed.MaxCount())
		}
	})
}

// TestReadStream_ResolveLinks: a link event ($> with data "<revision>@<stream>")
// read with ResolveLinkTos comes back as the event it points at, with the
// link alongside; without it, as the link itself.
func TestReadStream_ResolveLinks(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	targets := numberedEvents("Target", 0, 2)
	mustAppend(t, ctx, c, "target", esdb.NoStream{}, targets...)
	link := esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("1@target")}
	mustAppend(t, ctx, c, "links", esdb.NoStream{}, link)

	read := func(t *testing.T, resolve bool) *esdb.ResolvedEvent {
		t.Helper()
		rs, err := c.ReadStream(ctx, "links", esdb.ReadStreamOptions{ResolveLinkTos: resolve}, 10)
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		e, err := rs.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	t.Run("Resolved", func(t *testing.T) {
		e := read(t, true)
		if e.Event == nil || e.Event.EventID != targets[1].EventID || e.Event.StreamID != "target" || e.Event.EventNumber != 1 {
			t.Fatalf("resolved event %+v, want target@1", e.Event)
		}
		if e.Link == nil || e.Link.EventID != link.EventID || e.Link.StreamID != "links" || e.Link.EventNumber != 0 {
			t.Fatalf("link %+v, want links@0", e.Link)
		}
	})
	t.Run("NotResolved", func(t *testing.T) {
		e := read(t, false)
		if e.Link != nil || e.Event == nil || e.Event.EventID != link.EventID || e.Event.EventType != "$>" {
			t.Fatalf("got event %+v link %+v, want the link event itself", e.Event, e.Link)
		}
	})
}
