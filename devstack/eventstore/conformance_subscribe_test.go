package eventstore_test

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
)

// TestSubscribeToStream: a stream subscription is confirmed, catches up from
// the start or after a revision, then delivers live events with no gap and
// no duplicate; the client is told when it has caught up; subscribing from
// the end delivers only new events; only the stream's own events arrive.
func TestSubscribeToStream(t *testing.T) {
	c := startStore(t, eventstore.Config{})

	t.Run("FromStartCatchesUpThenGoesLive", func(t *testing.T) {
		ctx := testContext(t, testTimeout)
		var sent []esdb.EventData
		add := func(events ...esdb.EventData) {
			mustAppend(t, ctx, c, "sub-start", esdb.Any{}, events...)
			mustAppend(t, ctx, c, "sub-start-noise", esdb.Any{}, jsonEvent("Noise", `{}`))
			sent = append(sent, events...)
		}
		add(numberedEvents("E", 0, 2)...)
		add(numberedEvents("E", 2, 1)...)

		sub := subscribeStream(t, ctx, c, "sub-start", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		got := newSubLog()
		got.untilCaughtUp(t, sub, 100)
		if got.eventsBeforeFirstCaughtUp != 3 {
			t.Fatalf("caught up after %d events, want the 3 written before subscribing", got.eventsBeforeFirstCaughtUp)
		}

		add(numberedEvents("E", 3, 2)...)
		add(numberedEvents("E", 5, 1)...)
		got.untilEvents(t, sub, 6)
		// One more event as a marker: whatever came between would show.
		add(jsonEvent("Marker", `{}`))
		got.untilEvents(t, sub, 7)
		requireUints(t, "revisions", revisions(got.events), span(0, 7, 1))
		requireIDs(t, "events", eventIDs(got.events), dataIDs(sent))
	})

	t.Run("FromRevisionIsExclusive", func(t *testing.T) {
		ctx := testContext(t, testTimeout)
		mustAppend(t, ctx, c, "sub-rev", esdb.NoStream{}, numberedEvents("E", 0, 5)...)
		sub := subscribeStream(t, ctx, c, "sub-rev", esdb.SubscribeToStreamOptions{From: esdb.Revision(2)})
		got := newSubLog()
		got.untilEvents(t, sub, 2)
		mustAppend(t, ctx, c, "sub-rev", esdb.Revision(4), numberedEvents("E", 5, 2)...)
		got.untilEvents(t, sub, 4)
		requireUints(t, "revisions", revisions(got.events), []uint64{3, 4, 5, 6})
	})

	t.Run("FromEndGetsOnlyNewEvents", func(t *testing.T) {
		ctx := testContext(t, testTimeout)
		mustAppend(t, ctx, c, "sub-end", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
		sub := subscribeStream(t, ctx, c, "sub-end", esdb.SubscribeToStreamOptions{From: esdb.End{}})
		live := numberedEvents("E", 3, 2)
		mustAppend(t, ctx, c, "sub-end", esdb.Revision(2), live...)
		got := newSubLog()
		got.untilEvents(t, sub, 2)
		requireUints(t, "revisions", revisions(got.events), []uint64{3, 4})
		requireIDs(t, "events", eventIDs(got.events), dataIDs(live))
	})

	t.Run("BeforeTheStreamExists", func(t *testing.T) {
		ctx := testContext(t, testTimeout)
		sub := subscribeStream(t, ctx, c, "sub-later", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		events := numberedEvents("E", 0, 3)
		mustAppend(t, ctx, c, "sub-later", esdb.NoStream{}, events[:1]...)
		mustAppend(t, ctx, c, "sub-later", esdb.Revision(0), events[1:]...)
		got := newSubLog()
		got.untilEvents(t, sub, 3)
		requireUints(t, "revisions", revisions(got.events), span(0, 3, 1))
		requireIDs(t, "events", eventIDs(got.events), dataIDs(events))
	})

	t.Run("EndsWhenTheStreamIsTombstoned", func(t *testing.T) {
		ctx := testContext(t, testTimeout)
		mustAppend(t, ctx, c, "sub-doomed", esdb.NoStream{}, numberedEvents("E", 0, 2)...)
		sub := subscribeStream(t, ctx, c, "sub-doomed", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		got := newSubLog()
		got.untilEvents(t, sub, 2)
		if _, err := c.TombstoneStream(ctx, "sub-doomed", esdb.TombstoneStreamOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := requireDropped(t, ctx, sub, 10); err == nil {
			t.Fatal("the subscription dropped without an error")
		} else {
			t.Logf("dropped: %v", err)
		}
	})

	t.Run("TombstonedStreamCannotBeSubscribed", func(t *testing.T) {
		ctx := testContext(t, testTimeout)
		mustAppend(t, ctx, c, "sub-dead", esdb.NoStream{}, jsonEvent("E", `{}`))
		if _, err := c.TombstoneStream(ctx, "sub-dead", esdb.TombstoneStreamOptions{}); err != nil {
			t.Fatal(err)
		}
		sub, err := c.SubscribeToStream(ctx, "sub-dead", esdb.SubscribeToStreamOptions{From: esdb.Start{}})
		if err == nil {
			_ = sub.Close()
		}
		requireErrorCode(t, err, esdb.ErrorCodeStreamDeleted)
	})
}

// TestSubscribeToStream_CatchUpHonoursStreamMetadata: catching up, a stream
// subscription sees the stream as a read does: not the revisions hidden by
// $tb or $maxCount, nor the events of a soft-deleted stream. It makes no
// difference whether the events are still in the server's in-memory live
// buffer (the default) or only on disk (a one-event buffer).
func TestSubscribeToStream_CatchUpHonoursStreamMetadata(t *testing.T) {
	for _, store := range []struct {
		name string
		cfg  eventstore.Config
	}{
		{"EventsInLiveBuffer", eventstore.Config{}},
		{"EventsOnlyOnDisk", eventstore.Config{LiveBufferEvents: 1}},
	} {
		t.Run(store.name, func(t *testing.T) {
			c := startStore(t, store.cfg)
			ctx := testContext(t, testTimeout)
			setMeta := func(stream string, set func(*esdb.StreamMetadata)) {
				var meta esdb.StreamMetadata
				set(&meta)
				if _, err := c.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{}, meta); err != nil {
					t.Fatal(err)
				}
			}
			mustAppend(t, ctx, c, "tb", esdb.NoStream{}, numberedEvents("E", 0, 10)...)
			setMeta("tb", func(m *esdb.StreamMetadata) { m.SetTruncateBefore(6) })
			mustAppend(t, ctx, c, "maxcount", esdb.NoStream{}, numberedEvents("E", 0, 10)...)
			setMeta("maxcount", func(m *esdb.StreamMetadata) { m.SetMaxCount(3) })
			mustAppend(t, ctx, c, "deleted", esdb.NoStream{}, numberedEvents("E", 0, 3)...)
			if _, err := c.DeleteStream(ctx, "deleted", esdb.DeleteStreamOptions{}); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, ctx, c, "unrelated", esdb.NoStream{}, numberedEvents("E", 0, 3)...)

			for _, tc := range []struct {
				name, stream string
				from         esdb.StreamPosition
				want         []uint64
			}{
				{"TruncateBefore", "tb", esdb.Start{}, span(6, 4, 1)},
				{"TruncateBeforeFromHiddenRevision", "tb", esdb.Revision(1), span(6, 4, 1)},
				{"MaxCount", "maxcount", esdb.Start{}, []uint64{7, 8, 9}},
				{"SoftDeleted", "deleted", esdb.Start{}, []uint64{}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					// The read is the reference.
					read, err := readStream(ctx, c, tc.stream, esdb.ReadStreamOptions{From: tc.from}, 100)
					if code, ok := errorCode(err); err != nil && (!ok || code != esdb.ErrorCodeResourceNotFound) {
						t.Fatal(err)
					}
					if tc.from == (esdb.Start{}) {
						requireUints(t, "read revisions", revisions(read), tc.want)
					}
					sub := subscribeStream(t, ctx, c, tc.stream, esdb.SubscribeToStreamOptions{From: tc.from})
					got := newSubLog()
					got.untilCaughtUp(t, sub, 100)
					requireUints(t, "caught-up revisions", revisions(got.events), tc.want)
				})
			}
		})
	}
}

// TestSubscribeToAll: a $all subscription is confirmed, catches up from the
// start or after a position, then delivers live events in commit order with
// no gap and no duplicate; subscribing from the end delivers only new events.
func TestSubscribeToAll(t *testing.T) {
	t.Run("FromStartCatchesUpThenGoesLive", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		var sent []esdb.EventData
		add := func(stream string, events ...esdb.EventData) {
			mustAppend(t, ctx, c, stream, esdb.Any{}, events...)
			sent = append(sent, events...)
		}
		add("a", numberedEvents("A", 0, 3)...)
		add("b", numberedEvents("B", 0, 1)...)
		add("a", numberedEvents("A", 3, 1)...)

		sub := subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.Start{}})
		got := newSubLog()
		got.untilCaughtUp(t, sub, 100)
		if got.eventsBeforeFirstCaughtUp != 5 {
			t.Fatalf("caught up after %d events, want the 5 written before subscribing", got.eventsBeforeFirstCaughtUp)
		}
		add("b", numberedEvents("B", 1, 2)...)
		add("c", numberedEvents("C", 0, 1)...)
		got.untilEvents(t, sub, 8)
		add("a", jsonEvent("Marker", `{}`))
		got.untilEvents(t, sub, 9)
		requireAllContiguous(t, got.events)
		requireIDs(t, "events", eventIDs(got.events), dataIDs(sent))
	})

	t.Run("FromPositionIsExclusive", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		mustAppend(t, ctx, c, "a", esdb.NoStream{}, numberedEvents("A", 0, 6)...)
		sub := subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.Position{Commit: 3, Prepare: 3}})
		got := newSubLog()
		got.untilEvents(t, sub, 3)
		mustAppend(t, ctx, c, "b", esdb.NoStream{}, jsonEvent("B", `{}`))
		got.untilEvents(t, sub, 4)
		requireUints(t, "positions", commitPositions(got.events), []uint64{4, 5, 6, 7})
	})

	t.Run("FromEndGetsOnlyNewEvents", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		mustAppend(t, ctx, c, "a", esdb.NoStream{}, numberedEvents("A", 0, 4)...)
		sub := subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.End{}})
		live := numberedEvents("B", 0, 2)
		mustAppend(t, ctx, c, "b", esdb.NoStream{}, live...)
		got := newSubLog()
		got.untilEvents(t, sub, 2)
		requireUints(t, "positions", commitPositions(got.events), []uint64{5, 6})
		requireIDs(t, "events", eventIDs(got.events), dataIDs(live))
	})
}

