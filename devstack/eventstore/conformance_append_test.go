package eventstore_test

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
)

// TestAppend_ExpectedRevision: an append states what it expects of the
// stream; when the stream is otherwise the append is refused as a wrong
// expected version, naming what was expected and what is current, and
// nothing is written.
func TestAppend_ExpectedRevision(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)

	// existing returns a stream that holds revisions 0..2.
	existing := func(t *testing.T, name string) string {
		mustAppend(t, ctx, c, name, esdb.NoStream{}, numberedEvents("Seeded", 0, 3)...)
		return name
	}
	accepted := func(t *testing.T, stream string, expected esdb.ExpectedRevision, wantLast uint64) {
		t.Helper()
		res := mustAppend(t, ctx, c, stream, expected, jsonEvent("Appended", `{}`))
		if res.NextExpectedVersion != wantLast {
			t.Fatalf("NextExpectedVersion = %d, want %d", res.NextExpectedVersion, wantLast)
		}
		events := mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{}, 100)
		requireUints(t, "revisions", revisions(events), span(0, int(wantLast)+1, 1))
	}
	// refused checks the refusal, its message, and that the stream is
	// unchanged: wantRevs is the stream's revisions (nil: no stream).
	refused := func(t *testing.T, stream string, expected esdb.ExpectedRevision, wantExpected, wantCurrent string, wantRevs []uint64) {
		t.Helper()
		_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, jsonEvent("Refused", `{}`))
		requireErrorCode(t, err, esdb.ErrorCodeWrongExpectedVersion)
		if want := fmt.Sprintf("expecting '%s' but got '%s'", wantExpected, wantCurrent); !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
		events, err := readStream(ctx, c, stream, esdb.ReadStreamOptions{}, 100)
		if wantRevs == nil {
			requireErrorCode(t, err, esdb.ErrorCodeResourceNotFound)
			return
		}
		if err != nil {
			t.Fatalf("read back: %v", err)
		}
		requireUints(t, "revisions after the refusal", revisions(events), wantRevs)
	}

	t.Run("AnyOnNewStream", func(t *testing.T) {
		accepted(t, "any-new", esdb.Any{}, 0)
	})
	t.Run("AnyOnExistingStream", func(t *testing.T) {
		accepted(t, existing(t, "any-existing"), esdb.Any{}, 3)
	})
	t.Run("NoStreamOnNewStream", func(t *testing.T) {
		accepted(t, "nostream-new", esdb.NoStream{}, 0)
	})
	t.Run("NoStreamOnExistingStreamIsWrongExpectedVersion", func(t *testing.T) {
		refused(t, existing(t, "nostream-existing"), esdb.NoStream{}, "no_stream", "2", span(0, 3, 1))
	})
	t.Run("StreamExistsOnExistingStream", func(t *testing.T) {
		accepted(t, existing(t, "exists-existing"), esdb.StreamExists{}, 3)
	})
	t.Run("StreamExistsOnNewStreamIsWrongExpectedVersion", func(t *testing.T) {
		refused(t, "exists-new", esdb.StreamExists{}, "stream_exists", "no_stream", nil)
	})
	t.Run("ExactRevisionEqualToLastRevision", func(t *testing.T) {
		accepted(t, existing(t, "exact-match"), esdb.Revision(2), 3)
	})
	t.Run("ExactRevisionBehindIsWrongExpectedVersion", func(t *testing.T) {
		refused(t, existing(t, "exact-behind"), esdb.Revision(1), "1", "2", span(0, 3, 1))
	})
	t.Run("ExactRevisionAheadIsWrongExpectedVersion", func(t *testing.T) {
		refused(t, existing(t, "exact-ahead"), esdb.Revision(5), "5", "2", span(0, 3, 1))
	})
	t.Run("ExactRevisionOnNewStreamIsWrongExpectedVersion", func(t *testing.T) {
		refused(t, "exact-new", esdb.Revision(0), "0", "no_stream", nil)
	})
}

