package projector_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/projector-service/internal/projection"
	"github.com/loanflow/loans/projector-service/internal/projector"
	"github.com/loanflow/loans/projector-service/internal/projectortest"
)

func TestProjector_Run(t *testing.T) {
	t.Run("ReplayGivesTheIndependentFold", func(t *testing.T) {
		e := newEnv(t)
		projectortest.AppendLifecycles(t, e.client, eventgen.New(1, t0), 400, 8)
		model, last := projectortest.Fold(t, e.client)
		opts := fastOptions()
		opts.MaxBatch = 100 // several batches, some cut by size
		start(t, projector.New(e.conn, e.store, testLogger(t), opts))
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		projectortest.Equal(t, e.reader, model)
		if p := parked(t, e.store); len(p) != 0 {
			t.Errorf("parked %+v, want none", p)
		}
	})
	t.Run("LiveEventsAreWrittenAtOnce", func(t *testing.T) {
		e := newEnv(t)
		g := eventgen.New(2, t0)
		projectortest.AppendLifecycles(t, e.client, g, 50, 4)
		_, last := projectortest.Fold(t, e.client)
		opts := fastOptions()
		opts.MaxDelay = time.Hour // catching up may wait for a full batch; live must not
		start(t, projector.New(e.conn, e.store, testLogger(t), opts))
		projectortest.WaitCheckpoint(t, e.reader, last, wait) // the catch-up ends with CaughtUp
		for range 5 {
			pos := projectortest.Append(t, e.client, g.Lifecycle()[0])
			projectortest.WaitCheckpoint(t, e.reader, pos, 5*time.Second)
		}
		model, _ := projectortest.Fold(t, e.client)
		projectortest.Equal(t, e.reader, model)
	})
	t.Run("SameEventsTwiceChangeNothing", func(t *testing.T) {
		e := newEnv(t)
		projectortest.AppendLifecycles(t, e.client, eventgen.New(3, t0), 300, 8)
		model, last := projectortest.Fold(t, e.client)
		p := projector.New(e.conn, e.store, testLogger(t), fastOptions())
		r := start(t, p)
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		r.stop(t)
		before := projectortest.Read(t, e.reader)
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		for _, from := range []uint64{0, last / 2} {
			if err := p.ProjectAgain(ctx, active(t, e.store), from, last); err != nil {
				t.Fatalf("project again from %d: %v", from, err)
			}
			if d := projectortest.Diff(projectortest.Read(t, e.reader), before); len(d) > 0 {
				t.Errorf("events delivered again from %d changed the read model:\n%s", from, strings.Join(d, "\n"))
			}
		}
		projectortest.Equal(t, e.reader, model)
	})
	t.Run("UnknownEventTypesSkipped", func(t *testing.T) {
		e := newEnv(t)
		g := eventgen.New(4, t0)
		life := g.Lifecycle()
		projectortest.Append(t, e.client, life[0])
		// A type added by a later version, in a loan stream, with a name
		// that the server's prefix filter lets through.
		projectortest.Append(t, e.client, eventgen.Append{Stream: "loanRequest-x", Expected: -1, Events: []esdb.EventData{
			{EventID: uuid.New(), EventType: loanevents.TypeLoanRequested + "V2", ContentType: esdb.ContentTypeJson, Data: []byte(`{"x":1}`)},
		}})
		last := projectortest.Append(t, e.client, life[1:]...)
		model, _ := projectortest.Fold(t, e.client)
		start(t, projector.New(e.conn, e.store, testLogger(t), fastOptions()))
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		projectortest.Equal(t, e.reader, model)
		if p := parked(t, e.store); len(p) != 0 {
			t.Errorf("parked %+v, want none", p)
		}
	})
	t.Run("FollowsANewGenerationOnceActivated", func(t *testing.T) {
		e := newEnv(t)
		g := eventgen.New(5, t0)
		projectortest.AppendLifecycles(t, e.client, g, 20, 2)
		_, last := projectortest.Fold(t, e.client)
		start(t, projector.New(e.conn, e.store, testLogger(t), fastOptions()))
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		// Another process builds and activates a generation.
		res, err := projector.New(e.conn, e.store, testLogger(t), fastOptions()).Rebuild(t.Context(), 0)
		if err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		pos := projectortest.Append(t, e.client, g.Lifecycle()...)
		projectortest.WaitCheckpoint(t, e.reader, pos, wait)
		if got := active(t, e.store); got != res.New {
			t.Errorf("active generation %d, want %d", got, res.New)
		}
		model, _ := projectortest.Fold(t, e.client)
		projectortest.Equal(t, e.reader, model)
	})
}