// TestSubscribeToAll_Filter: a server-side filter on $all passes only the
// events whose type, or whose stream name, has one of the prefixes or
// matches the regular expression, both while catching up and live.
func TestSubscribeToAll_Filter(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	for _, w := range []struct {
		stream string
		types  []string
	}{
		{"order-1", []string{"OrderPlaced", "OrderShipped"}},
		{"invoice-1", []string{"InvoiceSent"}},
		{"order-2", []string{"OrderPlaced"}},
		{"customer-1", []string{"CustomerRegistered", "CustomerMoved"}},
		{"order-1", []string{"OrderDelivered"}},
		{"orders-archive", []string{"Archived"}},
	} {
		events := make([]esdb.EventData, len(w.types))
		for i, typ := range w.types {
			events[i] = jsonEvent(typ, `{}`)
		}
		mustAppend(t, ctx, c, w.stream, esdb.Any{}, events...)
	}
	var meta esdb.StreamMetadata
	meta.SetMaxCount(100)
	if _, err := c.SetStreamMetadata(ctx, "order-1", esdb.AppendToStreamOptions{}, meta); err != nil {
		t.Fatal(err)
	}

	type liveEvent struct{ stream, eventType string }
	for _, tc := range []struct {
		name   string
		filter *esdb.SubscriptionFilter
		match  func(e *esdb.RecordedEvent) bool
		// live is appended once caught up; its last event must match.
		live []liveEvent
	}{
		{
			name:   "EventTypePrefix",
			filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"Order"}},
			match:  func(e *esdb.RecordedEvent) bool { return strings.HasPrefix(e.EventType, "Order") },
			live:   []liveEvent{{"order-3", "OrderPlaced"}, {"invoice-3", "InvoiceSent"}, {"x-1", "OrderLost"}},
		},
		{
			name:   "EventTypeSeveralPrefixes",
			filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"Invoice", "CustomerReg"}},
			match: func(e *esdb.RecordedEvent) bool {
				return strings.HasPrefix(e.EventType, "Invoice") || strings.HasPrefix(e.EventType, "CustomerReg")
			},
			live: []liveEvent{{"customer-2", "CustomerMoved"}, {"customer-2", "CustomerRegistered"}},
		},
		{
			name:   "EventTypeRegex",
			filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: "^(Invoice|Customer).*ed$"},
			match:  regexpMatch("^(Invoice|Customer).*ed$", func(e *esdb.RecordedEvent) string { return e.EventType }),
			live:   []liveEvent{{"invoice-4", "InvoiceSent"}, {"invoice-4", "InvoicePaid"}, {"invoice-4", "InvoiceCancelled"}},
		},
		{
			name:   "StreamPrefix",
			filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"order-"}},
			match:  func(e *esdb.RecordedEvent) bool { return strings.HasPrefix(e.StreamID, "order-") },
			live:   []liveEvent{{"orders-archive", "Archived"}, {"invoice-1", "OrderPlaced"}, {"order-9", "Anything"}},
		},
		{
			name:   "StreamRegex",
			filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "-1$"},
			match:  regexpMatch("-1$", func(e *esdb.RecordedEvent) string { return e.StreamID }),
			live:   []liveEvent{{"order-11", "OrderPlaced"}, {"customer-1", "CustomerMoved"}},
		},
		{
			name:   "ExcludeSystemEvents",
			filter: esdb.ExcludeSystemEventsFilter(),
			match:  func(e *esdb.RecordedEvent) bool { return !strings.HasPrefix(e.EventType, "$") },
			live:   []liveEvent{{"order-5", "OrderPlaced"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []*esdb.RecordedEvent
			for _, e := range mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 10_000) {
				if tc.match(e) {
					want = append(want, e)
				}
			}
			sub := subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.Start{}, Filter: tc.filter})
			got := newSubLog()
			got.untilCaughtUp(t, sub, 1000)
			requireIDs(t, "caught-up events", eventIDs(got.events), eventIDs(want))

			var wantLive []uuid.UUID
			for _, l := range tc.live {
				e := jsonEvent(l.eventType, `{}`)
				mustAppend(t, ctx, c, l.stream, esdb.Any{}, e)
				if tc.match(&esdb.RecordedEvent{StreamID: l.stream, EventType: l.eventType}) {
					wantLive = append(wantLive, e.EventID)
				}
			}
			last := tc.live[len(tc.live)-1]
			got.untilEventType(t, sub, 1000, last.eventType)
			requireIDs(t, "live events", eventIDs(got.events[len(want):]), wantLive)
		})
	}
}

