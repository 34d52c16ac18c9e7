package esdbconn_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/poll"
)

// behindProxy is a store, a proxy in front of it and a connection through
// the proxy that has reached the store once.
func behindProxy(t *testing.T) (*eventstoretest.Server, *esdbconntest.Proxy, *esdbconn.Conn) {
	t.Helper()
	store := eventstoretest.Start(t, eventstore.Config{})
	proxy := esdbconntest.NewProxy(t, store.Addr.String())
	conn := esdbconntest.Dial(t, proxy.ConnectionString())
	if _, err := appendOne(t.Context(), conn, "warm-up-"+uuid.NewString()); err != nil {
		t.Fatalf("first append: %v", err)
	}
	return store, proxy, conn
}

func event(eventType string) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: eventType, ContentType: esdb.ContentTypeJson, Data: []byte(`{"n":1}`)}
}

func appendOne(ctx context.Context, c *esdbconn.Conn, stream string) (*esdb.WriteResult, error) {
	return c.Append(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, event("Tested"))
}

// eventually polls cond until it holds (see platform/poll).
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, timeout, 20*time.Millisecond, cond)
}

// requireUnavailableAtDeadline checks a call made with a deadline of d
// during an outage: it failed with ErrUnavailable by its deadline (give or
// take the scheduler), at once if the client saw the store refuse it.
func requireUnavailableAtDeadline(t *testing.T, what string, d, took time.Duration, err error) {
	t.Helper()
	if !errors.Is(err, esdbconn.ErrUnavailable) {
		t.Fatalf("%s during the outage: %v; want ErrUnavailable", what, err)
	}
	if took > d+time.Second {
		t.Fatalf("%s with a %v deadline returned after %v", what, d, took)
	}
}

func TestConn_Calls(t *testing.T) {
	store := eventstoretest.Start(t, eventstore.Config{})
	conn := esdbconntest.Dial(t, store.ConnectionString)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream := "tested-" + uuid.NewString()

	t.Run("a stream that does not exist reads empty", func(t *testing.T) {
		got, err := conn.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 10)
		if err != nil || len(got) != 0 {
			t.Fatalf("ReadStream = %d events, %v; want none, nil", len(got), err)
		}
	})
	sub, err := conn.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("SubscribeToStream: %v", err)
	}
	defer sub.Close()
	all, err := conn.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{stream}}})
	if err != nil {
		t.Fatalf("SubscribeToAll: %v", err)
	}
	defer all.Close()

	first, err := conn.Append(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, event("First"), event("Second"))
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if first.NextExpectedVersion != 1 {
		t.Fatalf("Append: revision %d; want 1", first.NextExpectedVersion)
	}
	t.Run("a wrong expected revision is the client's error, not an outage", func(t *testing.T) {
		_, err := conn.Append(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(0)}, event("Late"))
		var esErr *esdb.Error
		if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeWrongExpectedVersion || errors.Is(err, esdbconn.ErrUnavailable) {
			t.Fatalf("Append at a stale revision: %v; want the client's wrong expected version", err)
		}
	})
	t.Run("reads", func(t *testing.T) {
		got, err := conn.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 10)
		if err != nil || len(got) != 2 || got[0].Event.EventType != "First" || got[1].Event.EventType != "Second" {
			t.Fatalf("ReadStream = %v, %v; want First, Second", got, err)
		}
		last, err := conn.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err != nil || len(last) != 1 || last[0].Event.Position.Commit != first.CommitPosition {
			t.Fatalf("ReadAll backwards = %v, %v; want the last append at %d", last, err, first.CommitPosition)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		meta := esdb.StreamMetadata{}
		meta.SetMaxCount(1)
		if _, err := conn.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, meta); err != nil {
			t.Fatalf("SetStreamMetadata: %v", err)
		}
		got, err := conn.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 10)
		if err != nil || len(got) != 1 || got[0].Event.EventType != "Second" {
			t.Fatalf("ReadStream with $maxCount 1 = %v, %v; want Second only", got, err)
		}
	})
	t.Run("subscriptions", func(t *testing.T) {
		for name, s := range map[string]*esdb.Subscription{"stream": sub, "$all": all} {
			var seen []string
			for len(seen) < 2 {
				e := s.Recv()
				if e.SubscriptionDropped != nil {
					t.Fatalf("%s subscription dropped: %v", name, e.SubscriptionDropped.Error)
				}
				if e.EventAppeared != nil && e.EventAppeared.Event.StreamID == stream {
					seen = append(seen, e.EventAppeared.Event.EventType)
				}
			}
			if seen[0] != "First" || seen[1] != "Second" {
				t.Fatalf("%s subscription delivered %v; want First, Second", name, seen)
			}
		}
	})
	t.Run("healthy", func(t *testing.T) {
		if err := conn.Healthy(ctx); err != nil {
			t.Fatalf("Healthy: %v", err)
		}
	})
}