// TestAppend_RevisionsAndPositions: the events of one append get consecutive
// revisions and consecutive $all positions; $all positions start at 1 and
// have no gaps; commit and prepare positions are equal; the write result
// names the last event written.
func TestAppend_RevisionsAndPositions(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)

	a1 := numberedEvents("A", 0, 3)
	b1 := numberedEvents("B", 0, 1)
	a2 := numberedEvents("A", 3, 2)
	r1 := mustAppend(t, ctx, c, "stream-a", esdb.NoStream{}, a1...)
	r2 := mustAppend(t, ctx, c, "stream-b", esdb.NoStream{}, b1...)
	r3 := mustAppend(t, ctx, c, "stream-a", esdb.Revision(2), a2...)

	t.Run("WriteResultNamesLastEvent", func(t *testing.T) {
		for _, tc := range []struct {
			name     string
			res      *esdb.WriteResult
			wantRev  uint64
			wantPosn uint64
		}{{"first append", r1, 2, 3}, {"second stream", r2, 0, 4}, {"second append", r3, 4, 6}} {
			if tc.res.NextExpectedVersion != tc.wantRev || tc.res.CommitPosition != tc.wantPosn || tc.res.PreparePosition != tc.wantPosn {
				t.Errorf("%s: got %+v, want NextExpectedVersion %d at commit = prepare = %d", tc.name, *tc.res, tc.wantRev, tc.wantPosn)
			}
		}
	})
	t.Run("AllPositionsStartAtOneWithoutGaps", func(t *testing.T) {
		all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 100)
		requireAllContiguous(t, all)
		want := []struct {
			stream string
			rev    uint64
		}{{"stream-a", 0}, {"stream-a", 1}, {"stream-a", 2}, {"stream-b", 0}, {"stream-a", 3}, {"stream-a", 4}}
		if len(all) != len(want) {
			t.Fatalf("$all holds %d events, want %d", len(all), len(want))
		}
		for i, w := range want {
			if all[i].StreamID != w.stream || all[i].EventNumber != w.rev {
				t.Errorf("$all[%d] is %s@%d, want %s@%d", i, all[i].StreamID, all[i].EventNumber, w.stream, w.rev)
			}
		}
		requireIDs(t, "$all", eventIDs(all), append(append(dataIDs(a1), dataIDs(b1)...), dataIDs(a2)...))
	})
	t.Run("ConsecutiveRevisionsAcrossAppends", func(t *testing.T) {
		events := mustReadStream(t, ctx, c, "stream-a", esdb.ReadStreamOptions{}, 100)
		requireUints(t, "revisions", revisions(events), span(0, 5, 1))
		requireUints(t, "positions", commitPositions(events), []uint64{1, 2, 3, 5, 6})
		for _, e := range events {
			if e.Position.Prepare != e.Position.Commit {
				t.Errorf("event %d: prepare position %d differs from commit position %d", e.EventNumber, e.Position.Prepare, e.Position.Commit)
			}
		}
		requireIDs(t, "stream-a", eventIDs(events), append(dataIDs(a1), dataIDs(a2)...))
	})
}

// TestAppend_EventRoundTrip: what is appended is read back unchanged: ID,
// type, content type, data, user metadata, stream, and a creation time of
// the append.
func TestAppend_EventRoundTrip(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)

	sent := []esdb.EventData{
		{EventID: uuid.New(), EventType: "LoanRequested", ContentType: esdb.ContentTypeJson,
			Data: []byte(`{"amount":1000,"currency":"EUR"}`), Metadata: []byte(`{"correlationId":"c-1"}`)},
		{EventID: uuid.New(), EventType: "DocumentAttached", ContentType: esdb.ContentTypeBinary,
			Data: []byte{0, 1, 2, 0xff, 0xfe}, Metadata: []byte{9, 8, 7}},
		{EventID: uuid.New(), EventType: "Empty", ContentType: esdb.ContentTypeJson},
	}
	before := time.Now()
	mustAppend(t, ctx, c, "loan-42", esdb.NoStream{}, sent...)
	after := time.Now()

	got := mustReadStream(t, ctx, c, "loan-42", esdb.ReadStreamOptions{}, 10)
	if len(got) != len(sent) {
		t.Fatalf("read %d events, want %d", len(got), len(sent))
	}
	for i, e := range got {
		s := sent[i]
		wantContentType := "application/json"
		if s.ContentType == esdb.ContentTypeBinary {
			wantContentType = "application/octet-stream"
		}
		if e.EventID != s.EventID || e.EventType != s.EventType || e.ContentType != wantContentType || e.StreamID != "loan-42" {
			t.Errorf("event %d: got id %s type %q content type %q stream %q; want %s %q %q %q",
				i, e.EventID, e.EventType, e.ContentType, e.StreamID, s.EventID, s.EventType, wantContentType, "loan-42")
		}
		if !bytes.Equal(e.Data, s.Data) || !bytes.Equal(e.UserMetadata, s.Metadata) {
			t.Errorf("event %d: got data %q metadata %q, want %q %q", i, e.Data, e.UserMetadata, s.Data, s.Metadata)
		}
		// The creation time travels in 100 ns ticks.
		if e.CreatedDate.Before(before.Truncate(100*time.Nanosecond)) || e.CreatedDate.After(after) {
			t.Errorf("event %d: created %v, want between %v and %v", i, e.CreatedDate, before, after)
		}
	}
}