// TestSubscribeToAll_InvalidFilter: a filter whose regular expression does
// not compile is refused when subscribing.
func TestSubscribeToAll_InvalidFilter(t *testing.T) {
	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, testTimeout)
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Regex: "order-(["}})
	if err == nil {
		_ = sub.Close()
		t.Fatal("a filter with an invalid regular expression was accepted")
	}
	if ctx.Err() != nil {
		t.Fatalf("the refusal only came with the test deadline: %v", err)
	}
}

func regexpMatch(expr string, field func(*esdb.RecordedEvent) string) func(*esdb.RecordedEvent) bool {
	re := regexp.MustCompile(expr)
	return func(e *esdb.RecordedEvent) bool { return re.MatchString(field(e)) }
}

// TestSubscribeToAll_Checkpoints: a filtered subscription reports a
// checkpoint every MaxSearchWindow × CheckpointInterval events examined,
// matching or not, at the position of the last event examined.
func TestSubscribeToAll_Checkpoints(t *testing.T) {
	// With a window of 2 and a multiplier of 5 a checkpoint is due every 10
	// events examined. On a fresh store the n-th event is at position n.
	opts := func(from esdb.AllPosition) esdb.SubscribeToAllOptions {
		return esdb.SubscribeToAllOptions{
			From:               from,
			Filter:             &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: []string{"Match"}},
			MaxSearchWindow:    2,
			CheckpointInterval: 5,
		}
	}
	// eventsMatchingAt makes n events, of type Match at the given positions
	// and Noise elsewhere.
	eventsMatchingAt := func(n int, matching ...int) []esdb.EventData {
		events := make([]esdb.EventData, n)
		for i := range events {
			events[i] = jsonEvent("Noise", fmt.Sprintf(`{"pos":%d}`, i+1))
			for _, m := range matching {
				if m == i+1 {
					events[i].EventType = "Match"
				}
			}
		}
		return events
	}
	// trace receives events and checkpoints (not caught-up or fell-behind
	// notices) until it has as many as want, and compares.
	trace := func(t *testing.T, sub *esdb.Subscription, want []string) {
		t.Helper()
		var got []string
		for i := 0; len(got) < len(want); i++ {
			if i == 100 {
				t.Fatalf("got only %v within 100 messages, want %v", got, want)
			}
			m := sub.Recv()
			switch {
			case m.SubscriptionDropped != nil:
				t.Fatalf("dropped after %v, want %v: %v", got, want, m.SubscriptionDropped.Error)
			case m.EventAppeared != nil:
				got = append(got, fmt.Sprintf("event@%d", m.EventAppeared.OriginalEvent().Position.Commit))
			case m.CheckPointReached != nil:
				if p := m.CheckPointReached; p.Prepare != p.Commit {
					t.Errorf("checkpoint with commit %d and prepare %d, want them equal", p.Commit, p.Prepare)
				}
				got = append(got, fmt.Sprintf("checkpoint@%d", m.CheckPointReached.Commit))
			}
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("got %v, want %v", got, want)
		}
	}

	t.Run("NonMatchingEventsOnly", func(t *testing.T) {
		// 25 events that do not match, then one that does.
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		events := eventsMatchingAt(26, 26)
		for i := 0; i < 25; i += 5 {
			mustAppend(t, ctx, c, fmt.Sprintf("s-%d", i), esdb.Any{}, events[i:i+5]...)
		}
		mustAppend(t, ctx, c, "s-last", esdb.Any{}, events[25])
		sub := subscribeAll(t, ctx, c, opts(esdb.Start{}))
		trace(t, sub, []string{"checkpoint@10", "checkpoint@20", "event@26"})
	})
	mixed := eventsMatchingAt(30, 3, 7, 26)
	wantMixed := []string{"event@3", "event@7", "checkpoint@10", "checkpoint@20", "event@26", "checkpoint@30"}
	t.Run("MatchingEventsCountTooWhileCatchingUp", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		for i := 0; i < len(mixed); i += 6 {
			mustAppend(t, ctx, c, fmt.Sprintf("s-%d", i), esdb.Any{}, mixed[i:i+6]...)
		}
		sub := subscribeAll(t, ctx, c, opts(esdb.Start{}))
		trace(t, sub, wantMixed)
	})
	t.Run("MatchingEventsCountTooLive", func(t *testing.T) {
		c := startStore(t, eventstore.Config{})
		ctx := testContext(t, testTimeout)
		sub := subscribeAll(t, ctx, c, opts(esdb.End{}))
		for i := range mixed {
			mustAppend(t, ctx, c, fmt.Sprintf("s-%d", i%4), esdb.Any{}, mixed[i])
		}
		trace(t, sub, wantMixed)
	})
}

