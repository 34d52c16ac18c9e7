package eventstore_test

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/eventstore"
)

// lastOfAll is the last event of $all.
func lastOfAll(t *testing.T, c *esdb.Client) *esdb.RecordedEvent {
	t.Helper()
	all := mustReadAll(t, testContext(t, testTimeout), c, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if len(all) != 1 {
		t.Fatal("$all is empty")
	}
	return all[0]
}

// TestDeleteStream: a soft-deleted stream reads as not found; a later append
// brings it back, continuing at the next revision, and reads then return only
// the new events. The deletion is a $metadata event of $$<stream> in $all.
func TestDeleteStream(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)

	t.Run("ReadsReportNotFound", func(t *testing.T) {
		mustAppend(t, ctx, c, "del-read", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
		if _, err := c.DeleteStream(ctx, "del-read", esdb.DeleteStreamOptions{}); err != nil {
			t.Fatal(err)
		}
		for name, opts := range map[string]esdb.ReadStreamOptions{
			"forwards":  {From: esdb.Start{}},
			"backwards": {Direction: esdb.Backwards, From: esdb.End{}},
		} {
			_, err := readStream(ctx, c, "del-read", opts, 10)
			if code, ok := errorCode(err); !ok || code != esdb.ErrorCodeResourceNotFound {
				t.Errorf("%s: got %v, want resource not found", name, err)
			}
		}
	})

	t.Run("WritesMetadataEventToAll", func(t *testing.T) {
		mustAppend(t, ctx, c, "del-all", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
		res, err := c.DeleteStream(ctx, "del-all", esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(2)})
		if err != nil {
			t.Fatal(err)
		}
		e := lastOfAll(t, c)
		if e.StreamID != "$$del-all" || e.EventType != "$metadata" {
			t.Fatalf("last event of $all is %q in %q, want $metadata in $$del-all", e.EventType, e.StreamID)
		}
		if res.Position.Commit != e.Position.Commit {
			t.Errorf("the delete answered position %d, the $metadata event is at %d", res.Position.Commit, e.Position.Commit)
		}
		// As in EventStoreDB, a soft delete truncates before
		// EventNumber.DeletedStream (the largest int64).
		var meta map[string]json.Number
		dec := json.NewDecoder(bytes.NewReader(e.Data))
		dec.UseNumber()
		if err := dec.Decode(&meta); err != nil || meta["$tb"] != json.Number(strconv.FormatInt(math.MaxInt64, 10)) {
			t.Errorf("the $metadata event holds %s (decode error %v), want $tb %d", e.Data, err, int64(math.MaxInt64))
		}
	})

	t.Run("AppendContinuesAtNextRevision", func(t *testing.T) {
		mustAppend(t, ctx, c, "del-again", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
		if _, err := c.DeleteStream(ctx, "del-again", esdb.DeleteStreamOptions{ExpectedRevision: esdb.StreamExists{}}); err != nil {
			t.Fatal(err)
		}
		fresh := numberedEvents("F", 0, 2)
		res := mustAppend(t, ctx, c, "del-again", esdb.Any{}, fresh...)
		if res.NextExpectedVersion != 4 {
			t.Fatalf("the append after the delete ends at revision %d, want 4 (revisions 3 and 4)", res.NextExpectedVersion)
		}
		events := mustReadStream(t, ctx, c, "del-again", esdb.ReadStreamOptions{}, 100)
		requireUints(t, "revisions forwards", revisions(events), []uint64{3, 4})
		requireIDs(t, "events", eventIDs(events), dataIDs(fresh))
		requireUints(t, "revisions backwards", revisions(mustReadStream(t, ctx, c, "del-again",
			esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 100)), []uint64{4, 3})
		mustAppend(t, ctx, c, "del-again", esdb.Revision(4), jsonEvent("F", `{}`))
		requireUints(t, "revisions after one more", revisions(mustReadStream(t, ctx, c, "del-again", esdb.ReadStreamOptions{}, 100)), []uint64{3, 4, 5})
	})

	t.Run("WrongExpectedRevisionFailsAndChangesNothing", func(t *testing.T) {
		mustAppend(t, ctx, c, "del-wrong", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
		before := lastOfAll(t, c)
		for name, expected := range map[string]esdb.ExpectedRevision{
			"behind":    esdb.Revision(1),
			"ahead":     esdb.Revision(7),
			"no stream": esdb.NoStream{},
		} {
			if _, err := c.DeleteStream(ctx, "del-wrong", esdb.DeleteStreamOptions{ExpectedRevision: expected}); err == nil {
				t.Errorf("delete expecting %s succeeded on a stream at revision 2", name)
			}
		}
		requireUints(t, "revisions", revisions(mustReadStream(t, ctx, c, "del-wrong", esdb.ReadStreamOptions{}, 100)), span(0, 3, 1))
		if after := lastOfAll(t, c); after.Position != before.Position {
			t.Fatalf("$all grew from %d to %d (%s in %s)", before.Position.Commit, after.Position.Commit, after.EventType, after.StreamID)
		}
	})
}

// TestTombstoneStream: a tombstoned stream is gone for good: reads and
// appends fail with StreamDeleted, and so does a second tombstone. The
// tombstone is a $streamDeleted event in $all.
func TestTombstoneStream(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	mustAppend(t, ctx, c, "dead", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
	res, err := c.TombstoneStream(ctx, "dead", esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Revision(2)})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ReadsReportStreamDeleted", func(t *testing.T) {
		for name, opts := range map[string]esdb.ReadStreamOptions{
			"forwards":  {From: esdb.Start{}},
			"backwards": {Direction: esdb.Backwards, From: esdb.End{}},
		} {
			_, err := readStream(ctx, c, "dead", opts, 10)
			if code, ok := errorCode(err); !ok || code != esdb.ErrorCodeStreamDeleted {
				t.Errorf("%s: got %v, want stream deleted", name, err)
			}
		}
	})
	t.Run("AppendsReportStreamDeleted", func(t *testing.T) {
		for name, expected := range map[string]esdb.ExpectedRevision{
			"any":       esdb.Any{},
			"no stream": esdb.NoStream{},
			"revision":  esdb.Revision(2),
		} {
			_, err := c.AppendToStream(ctx, "dead", esdb.AppendToStreamOptions{ExpectedRevision: expected}, jsonEvent("E", `{}`))
			if code, ok := errorCode(err); !ok || code != esdb.ErrorCodeStreamDeleted {
				t.Errorf("append expecting %s: got %v, want stream deleted", name, err)
			}
		}
	})
	t.Run("WritesStreamDeletedEventToAll", func(t *testing.T) {
		all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 100)
		requireAllContiguous(t, all)
		if len(all) != 4 {
			t.Fatalf("$all holds %d events, want the 3 events and the tombstone", len(all))
		}
		e := all[3]
		if e.StreamID != "dead" || e.EventType != "$streamDeleted" || e.EventNumber != math.MaxInt64 {
			t.Fatalf("the last event of $all is %q in %q at revision %d, want $streamDeleted in dead at the largest int64", e.EventType, e.StreamID, e.EventNumber)
		}
		if res.Position.Commit != e.Position.Commit {
			t.Errorf("the tombstone answered position %d, the $streamDeleted event is at %d", res.Position.Commit, e.Position.Commit)
		}
	})
	t.Run("SecondTombstoneReportsStreamDeleted", func(t *testing.T) {
		_, err := c.TombstoneStream(ctx, "dead", esdb.TombstoneStreamOptions{})
		requireErrorCode(t, err, esdb.ErrorCodeStreamDeleted)
	})
	t.Run("SoftDeleteReportsStreamDeleted", func(t *testing.T) {
		_, err := c.DeleteStream(ctx, "dead", esdb.DeleteStreamOptions{})
		requireErrorCode(t, err, esdb.ErrorCodeStreamDeleted)
	})
	t.Run("NothingMoreWritten", func(t *testing.T) {
		if e := lastOfAll(t, c); e.Position.Commit != 4 {
			t.Fatalf("$all ends at %d with %s in %s; refused operations must write nothing", e.Position.Commit, e.EventType, e.StreamID)
		}
	})
	t.Run("WrongExpectedRevisionFailsAndChangesNothing", func(t *testing.T) {
		mustAppend(t, ctx, c, "alive", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
		before := lastOfAll(t, c)
		for name, expected := range map[string]esdb.ExpectedRevision{
			"behind":    esdb.Revision(0),
			"ahead":     esdb.Revision(3),
			"no stream": esdb.NoStream{},
		} {
			if _, err := c.TombstoneStream(ctx, "alive", esdb.TombstoneStreamOptions{ExpectedRevision: expected}); err == nil {
				t.Errorf("tombstone expecting %s succeeded on a stream at revision 2", name)
			}
		}
		requireUints(t, "revisions", revisions(mustReadStream(t, ctx, c, "alive", esdb.ReadStreamOptions{}, 100)), span(0, 3, 1))
		mustAppend(t, ctx, c, "alive", esdb.Revision(2), jsonEvent("E", `{}`))
		if after := lastOfAll(t, c); after.Position.Commit != before.Position.Commit+1 {
			t.Fatalf("$all went from %d to %d over the refused tombstones and one append", before.Position.Commit, after.Position.Commit)
		}
	})
}
