package publisher_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
	"github.com/loanflow/loans/publisher-service/internal/publishertest"
)

// Every loan event, whether already stored when the publisher starts or
// appended while it runs, arrives once, in commit order, as the message
// the contract describes; events of other types and the publisher's own
// checkpoints do not.
func TestPublisher_PublishesEveryLoanEventOnceInCommitOrder(t *testing.T) {
	e := newEnv(t)
	g := eventgen.New(1, t0)
	publishertest.AppendLifecycles(t, e.client, g, 20) // caught up on
	r := start(t, e.config(t))
	publishertest.AppendLifecycles(t, e.client, g, 20) // published live
	want := publishertest.LoanEvents(t, e.client)
	got := e.queue.WaitFor(t, want, wait)
	if dups := publishertest.Check(t, want, got); dups != 0 {
		t.Errorf("%d duplicates in a run without faults", dups)
	}
	byID := map[string]publishertest.Event{}
	for _, ev := range want {
		byID[ev.ID.String()] = ev
	}
	for _, d := range got {
		checkMessage(t, e.exchange, byID[d.MessageId], d)
	}
	last := want[len(want)-1].Position.Commit
	waitCheckpoint(t, r.p, last)
	saved, ok, err := publisher.ReadCheckpoint(t.Context(), e.conn, publisher.CheckpointStream(e.exchange))
	if err != nil || !ok || saved.Commit < last {
		t.Errorf("checkpoint stream holds %+v (found %v, %v); want the last loan event's position %d or later", saved, ok, err, last)
	}
	if st := r.p.Stats(); st.Published != int64(len(want)) || st.Poison != 0 || !st.Connected || !st.Live || st.Sessions != 1 {
		t.Errorf("Stats = %+v; want %d published, no poison, connected, live, one session", st, len(want))
	}
}

// checkMessage checks one arrival against the stored event, independently
// of publisher.Map.
func checkMessage(t *testing.T, exchange string, ev publishertest.Event, d amqp.Delivery) {
	t.Helper()
	md, err := loanevents.UnmarshalMetadata(ev.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	h := d.Headers
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"exchange", d.Exchange, exchange},
		{"routing key", d.RoutingKey, "loans.v1." + ev.Type},
		{"type", d.Type, ev.Type},
		{"content type", d.ContentType, "application/json"},
		{"delivery mode", d.DeliveryMode, uint8(2)},
		{"app id", d.AppId, "publisher-service"},
		{"timestamp", d.Timestamp.Unix(), ev.Created.Unix()},
		{"body", string(d.Body), string(ev.Data)},
		{"loan_application_uuid", h["loan_application_uuid"], ev.App},
		{"stream", h["stream"], ev.Stream},
		{"stream_revision", h["stream_revision"], int64(ev.Revision)},
		{"commit_position", h["commit_position"], int64(ev.Position.Commit)},
		{"prepare_position", h["prepare_position"], int64(ev.Position.Prepare)},
		{"correlation_id", h["correlation_id"], md.CorrelationID},
		{"causation_id", h["causation_id"], md.CausationID},
		{"schema_version", h["schema_version"], int64(1)},
		{"recorded_at", h["recorded_at"], ev.Created.UTC().Format(time.RFC3339Nano)},
	} {
		if c.got != c.want {
			t.Errorf("%s %s: %s = %#v, want %#v", ev.Type, ev.ID, c.what, c.got, c.want)
		}
	}
	if _, ok := h["decode_error"]; ok {
		t.Errorf("%s %s: decode_error on an event that decodes", ev.Type, ev.ID)
	}
	if ev.App == "" || !strings.HasSuffix(ev.Stream, ev.App) {
		t.Errorf("%s %s: application %q does not match stream %s", ev.Type, ev.ID, ev.App, ev.Stream)
	}
}