// TestAppend_Idempotent: an append retried with the same event IDs and the
// same expectation succeeds again with the first result and writes nothing
// more; a retry whose IDs only partly match is a conflict.
func TestAppend_Idempotent(t *testing.T) {
	// requireWritten checks both the stream and $all hold exactly ids.
	requireWritten := func(t *testing.T, c *esdb.Client, stream string, ids []uuid.UUID) {
		t.Helper()
		ctx := testContext(t, testTimeout)
		requireIDs(t, "stream "+stream, eventIDs(mustReadStream(t, ctx, c, stream, esdb.ReadStreamOptions{}, 100)), ids)
		all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 100)
		requireAllContiguous(t, all)
		requireIDs(t, "$all", eventIDs(all), ids)
	}
	sameResult := func(t *testing.T, first, retry *esdb.WriteResult) {
		t.Helper()
		if *first != *retry {
			t.Fatalf("the retry answered %+v, want the first result %+v", *retry, *first)
		}
	}

	t.Run("RetryOfFirstAppendWithNoStream", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		events := numberedEvents("Opened", 0, 2)
		first := mustAppend(t, ctx, c, "s", esdb.NoStream{}, events...)
		retry := mustAppend(t, ctx, c, "s", esdb.NoStream{}, events...)
		sameResult(t, first, retry)
		requireWritten(t, c, "s", dataIDs(events))
	})
	t.Run("RetryWithSameExactRevision", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		seed := numberedEvents("Opened", 0, 2)
		mustAppend(t, ctx, c, "s", esdb.NoStream{}, seed...)
		events := numberedEvents("Changed", 2, 3)
		first := mustAppend(t, ctx, c, "s", esdb.Revision(1), events...)
		if first.NextExpectedVersion != 4 {
			t.Fatalf("first append: NextExpectedVersion %d, want 4", first.NextExpectedVersion)
		}
		for i := 0; i < 3; i++ {
			sameResult(t, first, mustAppend(t, ctx, c, "s", esdb.Revision(1), events...))
		}
		requireWritten(t, c, "s", append(dataIDs(seed), dataIDs(events)...))
	})
	t.Run("RetryAfterLaterAppends", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		seed := numberedEvents("Opened", 0, 2)
		mustAppend(t, ctx, c, "s", esdb.NoStream{}, seed...)
		events := numberedEvents("Changed", 2, 1)
		first := mustAppend(t, ctx, c, "s", esdb.Revision(1), events...)
		later := numberedEvents("Changed", 3, 1)
		mustAppend(t, ctx, c, "s", esdb.Revision(2), later...)
		sameResult(t, first, mustAppend(t, ctx, c, "s", esdb.Revision(1), events...))
		requireWritten(t, c, "s", append(append(dataIDs(seed), dataIDs(events)...), dataIDs(later)...))
	})
	t.Run("ConcurrentRetriesWriteOnce", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		seed := numberedEvents("Opened", 0, 1)
		mustAppend(t, ctx, c, "s", esdb.NoStream{}, seed...)
		events := numberedEvents("Changed", 1, 3)
		const retries = 8
		results := make([]*esdb.WriteResult, retries)
		errs := make([]error, retries)
		var wg sync.WaitGroup
		for i := range retries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, events...)
			}()
		}
		wg.Wait()
		for i := range retries {
			if errs[i] != nil {
				t.Fatalf("copy %d of the append failed: %v", i, errs[i])
			}
			sameResult(t, results[0], results[i])
		}
		if results[0].NextExpectedVersion != 3 || results[0].CommitPosition != 4 {
			t.Fatalf("the appends answered %+v, want revision 3 at position 4", *results[0])
		}
		requireWritten(t, c, "s", append(dataIDs(seed), dataIDs(events)...))
	})
	t.Run("RetryWithPartlyMatchingIDsIsWrongExpectedVersion", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		events := numberedEvents("Opened", 0, 2)
		mustAppend(t, ctx, c, "s", esdb.NoStream{}, events...)
		for name, retry := range map[string][]esdb.EventData{
			"first matches, second new": {events[0], jsonEvent("Other", `{}`)},
			"both match, one more":      {events[0], events[1], jsonEvent("Other", `{}`)},
			"first new, second matches": {jsonEvent("Other", `{}`), events[1]},
		} {
			_, err := c.AppendToStream(ctx, "s", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, retry...)
			if code, ok := errorCode(err); !ok || code != esdb.ErrorCodeWrongExpectedVersion {
				t.Errorf("%s: got %v, want wrong expected version", name, err)
			}
		}
		requireWritten(t, c, "s", dataIDs(events))
	})
}