// poison is a loan event that cannot be projected.
func poison(stream, eventType, data string) eventgen.Append {
	md, _ := loanevents.MarshalMetadata(loanevents.Metadata{Actor: "ada", OccurredAt: t0, SchemaVersion: 1})
	return eventgen.Append{Stream: stream, Expected: -1, Events: []esdb.EventData{
		{EventID: uuid.New(), EventType: eventType, ContentType: esdb.ContentTypeJson, Data: []byte(data), Metadata: md},
	}}
}

func TestProjector_Parking(t *testing.T) {
	t.Run("UndecodableEventsParkedTheRestProjected", func(t *testing.T) {
		e := newEnv(t)
		g := eventgen.New(6, t0)
		projectortest.AppendLifecycles(t, e.client, g, 30, 2)
		bad := projectortest.Append(t, e.client, poison("loanRequest-poison", loanevents.TypeLoanRequested, `{"amount": "lots`))
		badUUID := projectortest.Append(t, e.client, poison("loanReview-poison", loanevents.TypeLoanApproved, `{"loanApplicationUuid":"nope"}`))
		projectortest.AppendLifecycles(t, e.client, g, 30, 2)
		model, last := projectortest.Fold(t, e.client)

		start(t, projector.New(e.conn, e.store, testLogger(t), fastOptions()))
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		projectortest.Equal(t, e.reader, model)
		p := parked(t, e.store)
		if len(p) != 2 || p[0].Position != bad || p[1].Position != badUUID {
			t.Fatalf("parked %+v, want the events at %d and %d", p, bad, badUUID)
		}
		if p[0].EventType != loanevents.TypeLoanRequested || p[0].Stream != "loanRequest-poison" || p[0].EventID == "" ||
			!strings.Contains(p[0].Error, "decode") || p[0].ParkedAt.IsZero() {
			t.Errorf("parked event %+v: want its type, stream, ID, a decode error and a time", p[0])
		}
		if !strings.Contains(p[1].Error, "loan_application_uuid") {
			t.Errorf("parked event %+v: want the UUID error", p[1])
		}

		t.Run("ReplayKeepsThemParked", func(t *testing.T) {
			out, err := projector.New(e.conn, e.store, testLogger(t), fastOptions()).ReplayParked(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 2 || out[0].Err == nil || out[1].Err == nil {
				t.Fatalf("outcomes %+v, want both still failing", out)
			}
			if p := parked(t, e.store); len(p) != 2 {
				t.Errorf("parked %+v after the replay, want both kept", p)
			}
		})
	})
	t.Run("EventTheStoreKeepsRefusingIsParked", func(t *testing.T) {
		e := newEnv(t)
		g := eventgen.New(7, t0)
		projectortest.AppendLifecycles(t, e.client, g, 20, 2)
		// An application of a single event: refused, then replayed whole.
		lone := g.Lifecycle()[0]
		lone.Events = lone.Events[:1]
		refused := projectortest.Append(t, e.client, lone)
		projectortest.AppendLifecycles(t, e.client, g, 20, 2)
		model, last := projectortest.Fold(t, e.client)

		fs := &faultyStore{Writer: e.store}
		fs.setFail(func(method string, b *readmodel.Batch) bool { return method == "Apply" && hasPosition(b, refused) })
		start(t, projector.New(e.conn, fs, testLogger(t), fastOptions()))
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		p := parked(t, e.store)
		if len(p) != 1 || p[0].Position != refused || !strings.Contains(p[0].Error, errInjected.Error()) {
			t.Fatalf("parked %+v, want the event at %d with the store's error", p, refused)
		}
		// Everything but the refused event is there.
		got := projectortest.Read(t, e.reader)
		id := strings.TrimPrefix(lone.Stream, "loanRequest-")
		if _, ok := got.Applications[id]; ok {
			t.Errorf("the refused event's application is in the read model")
		}
		want := projectortest.FromModel(model)
		delete(want.Applications, id)
		delete(want.History, id)
		if d := projectortest.Diff(got, projectortest.Snapshot{Applications: want.Applications, History: want.History, Days: got.Days, Funnel: got.Funnel}); len(d) > 0 {
			t.Errorf("read model besides the refused event:\n%s", strings.Join(d, "\n"))
		}

		t.Run("ReplayUnparksItOnceTheStoreTakesIt", func(t *testing.T) {
			fs.setFail(nil)
			out, err := projector.New(e.conn, e.store, testLogger(t), fastOptions()).ReplayParked(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 1 || out[0].Err != nil || out[0].Behind {
				t.Fatalf("outcomes %+v, want one projected in full", out)
			}
			if p := parked(t, e.store); len(p) != 0 {
				t.Errorf("still parked: %+v", p)
			}
			// The application and its history are whole again; the
			// statistics had counted later events (their guards refuse an
			// older contribution) until a rebuild.
			got := projectortest.Read(t, e.reader)
			want := projectortest.FromModel(model)
			if d := projectortest.Diff(got, projectortest.Snapshot{Applications: want.Applications, History: want.History, Days: got.Days, Funnel: got.Funnel}); len(d) > 0 {
				t.Errorf("read model after the replay:\n%s", strings.Join(d, "\n"))
			}
			if _, err := projector.New(e.conn, e.store, testLogger(t), fastOptions()).Rebuild(t.Context(), 0); err != nil {
				t.Fatal(err)
			}
			projectortest.Equal(t, e.reader, model)
		})
	})
	t.Run("StoreDownIsWaitedOutNotParked", func(t *testing.T) {
		e := newEnv(t)
		projectortest.AppendLifecycles(t, e.client, eventgen.New(8, t0), 50, 4)
		model, last := projectortest.Fold(t, e.client)
		// Every write and read of the projection fails; parking does not,
		// so a projector that took the outage for bad events would park
		// them all.
		fs := &faultyStore{Writer: e.store}
		var down atomic.Bool
		down.Store(true)
		fs.setFail(func(method string, _ *readmodel.Batch) bool {
			return down.Load() && (method == "Apply" || method == "Applications")
		})
		p := projector.New(e.conn, fs, testLogger(t), fastOptions())
		start(t, p)
		// Three rounds of a batch's 3 attempts, the check that finds the
		// store down, and following again from the checkpoint.
		const rounds = 3 * (3 + 1)
		eventually(t, wait, func() (bool, string) {
			n := fs.calls("Apply") + fs.calls("Applications")
			return n >= rounds, fmt.Sprintf("the store was asked %d times, want at least %d", n, rounds)
		})
		if err := p.Ready(t.Context()); !errors.Is(err, projector.ErrNotReady) {
			t.Errorf("Ready with the read model refusing every write: %v; want ErrNotReady", err)
		}
		if got := position(t, e.reader); got != 0 {
			t.Errorf("the checkpoint moved to %d while the store refused every write", got)
		}
		if p := parked(t, e.store); len(p) != 0 {
			t.Fatalf("parked %d events while the store was down, want none", len(p))
		}
		down.Store(false)
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		projectortest.Equal(t, e.reader, model)
		if p := parked(t, e.store); len(p) != 0 {
			t.Errorf("parked %d events while the store was down, want none", len(p))
		}
		eventually(t, wait, func() (bool, string) {
			err := p.Ready(t.Context())
			return err == nil, fmt.Sprintf("Ready once the store is back: %v", err)
		})
	})
	t.Run("ReplayOfAnEventItsApplicationMovedPastIsHistoryOnly", func(t *testing.T) {
		e := newEnv(t)
		g := eventgen.New(9, t0)
		life := g.Lifecycle()
		for len(life) < 3 {
			life = g.Lifecycle()
		}
		first := projectortest.Append(t, e.client, life[0])
		last := projectortest.Append(t, e.client, life[1:]...)
		fs := &faultyStore{Writer: e.store}
		fs.setFail(func(method string, b *readmodel.Batch) bool { return method == "Apply" && hasPosition(b, first) })
		opts := fastOptions()
		opts.MaxBatch = 1
		start(t, projector.New(e.conn, fs, testLogger(t), opts))
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		fs.setFail(nil)
		out, err := projector.New(e.conn, e.store, testLogger(t), fastOptions()).ReplayParked(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != 1 || out[0].Err != nil || !out[0].Behind {
			t.Fatalf("outcomes %+v, want one projected behind its application", out)
		}
		id := strings.TrimPrefix(life[0].Stream, "loanRequest-")
		h, err := e.reader.History(t.Context(), id)
		events := 0
		for _, a := range life {
			events += len(a.Events)
		}
		if err != nil || len(h) != events || !slices.ContainsFunc(h, func(h readmodel.HistoryEntry) bool { return h.Position == first }) {
			t.Errorf("history %+v (%v), want it to hold the replayed event at %d", h, err, first)
		}
	})
}

func TestProjector_Rebuild(t *testing.T) {
	t.Run("ReadersSeeTheOldOrTheNewGenerationWhole", func(t *testing.T) {
		e := newEnv(t)
		projectortest.AppendLifecycles(t, e.client, eventgen.New(10, t0), 1500, 8)
		model, last := projectortest.Fold(t, e.client)
		start(t, projector.New(e.conn, e.store, testLogger(t), fastOptions()))
		projectortest.WaitCheckpoint(t, e.reader, last, wait)
		old := active(t, e.store)

		// A reader in its own connection polls while the rebuild runs.
		reader := e.reader
		stop := make(chan struct{})
		polled := make(chan []string, 1)
		go func() {
			var bad []string
			reads := 0
			for {
				select {
				case <-stop:
					polled <- append(bad, "reads: "+itoa(reads))
					return
				default:
				}
				_, funnel, err := reader.Stats(context.Background(), "0001-01-01", "9999-12-31")
				pos, perr := reader.Position(context.Background())
				reads++
				switch {
				case err != nil || perr != nil:
					bad = append(bad, "read failed: "+errString(err)+" "+errString(perr))
				case funnel != model.Funnel:
					bad = append(bad, "funnel "+fmtFunnel(funnel))
				case pos < last:
					bad = append(bad, "position "+itoa(int(pos)))
				}
				if len(bad) > 5 {
					polled <- bad
					<-stop
					return
				}
			}
		}()
		res, err := projector.New(e.conn, e.store, testLogger(t), fastOptions()).Rebuild(t.Context(), 100*time.Millisecond)
		close(stop)
		seen := <-polled
		if err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		if len(seen) > 1 {
			t.Errorf("a reader saw a half-built generation (full funnel %s):\n%s", fmtFunnel(model.Funnel), strings.Join(seen, "\n"))
		}
		t.Logf("rebuild %+v; %s", res, seen[len(seen)-1])
		if res.Old != old || res.New == old || !res.Dropped || res.Checkpoint < last {
			t.Errorf("rebuild result %+v: want generation %d replaced and dropped, checkpoint ≥ %d", res, old, last)
		}
		if got := active(t, e.store); got != res.New {
			t.Errorf("active generation %d, want %d", got, res.New)
		}
		if _, err := e.store.Checkpoint(t.Context(), old); err == nil {
			t.Errorf("old generation %d still there", old)
		}
		projectortest.Equal(t, e.reader, model)
	})
	t.Run("UnparksWhatItProjects", func(t *testing.T) {
		e := newEnv(t)
		g := eventgen.New(11, t0)
		lone := g.Lifecycle()[0]
		refused := projectortest.Append(t, e.client, lone)
		last := projectortest.AppendLifecycles(t, e.client, g, 10, 2)
		bad := projectortest.Append(t, e.client, poison("loanRequest-poison", loanevents.TypeLoanRequested, `{`))
		model, _ := projectortest.Fold(t, e.client)
		fs := &faultyStore{Writer: e.store}
		fs.setFail(func(method string, b *readmodel.Batch) bool { return method == "Apply" && hasPosition(b, refused) })
		r := start(t, projector.New(e.conn, fs, testLogger(t), fastOptions()))
		projectortest.WaitCheckpoint(t, e.reader, max(last, bad), wait)
		r.stop(t)
		if p := parked(t, e.store); len(p) != 2 {
			t.Fatalf("parked %+v, want 2", p)
		}
		res, err := projector.New(e.conn, e.store, testLogger(t), fastOptions()).Rebuild(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Unparked) != 1 || res.Unparked[0] != refused {
			t.Errorf("unparked %v, want [%d]", res.Unparked, refused)
		}
		if p := parked(t, e.store); len(p) != 1 || p[0].Position != bad {
			t.Errorf("parked %+v, want only the undecodable event at %d", p, bad)
		}
		projectortest.Equal(t, e.reader, model)
	})
	t.Run("CancelledRebuildLeavesReadersAlone", func(t *testing.T) {
		e := newEnv(t)
		projectortest.AppendLifecycles(t, e.client, eventgen.New(12, t0), 2000, 8)
		old := active(t, e.store)
		ctx, cancel := context.WithCancel(context.Background())
		fs := &faultyStore{Writer: e.store}
		var applies atomic.Int32
		fs.setFail(func(method string, _ *readmodel.Batch) bool {
			if method == "Apply" && applies.Add(1) == 3 {
				cancel()
			}
			return false
		})
		opts := fastOptions()
		opts.MaxBatch = 100
		_, err := projector.New(e.conn, fs, testLogger(t), opts).Rebuild(ctx, 0)
		if err == nil {
			t.Fatal("rebuild cancelled midway: no error")
		}
		if got := active(t, e.store); got != old {
			t.Errorf("active generation %d, want %d still", got, old)
		}
		if _, err := e.store.Checkpoint(t.Context(), old+1); err == nil {
			t.Errorf("the unfinished generation %d was not dropped", old+1)
		}
	})
}

func TestProjector_PayloadAsStored(t *testing.T) {
	e := newEnv(t)
	id := uuid.NewString()
	typ, data, _ := loanevents.Marshal(&loansv1.LoanRequested{LoanApplicationUuid: id, Amount: 1500, Duration: 12, Applicant: "ada"})
	md, _ := loanevents.MarshalMetadata(loanevents.Metadata{CommandID: "c1", CorrelationID: "k1", CausationID: "c1", Actor: "ada", OccurredAt: t0, SchemaVersion: 1})
	pos := projectortest.Append(t, e.client, eventgen.Append{Stream: "loanRequest-" + id, Expected: -1,
		Events: []esdb.EventData{{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson, Data: data, Metadata: md}}})
	start(t, projector.New(e.conn, e.store, testLogger(t), fastOptions()))
	projectortest.WaitCheckpoint(t, e.reader, pos, wait)
	h, err := e.reader.History(t.Context(), id)
	if err != nil || len(h) != 1 {
		t.Fatalf("history %+v, %v", h, err)
	}
	if string(h[0].Payload) != string(data) || h[0].CommandID != "c1" || h[0].CorrelationID != "k1" || h[0].Actor != "ada" ||
		h[0].StatusAfter != readmodel.StatusPendingSubmission || h[0].Stream != "loanRequest-"+id {
		t.Errorf("history entry %+v", h[0])
	}
	if a, err := e.reader.Get(t.Context(), id); err != nil || a.Amount != 1500 || !a.RequestedAt.Equal(projection.StoredTime(t0)) {
		t.Errorf("application %+v, %v", a, err)
	}
}