// A publisher stopped (SIGTERM) and started again goes on after its
// checkpoint: nothing published before it is published again; the
// checkpoint stream keeps its last few events only.
func TestPublisher_RestartGoesOnAfterTheCheckpoint(t *testing.T) {
	e := newEnv(t)
	g := eventgen.New(2, t0)
	publishertest.AppendLifecycles(t, e.client, g, 30)
	first := start(t, e.config(t))
	want := publishertest.LoanEvents(t, e.client)
	e.queue.WaitFor(t, want, wait)
	first.stop(t)
	saved, ok, err := publisher.ReadCheckpoint(t.Context(), e.conn, publisher.CheckpointStream(e.exchange))
	if last := want[len(want)-1].Position.Commit; err != nil || !ok || saved.Commit < last {
		t.Fatalf("after a clean stop the checkpoint is %+v (found %v, %v); want %d or later; the publisher's stats %+v", saved, ok, err, last, first.p.Stats())
	}

	publishertest.AppendLifecycles(t, e.client, g, 30)
	second := start(t, e.config(t))
	want = publishertest.LoanEvents(t, e.client)
	got := e.queue.WaitFor(t, want, wait)
	if dups := publishertest.Check(t, want, got); dups != 0 {
		t.Errorf("%d events published again after a restart from a checkpoint saved at stop", dups)
	}
	if st := second.p.Stats(); st.Checkpoint.Commit < saved.Commit {
		t.Errorf("the second run started from %+v, before the saved checkpoint %+v", st.Checkpoint, saved)
	}
	second.stop(t)
	kept, err := e.conn.ReadStream(t.Context(), publisher.CheckpointStream(e.exchange), esdb.ReadStreamOptions{From: esdb.Start{}}, 1000)
	if err != nil || len(kept) == 0 || len(kept) > 5 {
		t.Errorf("the checkpoint stream keeps %d events (%v); want 1 to 5", len(kept), err)
	}
}

// A publisher that dies before saving its checkpoint (its saves fail here,
// as a SIGKILL would cut them short) publishes again, once started, the
// events after its last saved checkpoint, and none before it.
func TestPublisher_RestartAfterALostCheckpointRepublishesOnlyWhatFollowsIt(t *testing.T) {
	e := newEnv(t)
	g := eventgen.New(6, t0)
	publishertest.AppendLifecycles(t, e.client, g, 20)
	store := &savesFail{EventStore: e.conn}
	cfg := e.config(t)
	cfg.EventStore, cfg.Logger = store, quiet
	first := start(t, cfg)
	saved := publishertest.LoanEvents(t, e.client)
	e.queue.WaitFor(t, saved, wait)
	checkpoint := saved[len(saved)-1].Position.Commit
	waitCheckpoint(t, first.p, checkpoint)
	store.fail.Store(true)
	publishertest.AppendLifecycles(t, e.client, g, 20)
	unsaved := publishertest.LoanEvents(t, e.client)[len(saved):]
	e.queue.WaitFor(t, unsaved, wait)
	first.stop(t)

	second := start(t, e.config(t))
	publishertest.AppendLifecycles(t, e.client, g, 5)
	want := publishertest.LoanEvents(t, e.client)
	got := e.queue.WaitFor(t, want, wait)
	publishertest.Check(t, want, got)
	times := map[string]int{}
	for _, d := range got {
		times[d.MessageId]++
	}
	for i, ev := range want {
		switch n := times[ev.ID.String()]; {
		case i < len(saved) && n != 1:
			t.Errorf("%s at %d, before the checkpoint %d, arrived %d times; want once", ev.Type, ev.Position.Commit, checkpoint, n)
		case i >= len(saved) && i < len(saved)+len(unsaved) && n != 2:
			t.Errorf("%s at %d, after the checkpoint %d, arrived %d times; want twice", ev.Type, ev.Position.Commit, checkpoint, n)
		case i >= len(saved)+len(unsaved) && n != 1:
			t.Errorf("%s at %d, appended after the restart, arrived %d times; want once", ev.Type, ev.Position.Commit, n)
		}
	}
	second.stop(t)
}

// savesFail is an event store whose appends (the checkpoint's saves)
// fail once fail is set.
type savesFail struct {
	publisher.EventStore
	fail atomic.Bool
}

func (s *savesFail) Append(ctx context.Context, stream string, opts esdb.AppendToStreamOptions, events ...esdb.EventData) (*esdb.WriteResult, error) {
	if s.fail.Load() {
		return nil, errors.New("saves fail (as if the process had died before)")
	}
	return s.EventStore.Append(ctx, stream, opts, events...)
}