// The store goes away for longer than the official client's discovery lasts
// by default (10 attempts, about a second, after which a plain client is dead
// for good) and comes back: calls made meanwhile return at their deadlines,
// leave nothing behind, and once it is back calls succeed again.
func TestConn_OutageLongerThanDiscovery(t *testing.T) {
	_, proxy, conn := behindProxy(t)
	ctx := t.Context()
	stream := "outage-" + uuid.NewString()

	// A plain client through the same proxy shows what the outage does to
	// the official client on its defaults.
	plain := eventstoretest.Connect(t, proxy.ConnectionString())
	if _, err := plain.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, event("Plain")); err != nil {
		t.Fatalf("plain client before the outage: %v", err)
	}

	proxy.Cut()
	outage := time.Now()
	plainDone := make(chan error, 1)
	go func() {
		// A failed call starts a discovery; later calls wait for it, until
		// it gives up after its attempts and the client closes itself.
		var err error
		for time.Since(outage) < 2500*time.Millisecond {
			callCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			_, err = plain.AppendToStream(callCtx, stream, esdb.AppendToStreamOptions{}, event("Plain"))
			cancel()
			var esErr *esdb.Error
			if errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeConnectionClosed {
				break
			}
		}
		plainDone <- err
	}()

	const deadline = 100 * time.Millisecond
	// Counted once the cut connections' goroutines are gone: after a
	// few calls.
	goroutines := 0
	calls := 0
	for time.Since(outage) < 3*time.Second {
		if calls == 3 {
			goroutines = runtime.NumGoroutine()
		}
		callCtx, cancel := context.WithTimeout(ctx, deadline)
		start := time.Now()
		var err error
		switch calls % 3 {
		case 0:
			_, err = appendOne(callCtx, conn, stream)
		case 1:
			_, err = conn.ReadStream(callCtx, stream, esdb.ReadStreamOptions{From: esdb.Start{}}, 10)
		case 2:
			var sub *esdb.Subscription
			if sub, err = conn.SubscribeToAll(callCtx, esdb.SubscribeToAllOptions{}); sub != nil {
				sub.Close()
			}
		}
		took := time.Since(start)
		cancel()
		requireUnavailableAtDeadline(t, fmt.Sprintf("call %d", calls), deadline, took, err)
		calls++
	}
	if grown := runtime.NumGoroutine() - goroutines; grown > 10 {
		t.Errorf("%d calls during the outage left %d more goroutines; want at most one stuck call", calls-3, grown)
	}
	t.Run("a call's own cancellation is no outage", func(t *testing.T) {
		callCtx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := appendOne(callCtx, conn, stream)
		if !errors.Is(err, context.Canceled) || errors.Is(err, esdbconn.ErrUnavailable) {
			t.Fatalf("a cancelled call: %v; want context.Canceled only", err)
		}
	})
	plainErr := <-plainDone

	proxy.Restore()
	t.Logf("store back after %v; %d calls during the outage", time.Since(outage).Round(time.Millisecond), calls)
	eventually(t, 15*time.Second, func() (bool, string) {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := appendOne(callCtx, conn, stream)
		return err == nil, fmt.Sprintf("append after the outage: %v", err)
	})
	callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sub, err := conn.SubscribeToStream(callCtx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatalf("subscribe after the outage: %v", err)
	}
	sub.Close()
	if err := conn.Healthy(callCtx); err != nil {
		t.Fatalf("Healthy after the outage: %v", err)
	}

	t.Run("the plain client is dead", func(t *testing.T) {
		_, err := plain.AppendToStream(callCtx, stream, esdb.AppendToStreamOptions{}, event("Plain"))
		var esErr *esdb.Error
		if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeConnectionClosed {
			t.Fatalf("plain client after the outage: %v (during it: %v); want connection closed: the outage was not long enough to show anything", err, plainErr)
		}
	})
}

// A store that stops answering (connections open, nothing comes back) is an
// outage too: calls return at their deadlines and Healthy says so.
func TestConn_StalledStore(t *testing.T) {
	_, proxy, conn := behindProxy(t)
	ctx := t.Context()
	proxy.Stall()
	const deadline = 300 * time.Millisecond
	callCtx, cancel := context.WithTimeout(ctx, deadline)
	start := time.Now()
	_, err := conn.ReadStream(callCtx, "stalled", esdb.ReadStreamOptions{From: esdb.Start{}}, 1)
	cancel()
	requireUnavailableAtDeadline(t, "ReadStream", deadline, time.Since(start), err)

	eventually(t, 5*time.Second, func() (bool, string) {
		callCtx, cancel := context.WithTimeout(ctx, deadline)
		defer cancel()
		err := conn.Healthy(callCtx)
		return errors.Is(err, esdbconn.ErrUnavailable), fmt.Sprintf("Healthy with the store stalled: %v; want ErrUnavailable", err)
	})
	proxy.Unstall()
	eventually(t, 10*time.Second, func() (bool, string) {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		err := conn.Healthy(callCtx)
		return err == nil, fmt.Sprintf("Healthy once the store answers again: %v", err)
	})
}