// TestAppend_MaxAppendSize: an append larger than the maximum append size
// (1 MiB unless configured) is refused with an error naming the limit, and
// nothing of it is written.
func TestAppend_MaxAppendSize(t *testing.T) {
	payload := func(n int) esdb.EventData {
		return esdb.EventData{EventID: uuid.New(), EventType: "Blob", ContentType: esdb.ContentTypeBinary, Data: bytes.Repeat([]byte{'x'}, n)}
	}
	requireRefused := func(t *testing.T, c *esdb.Client, limit int, events ...esdb.EventData) {
		t.Helper()
		ctx := testContext(t, testTimeout)
		_, err := c.AppendToStream(ctx, "big", esdb.AppendToStreamOptions{}, events...)
		if err == nil {
			t.Fatal("the oversized append was accepted")
		}
		if !strings.Contains(err.Error(), "maximum append size") || !strings.Contains(err.Error(), strconv.Itoa(limit)) {
			t.Errorf("error %q does not name the maximum append size of %d", err, limit)
		}
		_, err = readStream(ctx, c, "big", esdb.ReadStreamOptions{}, 10)
		requireErrorCode(t, err, esdb.ErrorCodeResourceNotFound)
		if all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 10); len(all) != 0 {
			t.Errorf("$all holds %d events after a refused append, want none", len(all))
		}
	}

	t.Run("DefaultLimitIsOneMebibyte", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		// Three events of 400,000 bytes: the third crosses 1 MiB.
		requireRefused(t, c, eventstore.DefaultMaxAppendSize, payload(400_000), payload(400_000), payload(400_000))
	})
	t.Run("DefaultLimitCrossedLongBeforeTheLastEvent", func(t *testing.T) {
		// Eight events of 400,000 bytes: the limit is crossed at the third,
		// while the client is still sending.
		c := startStore(t, eventstore.Config{})
		events := make([]esdb.EventData, 8)
		for i := range events {
			events[i] = payload(400_000)
		}
		requireRefused(t, c, eventstore.DefaultMaxAppendSize, events...)
	})
	t.Run("DefaultLimitAcceptsJustBelow", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		res := mustAppend(t, ctx, c, "big", esdb.NoStream{}, payload(500_000), payload(500_000))
		if res.NextExpectedVersion != 1 {
			t.Fatalf("NextExpectedVersion %d, want 1", res.NextExpectedVersion)
		}
	})
	t.Run("ConfiguredLimitSeveralEvents", func(t *testing.T) {
		c := startStore(t, eventstore.Config{MaxAppendSize: 4096})
		requireRefused(t, c, 4096, payload(3000), payload(3000))
	})
	t.Run("ConfiguredLimitOneEvent", func(t *testing.T) {
		c := startStore(t, eventstore.Config{MaxAppendSize: 4096})
		requireRefused(t, c, 4096, payload(5000))
	})
	// One event larger than the limit is an oversized append like any
	// other, however much larger it is.
	t.Run("DefaultLimitOneHugeEvent", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		requireRefused(t, c, eventstore.DefaultMaxAppendSize, payload(1_500_000))
	})
	t.Run("ConfiguredLimitOneHugeEvent", func(t *testing.T) {
		c := startStore(t, eventstore.Config{MaxAppendSize: 4096})
		requireRefused(t, c, 4096, payload(100_000))
	})
	t.Run("ConfiguredLimitAcceptsJustBelow", func(t *testing.T) {
		c := startStore(t, eventstore.Config{MaxAppendSize: 4096})
		ctx := testContext(t, testTimeout)
		mustAppend(t, ctx, c, "big", esdb.NoStream{}, payload(1800), payload(1800))
	})
}

// TestAppend_InvalidRequests: an event needs a type and a stream needs a
// name; such appends are refused and write nothing.
func TestAppend_InvalidRequests(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)

	t.Run("MissingEventTypeIsRefused", func(t *testing.T) {
		untyped := esdb.EventData{EventID: uuid.New(), ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
		_, err := c.AppendToStream(ctx, "untyped", esdb.AppendToStreamOptions{}, jsonEvent("Typed", `{}`), untyped)
		if err == nil {
			t.Fatal("an event without a type was accepted")
		}
		_, err = readStream(ctx, c, "untyped", esdb.ReadStreamOptions{}, 10)
		requireErrorCode(t, err, esdb.ErrorCodeResourceNotFound)
	})
	t.Run("EmptyStreamNameIsRefused", func(t *testing.T) {
		_, err := c.AppendToStream(ctx, "", esdb.AppendToStreamOptions{}, jsonEvent("Nameless", `{}`))
		if err == nil {
			t.Fatal("an append to the stream named \"\" was accepted")
		}
	})
	t.Run("NothingWritten", func(t *testing.T) {
		if all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 10); len(all) != 0 {
			t.Fatalf("$all holds %d events after refused appends, want none", len(all))
		}
	})
}
