package mongostore_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/loanflow/loans/devstack/docstore/docstoretest"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/mongostore"
	"github.com/loanflow/loans/platform/readmodel/readmodeltest"
)

// dbNames numbers the databases of a test binary; each store of the
// contract suite gets its own.
var dbNames atomic.Int64

func newDatabaseName(prefix string) string {
	return fmt.Sprintf("%s_%d_%d", prefix, os.Getpid(), dbNames.Add(1))
}

// opener opens a store on a fresh database at uri; dropDB drops it at the
// end (on a real server; FerretDB's temporary directory goes anyway).
func opener(uri string, dropDB bool, opts ...mongostore.Option) func(t *testing.T) readmodel.Store {
	return func(t *testing.T) readmodel.Store {
		t.Helper()
		return open(t, uri, newDatabaseName("mongostore_test"), dropDB, opts...)
	}
}

func open(t *testing.T, uri, database string, dropDB bool, opts ...mongostore.Option) *mongostore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := mongostore.Open(ctx, uri, append([]mongostore.Option{mongostore.WithDatabase(database)}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if dropDB {
			dropDatabase(t, uri, database)
		}
		if err := st.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// TestStore_FerretDB runs the contract suite against FerretDB v1 embedded
// (SQLite backend): no transactions, no views, so Apply relies on the
// guards alone.
func TestStore_FerretDB(t *testing.T) {
	uri := docstoretest.Start(t)
	readmodeltest.Run(t, opener(uri, false))
}

// TestStore_MongoDB runs the contract suite against the MongoDB server at
// MONGODB_URI; on a replica set twice: with transactions and with the
// guards alone.
func TestStore_MongoDB(t *testing.T) {
	uri := mongoURI(t)
	probe := open(t, uri, newDatabaseName("mongostore_probe"), true)
	t.Run("AsOpened", func(t *testing.T) {
		t.Logf("transactions: %v, views: %v", probe.Transactions(), probe.Views())
		readmodeltest.Run(t, opener(uri, true))
		if probe.Transactions() {
			t.Run("ActivateAtomic", func(t *testing.T) {
				readmodeltest.ActivateAtomic(t, func(t *testing.T) (readmodel.Store, readmodel.Store) {
					db := newDatabaseName("atomic")
					return open(t, uri, db, true), open(t, uri, db, false) // as a rebuild and the running projector
				})
			})
		}
	})
	if probe.Transactions() {
		t.Run("WithoutTransactions", func(t *testing.T) {
			readmodeltest.Run(t, opener(uri, true, mongostore.WithoutTransactions()))
		})
	}
}

func mongoURI(t *testing.T) string {
	t.Helper()
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		t.Skip("MONGODB_URI not set: real MongoDB contract run skipped " +
			"(set it, e.g. MONGODB_URI=mongodb://localhost:27017/?replicaSet=rs0, to hold the adapter to the contract on MongoDB)")
	}
	return uri
}

func dropDatabase(t *testing.T, uri, database string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Errorf("connect to drop %s: %v", database, err)
		return
	}
	defer func() { _ = c.Disconnect(ctx) }()
	if err := c.Database(database).Drop(ctx); err != nil {
		t.Errorf("drop %s: %v", database, err)
	}
}

// rawDB connects a plain client to look at the documents as analysts do.
func rawDB(t *testing.T, uri, database string) *mongo.Database {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c.Database(database)
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 123_456_789, time.UTC)