// Close waits for the calls inside the client, refuses new ones, and then
// ends the subscriptions.
func TestConn_Close_WithCallsInFlight(t *testing.T) {
	_, proxy, conn := behindProxy(t)
	ctx := t.Context()
	sub, err := conn.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.End{}})
	if err != nil {
		t.Fatalf("SubscribeToAll: %v", err)
	}

	proxy.Stall()
	inFlight := make(chan error, 1)
	go func() {
		_, err := appendOne(ctx, conn, "in-flight")
		inFlight <- err
	}()
	eventually(t, 5*time.Second, func() (bool, string) { return proxy.Held() > 0, "the append never reached the proxy" })

	closed := make(chan error, 1)
	go func() {
		closeCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		closed <- conn.Close(closeCtx)
	}()
	// Close has begun once new calls are refused. The calls that find out
	// carry a cancelled context: one that enters before Close must not stay
	// held inside the client.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	eventually(t, 5*time.Second, func() (bool, string) {
		_, err := appendOne(cancelled, conn, "after-close")
		return errors.Is(err, esdbconn.ErrClosed), fmt.Sprintf("a call after Close began: %v; want ErrClosed", err)
	})
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a call still held inside the client", err)
	default:
	}

	proxy.Unstall()
	if err := <-inFlight; err != nil {
		t.Fatalf("the call in flight during Close: %v; want it to finish", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	for {
		e := sub.Recv()
		if e.SubscriptionDropped != nil {
			break
		}
	}
	if err := conn.Healthy(ctx); !errors.Is(err, esdbconn.ErrClosed) && !errors.Is(err, esdbconn.ErrUnavailable) {
		t.Fatalf("Healthy after Close: %v; want an error", err)
	}
}

// Close gives up at its deadline while a call cannot leave the client, and
// leaves the client open for that call to finish; a later Close closes it.
func TestConn_Close_GivesUpAtItsDeadline(t *testing.T) {
	_, proxy, conn := behindProxy(t)
	ctx := t.Context()
	proxy.Stall()
	inFlight := make(chan error, 1)
	go func() {
		_, err := appendOne(ctx, conn, "in-flight")
		inFlight <- err
	}()
	eventually(t, 5*time.Second, func() (bool, string) { return proxy.Held() > 0, "the append never reached the proxy" })

	closeCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := conn.Close(closeCtx)
	if !errors.Is(err, esdbconn.ErrCallsStillRunning) || time.Since(start) > 2*time.Second {
		t.Fatalf("Close with a call held: %v after %v; want ErrCallsStillRunning at its 200 ms deadline", err, time.Since(start))
	}
	if _, err := appendOne(ctx, conn, "after-close"); !errors.Is(err, esdbconn.ErrClosed) {
		t.Fatalf("a call after Close: %v; want ErrClosed", err)
	}

	proxy.Unstall()
	if err := <-inFlight; err != nil {
		t.Fatalf("the call left inside: %v; want it to finish", err)
	}
	closeCtx2, cancel2 := context.WithTimeout(ctx, 5*time.Second)
	defer cancel2()
	if err := conn.Close(closeCtx2); err != nil {
		t.Fatalf("Close again once the call left: %v", err)
	}
}

// A process may start before its store: calls wait for it (each bounded by
// its context) and go through once it is there.
func TestConn_StoreStartsLater(t *testing.T) {
	store := eventstoretest.Start(t, eventstore.Config{})
	proxy := esdbconntest.NewProxy(t, store.Addr.String())
	proxy.Cut()
	conn := esdbconntest.Dial(t, proxy.ConnectionString())
	ctx := t.Context()
	for range 3 {
		callCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		start := time.Now()
		_, err := appendOne(callCtx, conn, "later")
		cancel()
		requireUnavailableAtDeadline(t, "append before the store is there", 200*time.Millisecond, time.Since(start), err)
	}
	proxy.Restore()
	eventually(t, 15*time.Second, func() (bool, string) {
		callCtx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := appendOne(callCtx, conn, "later")
		return err == nil, fmt.Sprintf("append once the store is there: %v", err)
	})
}
