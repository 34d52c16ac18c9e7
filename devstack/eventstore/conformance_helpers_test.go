package eventstore_test

// Shared helpers of the conformance suite. The suite drives the embedded
// event store only through the official EventStoreDB Go client over real
// gRPC on 127.0.0.1, so every test reads as a statement about the protocol
// that EventStoreDB clients rely on.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
)

// testTimeout bounds every ordinary conformance test; the heavier ones set
// their own, larger bound.
const testTimeout = 30 * time.Second

// startStore starts an in-memory store for one test and connects the
// official client to it.
func startStore(t *testing.T, cfg eventstore.Config) *esdb.Client {
	t.Helper()
	return eventstoretest.Start(t, cfg).Client(t)
}

// testContext is a context that ends after d, or when the test ends.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// jsonEvent is an event with a fresh ID and a JSON body.
func jsonEvent(eventType, data string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: eventType, ContentType: esdb.ContentTypeJson, Data: []byte(data)}
}

// numberedEvents are n JSON events of one type whose bodies number them from
// first on.
func numberedEvents(eventType string, first, n int) []esdb.EventData {
	events := make([]esdb.EventData, n)
	for i := range events {
		events[i] = jsonEvent(eventType, fmt.Sprintf(`{"n":%d}`, first+i))
	}
	return events
}

// mustAppend appends and fails the test on any error.
func mustAppend(t *testing.T, ctx context.Context, c *esdb.Client, stream string, expected esdb.ExpectedRevision, events ...esdb.EventData) *esdb.WriteResult {
	t.Helper()
	res, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, events...)
	if err != nil {
		t.Fatalf("append %d event(s) to %q (expected %#v): %v", len(events), stream, expected, err)
	}
	return res
}

// readStream reads a stream to its end (or count) and returns the events, or
// the first error Recv reported.
func readStream(ctx context.Context, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.RecordedEvent, error) {
	rs, err := c.ReadStream(ctx, stream, opts, count)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	return drain(rs, count)
}

func mustReadStream(t *testing.T, ctx context.Context, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) []*esdb.RecordedEvent {
	t.Helper()
	events, err := readStream(ctx, c, stream, opts, count)
	if err != nil {
		t.Fatalf("read stream %q: %v", stream, err)
	}
	return events
}

func mustReadAll(t *testing.T, ctx context.Context, c *esdb.Client, opts esdb.ReadAllOptions, count uint64) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := c.ReadAll(ctx, opts, count)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	defer rs.Close()
	events, err := drain(rs, count)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	return events
}

// drain receives until the end of a read. A read never returns more than it
// was asked for, so more than count events is itself a failure.
func drain(rs *esdb.ReadStream, count uint64) ([]*esdb.RecordedEvent, error) {
	var events []*esdb.RecordedEvent
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, e.OriginalEvent())
		if uint64(len(events)) > count {
			return events, fmt.Errorf("the read returned more than the %d events asked for", count)
		}
	}
}

// errorCode is the client's error code of err, if err is an *esdb.Error
// (possibly wrapped).
func errorCode(err error) (esdb.ErrorCode, bool) {
	var e *esdb.Error
	if errors.As(err, &e) {
		return e.Code(), true
	}
	return 0, false
}

func requireErrorCode(t *testing.T, err error, want esdb.ErrorCode) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want error code %d", want)
	}
	if got, ok := errorCode(err); !ok || got != want {
		t.Fatalf("got error %v (code %d, esdb error %t), want error code %d", err, got, ok, want)
	}
}

func revisions(events []*esdb.RecordedEvent) []uint64 {
	revs := make([]uint64, len(events))
	for i, e := range events {
		revs[i] = e.EventNumber
	}
	return revs
}

func commitPositions(events []*esdb.RecordedEvent) []uint64 {
	pos := make([]uint64, len(events))
	for i, e := range events {
		pos[i] = e.Position.Commit
	}
	return pos
}

// span is the sequence first, first+step, ... of n numbers (step ±1).
func span(first uint64, n int, step int) []uint64 {
	s := make([]uint64, n)
	for i := range s {
		s[i] = uint64(int64(first) + int64(i*step))
	}
	return s
}

func equalUints(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func requireUints(t *testing.T, what string, got, want []uint64) {
	t.Helper()
	if !equalUints(got, want) {
		t.Fatalf("%s: got %s, want %s", what, abbreviate(got), abbreviate(want))
	}
}

// abbreviate prints long sequences by their ends.
func abbreviate(s []uint64) string {
	if len(s) <= 12 {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v ... %v (%d values)", s[:6], s[len(s)-6:], len(s))
}

func eventIDs(events []*esdb.RecordedEvent) []uuid.UUID {
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		ids[i] = e.EventID
	}
	return ids
}

func dataIDs(events []esdb.EventData) []uuid.UUID {
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		ids[i] = e.EventID
	}
	return ids
}

func requireIDs(t *testing.T, what string, got, want []uuid.UUID) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d has ID %s, want %s", what, i, got[i], want[i])
		}
	}
}

