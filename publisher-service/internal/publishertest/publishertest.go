// Package publishertest helps the publisher's tests: it appends generated
// lifecycles with the official client, reads back the loan events a
// publisher should publish ($all order), binds a queue of the test's own to
// an exchange and collects what arrives, and checks what arrived against
// what was expected: nothing missing, nothing foreign, in commit order.
package publishertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
)

// BindingKey binds a queue to every loan event.
const BindingKey = publisher.RoutingKeyPrefix + "#"

// Append appends, in order.
func Append(tb testing.TB, c *esdb.Client, appends ...eventgen.Append) {
	tb.Helper()
	if err := TryAppend(c, appends...); err != nil {
		tb.Fatal(err)
	}
}

// TryAppend appends, in order, and says what failed (for goroutines, which
// must not call t.Fatal).
func TryAppend(c *esdb.Client, appends ...eventgen.Append) error {
	for _, a := range appends {
		if _, err := c.AppendToStream(context.Background(), a.Stream, esdb.AppendToStreamOptions{ExpectedRevision: a.ExpectedRevision()}, a.Events...); err != nil {
			return fmt.Errorf("append %d events to %s: %w", len(a.Events), a.Stream, err)
		}
	}
	return nil
}

// AppendLifecycles appends n lifecycles, and a noise append (events that
// are not loan events) after every fifth.
func AppendLifecycles(tb testing.TB, c *esdb.Client, g *eventgen.Generator, n int) {
	tb.Helper()
	if err := TryAppendLifecycles(c, g, n); err != nil {
		tb.Fatal(err)
	}
}

// TryAppendLifecycles is AppendLifecycles for goroutines.
func TryAppendLifecycles(c *esdb.Client, g *eventgen.Generator, n int) error {
	for i := range n {
		if err := TryAppend(c, g.Lifecycle()...); err != nil {
			return err
		}
		if i%5 == 4 {
			if err := TryAppend(c, g.Noise(2)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Event is a loan event as stored.
type Event struct {
	publisher.Recorded
	// App is the application it belongs to.
	App string
}

// LoanEvents reads $all and returns its loan events, in order: what a
// publisher publishes.
func LoanEvents(tb testing.TB, c *esdb.Client) []Event {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Forwards}, math.MaxInt64)
	if err != nil {
		tb.Fatalf("read $all: %v", err)
	}
	defer rs.Close()
	var out []Event
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("read $all after %d loan events: %v", len(out), err)
		}
		e := re.OriginalEvent()
		if !loanevents.IsKnown(e.EventType) {
			continue
		}
		rec := publisher.RecordedOf(e)
		app := ""
		if msg, err := loanevents.Unmarshal(rec.Type, rec.Data); err == nil {
			app = msg.ProtoReflect().Get(msg.ProtoReflect().Descriptor().Fields().ByName("loan_application_uuid")).String()
		}
		out = append(out, Event{Recorded: rec, App: app})
	}
}

// Queue is a queue of the test's own, bound to an exchange with
// BindingKey, whose messages are collected as they arrive.
type Queue struct {
	Exchange, Name string

	mu  sync.Mutex
	got []amqp.Delivery
}

// Bind declares the exchange as the publisher does (a durable topic
// exchange), a durable queue bound to it for every loan event, and
// consumes the queue until the test ends; both are deleted then.
func Bind(tb testing.TB, url, exchange string) *Queue {
	tb.Helper()
	q := &Queue{Exchange: exchange, Name: rabbittest.Name("publisher-test")}
	rabbittest.DeleteAtEnd(tb, url, []string{q.Name}, []string{exchange})
	ch := rabbittest.Channel(tb, url)
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		tb.Fatalf("declare exchange %s: %v", exchange, err)
	}
	if _, err := ch.QueueDeclare(q.Name, true, false, false, false, nil); err != nil {
		tb.Fatalf("declare queue %s: %v", q.Name, err)
	}
	if err := ch.QueueBind(q.Name, BindingKey, exchange, false, nil); err != nil {
		tb.Fatalf("bind queue %s: %v", q.Name, err)
	}
	deliveries, err := ch.Consume(q.Name, "", true, false, false, false, nil)
	if err != nil {
		tb.Fatalf("consume %s: %v", q.Name, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for d := range deliveries {
			q.mu.Lock()
			q.got = append(q.got, d)
			q.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		_ = ch.Close()
		<-done
	})
	return q
}

// Received is what arrived so far, in order.
func (q *Queue) Received() []amqp.Delivery {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]amqp.Delivery(nil), q.got...)
}

// Count is how many messages arrived so far.
func (q *Queue) Count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.got)
}

// WaitFor waits until every one of want has arrived at least once, and
// returns what arrived.
func (q *Queue) WaitFor(tb testing.TB, want []Event, timeout time.Duration) []amqp.Delivery {
	tb.Helper()
	missing := make(map[string]bool, len(want))
	for _, e := range want {
		missing[e.ID.String()] = true
	}
	looked := 0 // arrivals looked at so far
	poll.Until(tb, timeout, 10*time.Millisecond, func() (bool, string) {
		q.mu.Lock()
		for _, d := range q.got[looked:] {
			delete(missing, d.MessageId)
		}
		looked = len(q.got)
		q.mu.Unlock()
		return len(missing) == 0, fmt.Sprintf("%d of %d events have not arrived (%d messages so far)", len(missing), len(want), looked)
	})
	return q.Received()
}

// Check checks what arrived against what the store holds: every event
// arrived (no gap), nothing else did, and the first arrivals of the events
// follow $all's order, hence each application's commit order. It returns
// how many arrivals were duplicates.
func Check(tb testing.TB, want []Event, got []amqp.Delivery) (duplicates int) {
	tb.Helper()
	index := make(map[string]int, len(want))
	for i, e := range want {
		index[e.ID.String()] = i
	}
	seen := make(map[string]bool, len(want))
	next := 0 // the index in want expected to arrive first next
	lastOfApp := map[string]int{}
	for n, d := range got {
		i, ok := index[d.MessageId]
		if !ok {
			tb.Errorf("arrival %d: message %s (%s, routing key %s) is not a loan event of the store", n, d.MessageId, d.Type, d.RoutingKey)
			continue
		}
		if seen[d.MessageId] {
			duplicates++
			continue
		}
		seen[d.MessageId] = true
		e := want[i]
		if prev, ok := lastOfApp[e.App]; ok && prev > i {
			tb.Errorf("application %s: %s (position %d) first arrived after %s (position %d): out of commit order",
				e.App, e.Type, e.Position.Commit, want[prev].Type, want[prev].Position.Commit)
		}
		lastOfApp[e.App] = i
		if i != next {
			tb.Errorf("arrival %d: event %d of $all (%s %s) first arrived where event %d (%s %s) was due",
				n, i, e.Type, e.ID, next, want[next].Type, want[next].ID)
			return duplicates
		}
		next++
	}
	if next != len(want) {
		tb.Errorf("%d of %d loan events never arrived; the first missing is %s %s at position %d",
			len(want)-next, len(want), want[next].Type, want[next].ID, want[next].Position.Commit)
	}
	return duplicates
}