func TestOpen_FerretDB(t *testing.T) {
	uri := docstoretest.Start(t)

	t.Run("NoTransactionsNoViews", func(t *testing.T) {
		st := open(t, uri, newDatabaseName("open"), false)
		if st.Transactions() {
			t.Errorf("Transactions() = true on FerretDB; want false")
		}
		if st.Views() {
			t.Errorf("Views() = true on FerretDB; want false")
		}
	})
	t.Run("ReopenKeepsEverything", func(t *testing.T) {
		db := newDatabaseName("reopen")
		st := open(t, uri, db, false)
		ctx := t.Context()
		a := readmodel.Application{ID: "a1", Amount: 1000, Status: readmodel.StatusSubmitted, RequestedAt: t0, LastPosition: 3}
		if err := st.Apply(ctx, 1, readmodel.Batch{Applications: []readmodel.Application{a}, Checkpoint: 3}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		g2, err := st.NewGeneration(ctx)
		if err != nil {
			t.Fatalf("NewGeneration: %v", err)
		}
		if err := st.Apply(ctx, g2, readmodel.Batch{Checkpoint: 3}); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if err := st.Activate(ctx, g2); err != nil {
			t.Fatalf("Activate: %v", err)
		}
		if err := st.DropGeneration(ctx, 1); err != nil {
			t.Fatalf("DropGeneration: %v", err)
		}

		again := open(t, uri, db, false)
		if g, err := again.ActiveGeneration(ctx); err != nil || g != g2 {
			t.Errorf("ActiveGeneration after reopening = %d, %v; want %d", g, err, g2)
		}
		if _, err := again.Checkpoint(ctx, 1); err == nil {
			t.Errorf("reopening brought dropped generation 1 back")
		}
		if g, err := again.NewGeneration(ctx); err != nil || g != g2+1 {
			t.Errorf("NewGeneration after reopening = %d, %v; want %d", g, err, g2+1)
		}
	})
	t.Run("IndexesForEveryQuery", func(t *testing.T) {
		db := newDatabaseName("indexes")
		st := open(t, uri, db, false)
		g2, err := st.NewGeneration(t.Context())
		if err != nil {
			t.Fatalf("NewGeneration: %v", err)
		}
		raw := rawDB(t, uri, db)
		for _, gen := range []int{1, g2} {
			for coll, want := range map[string][]string{
				"applications": {"_id_", "requested_at", "amount", "updated_at", "status_requested_at", "applicant_requested_at"},
				"history":      {"_id_", "application_position"},
			} {
				name := fmt.Sprintf("%s_v%d", coll, gen)
				specs, err := raw.Collection(name).Indexes().ListSpecifications(t.Context())
				if err != nil {
					t.Fatalf("list indexes of %s: %v", name, err)
				}
				got := map[string]bool{}
				for _, s := range specs {
					got[s.Name] = true
				}
				for _, w := range want {
					if !got[w] {
						t.Errorf("%s has no index %s (has %v)", name, w, got)
					}
				}
			}
		}
	})
	t.Run("DocumentsReadableByAnalysts", func(t *testing.T) {
		db := newDatabaseName("readable")
		st := open(t, uri, db, false)
		a := readmodel.Application{ID: "0b9e5b2a-aaaa-4bbb-8ccc-000000000001", Amount: 120000, Duration: 36,
			Status: readmodel.StatusApproved, Applicant: "ada", RequestedAt: t0, DecidedAt: t0.Add(time.Hour),
			UpdatedAt: t0.Add(time.Hour), LastPosition: 42}
		b := readmodel.Batch{
			Applications: []readmodel.Application{a},
			History: []readmodel.HistoryEntry{{ApplicationID: a.ID, Position: 42, Stream: "loanRequest-" + a.ID,
				EventType: "LoanRequestApproved", OccurredAt: t0.Add(time.Hour), Payload: []byte(`{"amount":"120000"}`)}},
			Contributions: []readmodel.Contribution{{Position: 42,
				Daily:  readmodel.DailyStats{Day: "2026-03-02", ApprovedCount: 1, ApprovedAmount: 120000},
				Funnel: readmodel.Funnel{Approved: 1}}},
			Checkpoint: 42,
		}
		if err := st.Apply(t.Context(), 1, b); err != nil {
			t.Fatalf("Apply: %v", err)
		}
		raw := rawDB(t, uri, db)
		var doc bson.M
		if err := raw.Collection("applications_v1").FindOne(t.Context(), bson.M{"loan_application_uuid": a.ID}).Decode(&doc); err != nil {
			t.Fatalf("find by loan_application_uuid: %v", err)
		}
		wantDate := bson.NewDateTimeFromTime(t0)
		for field, want := range map[string]any{
			"_id": a.ID, "amount": int64(120000), "duration": int32(36), "status": "approved", "applicant": "ada",
			"requested_at": wantDate, "requested_at_us": t0.UnixMicro(), "submitted_at": nil, "last_position": int64(42),
		} {
			if got := doc[field]; got != want {
				t.Errorf("applications_v1.%s = %#v; want %#v", field, got, want)
			}
		}
		// Analysts query by date with plain operators.
		n, err := raw.Collection("applications_v1").CountDocuments(t.Context(),
			bson.M{"requested_at": bson.M{"$gte": t0.Add(-time.Second)}, "status": "approved"})
		if err != nil || n != 1 {
			t.Errorf("count by requested_at and status = %d, %v; want 1", n, err)
		}
		var h bson.M
		if err := raw.Collection("history_v1").FindOne(t.Context(), bson.M{"_id": int64(42)}).Decode(&h); err != nil {
			t.Fatalf("find history: %v", err)
		}
		if h["payload"] != `{"amount":"120000"}` || h["event_type"] != "LoanRequestApproved" || h["position"] != int64(42) {
			t.Errorf("history_v1 document = %v", h)
		}
		var d bson.M
		if err := raw.Collection("daily_stats_v1").FindOne(t.Context(), bson.M{"_id": "2026-03-02"}).Decode(&d); err != nil {
			t.Fatalf("find day: %v", err)
		}
		if d["day"] != "2026-03-02" || d["approved_count"] != int64(1) || d["approved_amount"] != int64(120000) || d["last_position"] != int64(42) {
			t.Errorf("daily_stats_v1 document = %v", d)
		}
		var cp bson.M
		if err := raw.Collection("checkpoints").FindOne(t.Context(), bson.M{"_id": int32(1)}).Decode(&cp); err != nil {
			t.Fatalf("find checkpoint: %v", err)
		}
		if cp["position"] != int64(42) {
			t.Errorf("checkpoints document = %v", cp)
		}
	})
	t.Run("NotAServer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		if _, err := mongostore.Open(ctx, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500"); err == nil {
			t.Fatal("Open of a closed port: no error")
		}
	})
}