// The broker closes the publisher's connection twice, while it catches up
// with a backlog and events are appended: every event still arrives at
// least once, and the first arrivals keep commit order.
func TestPublisher_BrokerClosesTheConnection(t *testing.T) {
	e := newEnv(t)
	var backlog sync.WaitGroup
	for w := range 4 {
		backlog.Go(func() {
			if err := publishertest.TryAppendLifecycles(e.client, eventgen.New(uint64(30+w), t0), 300); err != nil {
				t.Error(err)
			}
		})
	}
	backlog.Wait()
	g := eventgen.New(3, t0)
	// Lifecycles are appended until both cuts are done (a bounded number).
	var stop atomic.Bool
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		for i := 0; i < 5000 && !stop.Load(); i++ {
			if err := publishertest.TryAppendLifecycles(e.client, g, 1); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	r := start(t, e.config(t))
	name := publisher.DefaultConnectionName(e.exchange)
	for cut := 1; cut <= 2; cut++ {
		before := e.queue.Count()
		poll.Until(t, wait, 5*time.Millisecond, func() (bool, string) {
			return e.queue.Count() > before+50 && r.p.Stats().Connected,
				fmt.Sprintf("cut %d: waiting for arrivals on a connected publisher (%d so far)", cut, e.queue.Count())
		})
		poll.Until(t, wait, 50*time.Millisecond, func() (bool, string) {
			return rabbittest.CloseConnections(t, name) == 1, "the broker does not list the publisher's connection " + name
		})
		t.Logf("cut %d: the broker closed the connection after %d arrivals", cut, e.queue.Count())
		poll.Until(t, wait, 5*time.Millisecond, func() (bool, string) {
			st := r.p.Stats()
			return st.Sessions >= int64(cut)+1 && st.Connected, fmt.Sprintf("sessions %d, connected %v: no new session after cut %d", st.Sessions, st.Connected, cut)
		})
	}
	stop.Store(true)
	<-appended
	want := publishertest.LoanEvents(t, e.client)
	got := e.queue.WaitFor(t, want, wait)
	dups := publishertest.Check(t, want, got)
	t.Logf("%d events, %d arrivals, %d duplicates after 2 connections closed by the broker", len(want), len(got), dups)
}

// The event store goes away and comes back: the publisher reports it,
// then resumes after the last confirmed event: nothing lost, and nothing
// twice (the broker session never broke).
func TestPublisher_EventStoreOutage(t *testing.T) {
	e := newEnv(t)
	proxy := esdbconntest.NewProxy(t, e.es.Addr.String())
	cfg := e.config(t)
	cfg.EventStore = esdbconntest.Dial(t, proxy.ConnectionString())
	g := eventgen.New(4, t0)
	publishertest.AppendLifecycles(t, e.client, g, 20)
	r := start(t, cfg)
	e.queue.WaitFor(t, publishertest.LoanEvents(t, e.client), wait)

	proxy.Cut()
	publishertest.AppendLifecycles(t, e.client, g, 20) // through the test's own connection
	check := r.p.Checks()[0]
	poll.Until(t, wait, 20*time.Millisecond, func() (bool, string) {
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		err := check.Func(ctx)
		return errors.Is(err, esdbconn.ErrUnavailable), fmt.Sprintf("the %s check with the store cut off: %v", check.Name, err)
	})
	proxy.Restore()
	want := publishertest.LoanEvents(t, e.client)
	got := e.queue.WaitFor(t, want, wait)
	if dups := publishertest.Check(t, want, got); dups != 0 {
		t.Errorf("%d duplicates after an event store outage; want none", dups)
	}
	if st := r.p.Stats(); st.Sessions != 1 {
		t.Errorf("%d broker sessions: the event store outage should not touch the broker", st.Sessions)
	}
}

// An event whose payload does not decode is published as stored, marked
// with a decode_error header, and the events after it follow.
func TestPublisher_PoisonEventIsPublishedMarked(t *testing.T) {
	e := newEnv(t)
	g := eventgen.New(5, t0)
	publishertest.AppendLifecycles(t, e.client, g, 3)
	app := g.UUID().String()
	poisonID := g.UUID()
	publishertest.Append(t, e.client, eventgen.Append{Stream: "loanReview-" + app, Expected: -1, Events: []esdb.EventData{{
		EventID: poisonID, EventType: loanevents.TypeLoanApproved, ContentType: esdb.ContentTypeJson, Data: []byte(`{"amount": [}`),
	}}})
	publishertest.AppendLifecycles(t, e.client, g, 3)
	r := start(t, e.config(t))
	want := publishertest.LoanEvents(t, e.client)
	got := e.queue.WaitFor(t, want, wait)
	publishertest.Check(t, want, got)
	for _, d := range got {
		_, marked := d.Headers[publisher.HeaderDecodeError]
		if poison := d.MessageId == poisonID.String(); marked != poison {
			t.Errorf("message %s (%s): decode_error header %v, poison %v", d.MessageId, d.Type, d.Headers[publisher.HeaderDecodeError], poison)
			continue
		}
		if marked && (string(d.Body) != `{"amount": [}` || d.Headers[publisher.HeaderApplication] != app || d.RoutingKey != "loans.v1.LoanApproved") {
			t.Errorf("poison message: body %s, application %v, key %s", d.Body, d.Headers[publisher.HeaderApplication], d.RoutingKey)
		}
	}
	if st := r.p.Stats(); st.Poison != 1 {
		t.Errorf("Stats().Poison = %d, want 1", st.Poison)
	}
}

// Readiness follows the broker connection: not before Run, yes while it
// publishes, not while the broker cannot be reached, not after Run.
func TestPublisher_BrokerReady(t *testing.T) {
	t.Run("ConnectedWhileRunning", func(t *testing.T) {
		e := newEnv(t)
		p, err := publisher.New(e.config(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := p.BrokerReady(t.Context()); !errors.Is(err, publisher.ErrBrokerNotConnected) {
			t.Errorf("BrokerReady before Run: %v", err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		poll.Until(t, wait, 5*time.Millisecond, func() (bool, string) {
			err := p.BrokerReady(t.Context())
			return err == nil, fmt.Sprintf("BrokerReady while running: %v", err)
		})
		var names []string
		for _, c := range p.Checks() {
			names = append(names, c.Name)
			if err := c.Func(t.Context()); err != nil {
				t.Errorf("check %s: %v", c.Name, err)
			}
		}
		if strings.Join(names, ",") != "eventstore,broker" {
			t.Errorf("checks %v", names)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if err := p.BrokerReady(t.Context()); !errors.Is(err, publisher.ErrBrokerNotConnected) {
			t.Errorf("BrokerReady after Run: %v", err)
		}
	})
	t.Run("NoBroker", func(t *testing.T) {
		p, err := publisher.New(publisher.Config{EventStore: esdbconntest.Dial(t, "esdb://127.0.0.1:1?tls=false"), AMQPURL: "amqp://guest:guest@127.0.0.1:1/",
			Logger: quiet, MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if err := p.Run(ctx); err != nil {
			t.Errorf("Run without a broker returned %v when its context ended; want nil", err)
		}
		if err := p.BrokerReady(t.Context()); !errors.Is(err, publisher.ErrBrokerNotConnected) {
			t.Errorf("BrokerReady without a broker: %v", err)
		}
		if st := p.Stats(); st.Sessions != 0 || st.Published != 0 {
			t.Errorf("Stats without a broker: %+v", st)
		}
	})
}

func TestNew(t *testing.T) {
	conn := esdbconntest.Dial(t, "esdb://127.0.0.1:1?tls=false")
	for name, tc := range map[string]struct {
		cfg  publisher.Config
		want string
	}{
		"NoEventStore": {publisher.Config{AMQPURL: "amqp://localhost/"}, "no event store"},
		"NoBrokerURL":  {publisher.Config{EventStore: conn}, "no broker URL"},
		"BadBrokerURL": {publisher.Config{EventStore: conn, AMQPURL: "http://localhost/"}, "rabbit:"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := publisher.New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error saying %q", err, tc.want)
			}
		})
	}
	t.Run("Defaults", func(t *testing.T) {
		p, err := publisher.New(publisher.Config{EventStore: conn, AMQPURL: "amqp://localhost/"})
		if err != nil {
			t.Fatal(err)
		}
		cfg := p.Config()
		if cfg.Exchange != "loans.events" || cfg.ConnectionName != "publisher-service/loans.events" || cfg.MaxBatch != 1000 ||
			publisher.CheckpointStream(cfg.Exchange) != "publisher-loans.events-checkpoint" {
			t.Errorf("defaults: %+v", cfg)
		}
	})
}