// TestSubscribeToAll_SlowSubscriber: subscribers that stop reading while
// thousands of events are written (far more than the server's live buffer
// holds) still receive every event exactly once, in order, once they read
// again.
func TestSubscribeToAll_SlowSubscriber(t *testing.T) {
	const (
		writers          = 4
		appendsPerWriter = 250
		eventsPerAppend  = 4
		total            = writers * appendsPerWriter * eventsPerAppend
	)
	c := startStore(t, eventstore.Config{LiveBufferEvents: 64, LiveBufferBytes: 32 << 10})
	ctx := testContext(t, 60*time.Second)

	allSub := subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.Start{}})
	streamSub := subscribeStream(t, ctx, c, "slow-0", esdb.SubscribeToStreamOptions{From: esdb.Start{}})

	// Neither subscriber reads while the writers run.
	body := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 1500))
	sent := make([][]uuid.UUID, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("slow-%d", w)
			for i := 0; i < appendsPerWriter; i++ {
				events := make([]esdb.EventData, eventsPerAppend)
				for j := range events {
					events[j] = jsonEvent("Written", body)
					sent[w] = append(sent[w], events[j].EventID)
				}
				if _, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events...); err != nil {
					errs <- fmt.Errorf("writer %d, append %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	all := newSubLog()
	all.untilEvents(t, allSub, total)
	requireAllContiguous(t, all.events)
	t.Logf("$all subscriber: %d events, %d fell-behind and %d caught-up notices", len(all.events), all.fellBehind, all.caughtUp)
	byStream := map[string][]uuid.UUID{}
	for _, e := range all.events {
		byStream[e.StreamID] = append(byStream[e.StreamID], e.EventID)
	}
	for w := 0; w < writers; w++ {
		requireIDs(t, fmt.Sprintf("$all events of slow-%d", w), byStream[fmt.Sprintf("slow-%d", w)], sent[w])
	}

	one := newSubLog()
	one.untilEvents(t, streamSub, appendsPerWriter*eventsPerAppend)
	requireUints(t, "slow-0 revisions", revisions(one.events), span(0, appendsPerWriter*eventsPerAppend, 1))
	requireIDs(t, "slow-0 events", eventIDs(one.events), sent[0])
	t.Logf("stream subscriber: %d events, %d fell-behind and %d caught-up notices", len(one.events), one.fellBehind, one.caughtUp)

	// Both are live again: a new event reaches them, and nothing else.
	marker := jsonEvent("Marker", `{}`)
	mustAppend(t, ctx, c, "slow-0", esdb.Any{}, marker)
	all.untilEvents(t, allSub, total+1)
	one.untilEvents(t, streamSub, appendsPerWriter*eventsPerAppend+1)
	if all.events[total].EventID != marker.EventID || one.events[appendsPerWriter*eventsPerAppend].EventID != marker.EventID {
		t.Fatal("the event after the backlog is not the marker")
	}
}