// TestStore_Apply_concurrent holds the guards to their promise on MongoDB,
// with and without transactions: the same batch applied by several writers
// at once counts once, and the newest application wins. Not on FerretDB:
// its conditional updates read, then write by _id, unguarded, so concurrent
// writers to one generation can lose an update there (seen in about one run
// of ten); one writer a generation (the projector) is safe.
func TestStore_Apply_concurrent(t *testing.T) {
	uri := mongoURI(t)
	run := func(t *testing.T, st *mongostore.Store) {
		ctx := t.Context()
		var b readmodel.Batch
		var want readmodel.Funnel
		wantDays := map[string]readmodel.DailyStats{}
		for p := uint64(1); p <= 24; p++ {
			day := fmt.Sprintf("2026-03-0%d", 1+p%3)
			c := readmodel.Contribution{Position: p,
				Daily:  readmodel.DailyStats{Day: day, RequestedCount: 1, RequestedAmount: int64(p)},
				Funnel: readmodel.Funnel{Requested: 1, Submitted: int64(p)}}
			b.Contributions = append(b.Contributions, c)
			want.Add(c.Funnel)
			d := wantDays[day]
			d.Day = day
			d.Add(c.Daily)
			wantDays[day] = d
			b.History = append(b.History, readmodel.HistoryEntry{ApplicationID: "a", Position: p, EventType: "E", Payload: []byte(`{}`)})
		}
		b.Checkpoint = 24
		const writers = 4
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				wb := b
				// Each writer also writes application "a" at its own position.
				wb.Applications = []readmodel.Application{{ID: "a", Amount: int64(w), LastPosition: uint64(10 + w)}}
				errs <- st.Apply(ctx, 1, wb)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
		}
		days, funnel, err := st.Stats(ctx, "2026-01-01", "2026-12-31")
		if err != nil {
			t.Fatalf("Stats: %v", err)
		}
		if funnel != want {
			t.Errorf("funnel = %+v; want %+v", funnel, want)
		}
		if len(days) != len(wantDays) {
			t.Fatalf("%d days; want %d", len(days), len(wantDays))
		}
		for _, d := range days {
			if d != wantDays[d.Day] {
				t.Errorf("day %s = %+v; want %+v", d.Day, d, wantDays[d.Day])
			}
		}
		a, err := st.Get(ctx, "a")
		if err != nil || a.LastPosition != 10+writers-1 || a.Amount != writers-1 {
			t.Errorf("Get = %+v, %v; want the newest writer's (position %d)", a, err, 10+writers-1)
		}
		h, err := st.History(ctx, "a")
		if err != nil || len(h) != 24 {
			t.Errorf("History has %d entries, %v; want 24", len(h), err)
		}
		if cp, err := st.Checkpoint(ctx, 1); err != nil || cp != 24 {
			t.Errorf("Checkpoint = %d, %v; want 24", cp, err)
		}
	}
	t.Run("AsOpened", func(t *testing.T) { run(t, open(t, uri, newDatabaseName("concurrent"), true)) })
	t.Run("WithoutTransactions", func(t *testing.T) {
		run(t, open(t, uri, newDatabaseName("concurrent"), true, mongostore.WithoutTransactions()))
	})
}