// requireAllContiguous checks the invariant of $all: positions start at 1,
// have no gaps, and commit and prepare positions are equal.
func requireAllContiguous(t *testing.T, events []*esdb.RecordedEvent) {
	t.Helper()
	for i, e := range events {
		if want := uint64(i + 1); e.Position.Commit != want {
			t.Fatalf("$all event %d (%s %s@%d) has commit position %d, want %d", i, e.EventType, e.StreamID, e.EventNumber, e.Position.Commit, want)
		}
		if e.Position.Prepare != e.Position.Commit {
			t.Fatalf("$all event at %d has prepare position %d, want it equal to the commit position", e.Position.Commit, e.Position.Prepare)
		}
	}
}

// ---- subscriptions ----

// subscribeAll subscribes to $all and closes the subscription when the test
// ends.
func subscribeAll(t *testing.T, ctx context.Context, c *esdb.Client, opts esdb.SubscribeToAllOptions) *esdb.Subscription {
	t.Helper()
	sub, err := c.SubscribeToAll(ctx, opts)
	if err != nil {
		t.Fatalf("subscribe to $all: %v", err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func subscribeStream(t *testing.T, ctx context.Context, c *esdb.Client, stream string, opts esdb.SubscribeToStreamOptions) *esdb.Subscription {
	t.Helper()
	sub, err := c.SubscribeToStream(ctx, stream, opts)
	if err != nil {
		t.Fatalf("subscribe to %q: %v", stream, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// subLog is what a subscriber has received, in order.
type subLog struct {
	events      []*esdb.RecordedEvent
	caughtUp    int // CaughtUp messages seen
	fellBehind  int // FellBehind messages seen
	checkpoints []esdb.Position
	// eventsBeforeFirstCaughtUp is how many events had arrived when the
	// first CaughtUp came (-1 until then).
	eventsBeforeFirstCaughtUp int
}

func newSubLog() *subLog { return &subLog{eventsBeforeFirstCaughtUp: -1} }

// next receives one message into the log; it fails the test if the
// subscription drops (the test context's deadline drops it too).
func (l *subLog) next(t *testing.T, sub *esdb.Subscription) *esdb.SubscriptionEvent {
	t.Helper()
	m := sub.Recv()
	switch {
	case m.SubscriptionDropped != nil:
		t.Fatalf("subscription dropped after %d events: %v", len(l.events), m.SubscriptionDropped.Error)
	case m.EventAppeared != nil:
		l.events = append(l.events, m.EventAppeared.OriginalEvent())
	case m.CaughtUp != nil:
		if l.caughtUp == 0 {
			l.eventsBeforeFirstCaughtUp = len(l.events)
		}
		l.caughtUp++
	case m.FellBehind != nil:
		l.fellBehind++
	case m.CheckPointReached != nil:
		l.checkpoints = append(l.checkpoints, *m.CheckPointReached)
	}
	return m
}

// until receives until done says so, for at most limit messages.
func (l *subLog) until(t *testing.T, sub *esdb.Subscription, limit int, done func() bool) {
	t.Helper()
	for i := 0; !done(); i++ {
		if i == limit {
			t.Fatalf("no end after %d subscription messages (%d events, %d caught-up, %d checkpoints)",
				limit, len(l.events), l.caughtUp, len(l.checkpoints))
		}
		l.next(t, sub)
	}
}

// untilEvents receives until the log holds n events in all.
func (l *subLog) untilEvents(t *testing.T, sub *esdb.Subscription, n int) {
	t.Helper()
	l.until(t, sub, 2*n+1000, func() bool { return len(l.events) >= n })
}

// untilCaughtUp receives until the first CaughtUp.
func (l *subLog) untilCaughtUp(t *testing.T, sub *esdb.Subscription, limit int) {
	t.Helper()
	l.until(t, sub, limit, func() bool { return l.caughtUp > 0 })
}

// untilEventType receives until an event of the given type arrives.
func (l *subLog) untilEventType(t *testing.T, sub *esdb.Subscription, limit int, eventType string) {
	t.Helper()
	l.until(t, sub, limit, func() bool {
		return len(l.events) > 0 && l.events[len(l.events)-1].EventType == eventType
	})
}

// requireDropped receives until the server ends the subscription, and
// returns why. A drop caused by the test's own deadline is a failure.
func requireDropped(t *testing.T, ctx context.Context, sub *esdb.Subscription, limit int) error {
	t.Helper()
	for i := 0; i < limit; i++ {
		m := sub.Recv()
		if m.SubscriptionDropped != nil {
			if ctx.Err() != nil {
				t.Fatalf("the subscription was only dropped by the test deadline: %v", m.SubscriptionDropped.Error)
			}
			return m.SubscriptionDropped.Error
		}
		if m.EventAppeared != nil {
			e := m.EventAppeared.OriginalEvent()
			t.Logf("event before the drop: %s %s@%d", e.EventType, e.StreamID, e.EventNumber)
		}
	}
	t.Fatalf("the subscription did not drop within %d messages", limit)
	return nil
}
