package eventstore_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
)

// TestConcurrency_ExactRevisionAppends: many writers race to append to one
// stream, each stating the exact revision it read and, when refused,
// reading again and retrying. Every revision is taken by exactly one writer,
// with no gap; every acknowledged event is readable at the revision and
// position its acknowledgement gave; every refused attempt is a wrong
// expected version and nothing else.
func TestConcurrency_ExactRevisionAppends(t *testing.T) {
	const (
		writers          = 32
		appendsPerWriter = 100
		total            = writers * appendsPerWriter
		// Every writer races every other: each success refuses all the
		// other attempts in flight, so most of the time goes to refusals
		// (about 30 s under -race on two cores). Lowering this bound makes
		// the test quicker and the race less fierce.
		maxInFlight = writers
		// Bound the attempts far above the expected number of refusals.
		maxAttemptsPerWriter = 50 * writers * appendsPerWriter
	)
	srv := eventstoretest.Start(t, eventstore.Config{})
	c := srv.Client(t)
	clients := make([]*esdb.Client, writers)
	for i := range clients {
		clients[i] = srv.Client(t)
	}
	ctx := testContext(t, 120*time.Second)

	type ack struct {
		id       uuid.UUID
		revision uint64
		position uint64
	}
	type result struct {
		acks     []ack
		refusals int
		err      error
	}
	// currentRevision reads the stream's last revision (NoStream before the
	// first append).
	currentRevision := func(c *esdb.Client) (esdb.ExpectedRevision, error) {
		events, err := readStream(ctx, c, "contended", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if code, ok := errorCode(err); ok && code == esdb.ErrorCodeResourceNotFound {
			return esdb.NoStream{}, nil
		}
		if err != nil {
			return nil, err
		}
		if len(events) != 1 {
			return nil, fmt.Errorf("read %d events from the end of an existing stream", len(events))
		}
		return esdb.Revision(events[0].EventNumber), nil
	}
	inFlight := make(chan struct{}, maxInFlight)
	tryAppend := func(c *esdb.Client, w, n int) (acked *ack, err error) {
		select {
		case inFlight <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		defer func() { <-inFlight }()
		expected, err := currentRevision(c)
		if err != nil {
			return nil, fmt.Errorf("writer %d: read the current revision: %w", w, err)
		}
		e := jsonEvent("Contended", fmt.Sprintf(`{"writer":%d,"n":%d}`, w, n))
		res, err := c.AppendToStream(ctx, "contended", esdb.AppendToStreamOptions{ExpectedRevision: expected}, e)
		if err != nil {
			return nil, err
		}
		return &ack{id: e.EventID, revision: res.NextExpectedVersion, position: res.CommitPosition}, nil
	}
	write := func(w int) (r result) {
		c := clients[w]
		for attempt := 0; len(r.acks) < appendsPerWriter; attempt++ {
			if attempt == maxAttemptsPerWriter {
				r.err = fmt.Errorf("writer %d: still %d appends short after %d attempts", w, appendsPerWriter-len(r.acks), attempt)
				return r
			}
			acked, err := tryAppend(c, w, len(r.acks))
			if err == nil {
				r.acks = append(r.acks, *acked)
				continue
			}
			if code, ok := errorCode(err); ok && code == esdb.ErrorCodeWrongExpectedVersion {
				r.refusals++
				continue
			}
			r.err = fmt.Errorf("writer %d: an attempt failed with something other than wrong expected version: %w", w, err)
			return r
		}
		return r
	}

	results := make([]result, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[w] = write(w)
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()

	byRevision := make(map[uint64]ack, total)
	refusals := 0
	for _, r := range results {
		if r.err != nil {
			t.Error(r.err)
		}
		refusals += r.refusals
		for _, a := range r.acks {
			if prev, dup := byRevision[a.revision]; dup {
				t.Fatalf("revision %d acknowledged twice: events %s and %s", a.revision, prev.id, a.id)
			}
			byRevision[a.revision] = a
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if refusals == 0 {
		t.Error("no attempt was refused: the writers never conflicted, so this proved nothing")
	}
	t.Logf("%d appends acknowledged, %d refused as wrong expected version, in %v", len(byRevision), refusals, time.Since(began).Round(time.Millisecond))
	for rev := uint64(0); rev < total; rev++ {
		if _, ok := byRevision[rev]; !ok {
			t.Fatalf("revision %d was never acknowledged (%d acknowledgements)", rev, len(byRevision))
		}
	}
	if len(byRevision) != total {
		t.Fatalf("%d revisions acknowledged, want exactly 0..%d", len(byRevision), total-1)
	}

	events := mustReadStream(t, ctx, c, "contended", esdb.ReadStreamOptions{}, 2*total)
	requireUints(t, "revisions", revisions(events), span(0, total, 1))
	for _, e := range events {
		a := byRevision[e.EventNumber]
		if e.EventID != a.id || e.Position.Commit != a.position {
			t.Fatalf("revision %d holds event %s at %d; its acknowledgement said %s at %d", e.EventNumber, e.EventID, e.Position.Commit, a.id, a.position)
		}
	}
	all := mustReadAll(t, ctx, c, esdb.ReadAllOptions{From: esdb.Start{}}, 2*total)
	requireAllContiguous(t, all)
	if len(all) != total {
		t.Fatalf("$all holds %d events, want %d", len(all), total)
	}
}

// TestConcurrency_LiveAllSubscription: a $all subscription that is live
// while many writers append receives every event exactly once, in commit
// order with no gap, and exactly the events the writers were told were
// written, where they were told.
func TestConcurrency_LiveAllSubscription(t *testing.T) {
	const (
		writers          = 8
		appendsPerWriter = 250
	)
	eventsInAppend := func(i int) int { return i%3 + 1 } // one to three
	total := 0
	for i := 0; i < appendsPerWriter; i++ {
		total += writers * eventsInAppend(i)
	}

	c := startStore(t, eventstore.Config{})
	ctx := testContext(t, 90*time.Second)
	sub := subscribeAll(t, ctx, c, esdb.SubscribeToAllOptions{From: esdb.Start{}})

	// The subscriber reads while the writers write.
	received := make(chan []*esdb.RecordedEvent, 1)
	readErr := make(chan error, 1)
	go func() {
		var events []*esdb.RecordedEvent
		for len(events) < total {
			m := sub.Recv()
			if m.SubscriptionDropped != nil {
				readErr <- fmt.Errorf("dropped after %d events: %w", len(events), m.SubscriptionDropped.Error)
				return
			}
			if m.EventAppeared != nil {
				events = append(events, m.EventAppeared.OriginalEvent())
			}
		}
		received <- events
	}()

	type written struct {
		id       uuid.UUID
		stream   string
		revision uint64
	}
	acked := make([]map[uint64]written, writers) // by position
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		acked[w] = map[uint64]written{}
		go func() {
			defer wg.Done()
			stream := fmt.Sprintf("writer-%d", w)
			for i := 0; i < appendsPerWriter; i++ {
				events := numberedEvents("Written", i, eventsInAppend(i))
				res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, events...)
				if err != nil {
					errs <- fmt.Errorf("writer %d, append %d: %w", w, i, err)
					return
				}
				// An append's events are consecutive in the stream and in $all.
				n := uint64(len(events))
				for j, e := range events {
					acked[w][res.CommitPosition-n+1+uint64(j)] = written{id: e.EventID, stream: stream, revision: res.NextExpectedVersion - n + 1 + uint64(j)}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	var events []*esdb.RecordedEvent
	select {
	case events = <-received:
	case err := <-readErr:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatalf("the subscriber did not receive the %d events in time", total)
	}
	requireAllContiguous(t, events)
	want := map[uint64]written{}
	for _, m := range acked {
		for pos, wr := range m {
			if _, dup := want[pos]; dup {
				t.Fatalf("position %d acknowledged to two writers", pos)
			}
			want[pos] = wr
		}
	}
	if len(want) != total {
		t.Fatalf("%d positions acknowledged, want %d", len(want), total)
	}
	for _, e := range events {
		wr, ok := want[e.Position.Commit]
		if !ok || e.EventID != wr.id || e.StreamID != wr.stream || e.EventNumber != wr.revision {
			t.Fatalf("subscriber got %s %s@%d at %d; acknowledged there: %+v (found %t)", e.EventID, e.StreamID, e.EventNumber, e.Position.Commit, wr, ok)
		}
	}

	// Nothing more was delivered: the next event is the next one written.
	marker := jsonEvent("Marker", `{}`)
	mustAppend(t, ctx, c, "marker", esdb.NoStream{}, marker)
	next := newSubLog()
	next.untilEvents(t, sub, 1)
	if next.events[0].EventID != marker.EventID || next.events[0].Position.Commit != uint64(total+1) {
		e := next.events[0]
		t.Fatalf("after the %d events the subscriber got %s %s@%d at %d, want the marker at %d", total, e.EventType, e.StreamID, e.EventNumber, e.Position.Commit, total+1)
	}
}