// TestStore_Views checks the analysts' views where the server has them.
func TestStore_Views(t *testing.T) {
	uri := mongoURI(t)
	db := newDatabaseName("views")
	st := open(t, uri, db, true)
	if !st.Views() {
		t.Skip("the server at MONGODB_URI has no views")
	}
	ctx := t.Context()
	a := readmodel.Application{ID: "a1", Amount: 1000, RequestedAt: t0, LastPosition: 1}
	if err := st.Apply(ctx, 1, readmodel.Batch{Applications: []readmodel.Application{a}, Checkpoint: 1}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	raw := rawDB(t, uri, db)
	names, err := raw.ListCollectionNames(ctx, bson.D{{Key: "type", Value: "view"}})
	if err != nil {
		t.Fatalf("list views: %v", err)
	}
	slices.Sort(names)
	if want := []string{"v_daily_stats", "v_funnel", "v_loan_applications", "v_loan_history", "v_time_to_decision"}; !slices.Equal(names, want) {
		t.Errorf("views %v; want %v, as on SQLite", names, want)
	}
	count := func() int64 {
		n, err := raw.Collection("v_loan_applications").CountDocuments(ctx, bson.M{})
		if err != nil {
			t.Fatalf("count v_loan_applications: %v", err)
		}
		return n
	}
	if n := count(); n != 1 {
		t.Errorf("v_loan_applications has %d documents; want 1", n)
	}
	var doc bson.M
	if err := raw.Collection("v_loan_applications").FindOne(ctx, bson.M{}).Decode(&doc); err != nil {
		t.Fatalf("find in view: %v", err)
	}
	if _, ok := doc["requested_at_us"]; ok {
		t.Errorf("the view shows the adapter's requested_at_us")
	}
	g2, err := st.NewGeneration(ctx)
	if err != nil {
		t.Fatalf("NewGeneration: %v", err)
	}
	if err := st.Apply(ctx, g2, readmodel.Batch{Checkpoint: 1}); err != nil { // caught up, empty
		t.Fatalf("Apply: %v", err)
	}
	if err := st.Activate(ctx, g2); err != nil {
		t.Fatalf("Activate: %v", err)
	}
	if n := count(); n != 0 {
		t.Errorf("v_loan_applications has %d documents after activating an empty generation; want 0", n)
	}
}

// TestStore_List_unsetSortKey pages through applications some of which have
// no RequestedAt or UpdatedAt (stored as null): nulls come first in
// ascending orders and last in descending ones, as a zero time would.
func TestStore_List_unsetSortKey(t *testing.T) {
	uri := docstoretest.Start(t)
	st := open(t, uri, newDatabaseName("nulls"), false)
	var apps []readmodel.Application
	for i := range 9 {
		a := readmodel.Application{ID: fmt.Sprintf("app-%d", (i*5)%9), Amount: 100, LastPosition: uint64(i + 1)}
		if i%3 != 0 { // every third one unset
			a.RequestedAt = t0.Add(time.Duration(i%4) * time.Minute)
			a.UpdatedAt = a.RequestedAt
		}
		apps = append(apps, a)
	}
	if err := st.Apply(t.Context(), 1, readmodel.Batch{Applications: apps, Checkpoint: 9}); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	for _, c := range []struct {
		name  string
		order readmodel.Order
		key   func(readmodel.Application) time.Time
		desc  bool
	}{
		{"RequestedAtAsc", readmodel.OrderRequestedAtAsc, func(a readmodel.Application) time.Time { return a.RequestedAt }, false},
		{"RequestedAtDesc", readmodel.OrderRequestedAtDesc, func(a readmodel.Application) time.Time { return a.RequestedAt }, true},
		{"UpdatedAtDesc", readmodel.OrderUpdatedAtDesc, func(a readmodel.Application) time.Time { return a.UpdatedAt }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := slices.Clone(apps)
			slices.SortFunc(want, func(a, b readmodel.Application) int {
				r := cmp.Or(c.key(a).Compare(c.key(b)), strings.Compare(a.ID, b.ID))
				if c.desc {
					return -r
				}
				return r
			})
			for _, size := range []int{1, 2, 9} {
				var got []string
				cursor := ""
				for range 20 {
					items, next, err := st.List(t.Context(), readmodel.Filter{}, readmodel.Page{Order: c.order, Size: size, Cursor: cursor})
					if err != nil {
						t.Fatalf("List: %v", err)
					}
					for _, a := range items {
						got = append(got, a.ID)
					}
					if next == "" {
						break
					}
					cursor = next
				}
				var wantIDs []string
				for _, a := range want {
					wantIDs = append(wantIDs, a.ID)
				}
				if !slices.Equal(got, wantIDs) {
					t.Errorf("page size %d:\n got %v\nwant %v", size, got, wantIDs)
				}
			}
		})
	}
}
