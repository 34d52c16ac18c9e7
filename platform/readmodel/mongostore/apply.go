package mongostore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/loanflow/loans/platform/readmodel"
)

// errConflict: a compare-and-set on last_position lost to another writer.
var errConflict = errors.New("concurrent write")

// Retries: of a compare-and-set without transactions, of a whole
// transaction that lost one.
const maxAttempts = 8

// chunk bounds the IDs of one $in query and the documents of one insert.
const chunk = 500

// Apply writes a batch and moves the checkpoint (never backward). With
// transactions everything commits together; without, each write is guarded
// by a position and the checkpoint is written last, so applying the batch
// again after a failure completes it without counting anything twice.
func (s *Store) Apply(ctx context.Context, gen int, b readmodel.Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := pos(b.Checkpoint); err != nil {
		return fmt.Errorf("mongostore: apply: %w", err)
	}
	if !s.txn {
		if err := s.apply(ctx, gen, b); err != nil {
			return fmt.Errorf("mongostore: apply: %w", err)
		}
		return nil
	}
	sess, err := s.client.StartSession()
	if err != nil {
		return fmt.Errorf("mongostore: apply: %w", err)
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	for attempt := 1; ; attempt++ {
		// WithTransaction retries transient errors (write conflicts) itself.
		_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
			return nil, s.apply(ctx, gen, b)
		}, options.Transaction().SetReadConcern(readconcern.Snapshot()).SetWriteConcern(writeconcern.Majority()))
		if err == nil {
			return nil
		}
		if attempt == maxAttempts || !(errors.Is(err, errConflict) || mongo.IsDuplicateKeyError(err)) {
			return fmt.Errorf("mongostore: apply: %w", err)
		}
	}
}

// apply does the writes, in or out of a transaction (ctx carries it).
func (s *Store) apply(ctx context.Context, gen int, b readmodel.Batch) error {
	if _, err := s.checkpoint(ctx, gen); err != nil {
		return err
	}
	if err := s.applyApplications(ctx, gen, b.Applications); err != nil {
		return err
	}
	if err := s.applyHistory(ctx, gen, b.History); err != nil {
		return err
	}
	if err := s.applyContributions(ctx, gen, b.Contributions); err != nil {
		return err
	}
	cp, _ := pos(b.Checkpoint)
	_, err := s.db.Collection(collCheckpoints).UpdateOne(ctx,
		bson.D{{Key: "_id", Value: gen}, {Key: "position", Value: bson.D{{Key: "$lt", Value: cp}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "position", Value: cp}, {Key: "updated_at", Value: time.Now().UTC()}}}})
	if err != nil {
		return fmt.Errorf("move checkpoint: %w", err)
	}
	return nil
}

// applyApplications writes each application unless the stored one is at
// least as new: the stored positions are read first (one query), then each
// newer one is replaced with the guard {last_position: {$lt: new}} and
// upsert. Without transactions a concurrent writer may get there first:
// the guard then fails on the document it inserted, the upsert tries an
// insert and gets a duplicate key. The document exists then, so the guarded
// replace is tried once more without upsert: it matches nothing only if the
// stored application is at least as new.
func (s *Store) applyApplications(ctx context.Context, gen int, apps []readmodel.Application) error {
	if len(apps) == 0 {
		return nil
	}
	latest := make(map[string]readmodel.Application, len(apps))
	for _, a := range apps {
		if cur, ok := latest[a.ID]; !ok || a.LastPosition > cur.LastPosition {
			latest[a.ID] = a
		}
	}
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	coll := s.coll(collApplications, gen)
	stored := make(map[string]int64, len(ids))
	for c := range slices.Chunk(ids, chunk) {
		cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: c}}}},
			options.Find().SetProjection(bson.D{{Key: "last_position", Value: 1}}))
		if err != nil {
			return fmt.Errorf("read applications: %w", err)
		}
		var got []struct {
			ID           string `bson:"_id"`
			LastPosition int64  `bson:"last_position"`
		}
		if err := cur.All(ctx, &got); err != nil {
			return fmt.Errorf("read applications: %w", err)
		}
		for _, g := range got {
			stored[g.ID] = g.LastPosition
		}
	}
	for _, id := range ids {
		doc, err := toAppDoc(latest[id])
		if err != nil {
			return fmt.Errorf("application %s: %w", id, err)
		}
		if last, ok := stored[id]; ok && last >= doc.LastPosition {
			continue
		}
		guard := bson.D{{Key: "_id", Value: id}, {Key: "last_position", Value: bson.D{{Key: "$lt", Value: doc.LastPosition}}}}
		_, err = coll.ReplaceOne(ctx, guard, doc, options.Replace().SetUpsert(true))
		if mongo.IsDuplicateKeyError(err) && !s.txn {
			_, err = coll.ReplaceOne(ctx, guard, doc)
		}
		if err != nil {
			return fmt.Errorf("write application %s: %w", id, err)
		}
	}
	return nil
}

// applyHistory inserts the entries whose positions are not stored yet (the
// first write of a position wins). Without transactions a concurrent
// writer's insert shows as a duplicate key, which is ignored.
func (s *Store) applyHistory(ctx context.Context, gen int, entries []readmodel.HistoryEntry) error {
	if len(entries) == 0 {
		return nil
	}
	docs := make([]historyDoc, 0, len(entries))
	seen := make(map[int64]bool, len(entries))
	for _, e := range entries {
		d, err := toHistoryDoc(e)
		if err != nil {
			return fmt.Errorf("history entry: %w", err)
		}
		if !seen[d.ID] {
			seen[d.ID] = true
			docs = append(docs, d)
		}
	}
	coll := s.coll(collHistory, gen)
	for c := range slices.Chunk(docs, chunk) {
		positions := make([]int64, len(c))
		for i, d := range c {
			positions[i] = d.ID
		}
		cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: positions}}}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return fmt.Errorf("read history: %w", err)
		}
		var got []struct {
			Position int64 `bson:"_id"`
		}
		if err := cur.All(ctx, &got); err != nil {
			return fmt.Errorf("read history: %w", err)
		}
		stored := make(map[int64]bool, len(got))
		for _, g := range got {
			stored[g.Position] = true
		}
		var missing []any
		for _, d := range c {
			if !stored[d.ID] {
				missing = append(missing, d)
			}
		}
		if len(missing) == 0 {
			continue
		}
		_, err = coll.InsertMany(ctx, missing, options.InsertMany().SetOrdered(false))
		if err != nil && !(onlyDuplicateKeys(err) && !s.txn) {
			return fmt.Errorf("write history: %w", err)
		}
	}
	return nil
}

// onlyDuplicateKeys reports whether every error of a bulk write is a
// duplicate key.
func onlyDuplicateKeys(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if !mongo.IsDuplicateKeyError(we.WriteError) && we.Code != 11000 {
			return false
		}
	}
	return true
}

// applyContributions adds the contributions into their days and the
// funnel, each counted only if its position is above the document's
// last_position.
func (s *Store) applyContributions(ctx context.Context, gen int, cs []readmodel.Contribution) error {
	if len(cs) == 0 {
		return nil
	}
	cs = slices.SortedStableFunc(slices.Values(cs), func(a, b readmodel.Contribution) int {
		return cmp.Compare(a.Position, b.Position)
	})
	if _, err := pos(cs[len(cs)-1].Position); err != nil {
		return fmt.Errorf("contribution: %w", err)
	}
	byDay := map[string][]readmodel.Contribution{}
	for _, c := range cs {
		if c.Daily.Day != "" {
			byDay[c.Daily.Day] = append(byDay[c.Daily.Day], c)
		}
	}
	days := make([]string, 0, len(byDay))
	for d := range byDay {
		days = append(days, d)
	}
	slices.Sort(days)
	for _, day := range days {
		if err := s.casRetry(ctx, func() error { return s.addToDay(ctx, gen, day, byDay[day]) }); err != nil {
			return fmt.Errorf("day %s: %w", day, err)
		}
	}
	if err := s.casRetry(ctx, func() error { return s.addToFunnel(ctx, gen, cs) }); err != nil {
		return fmt.Errorf("funnel: %w", err)
	}
	return nil
}

// casRetry runs a read-add-compare-and-set until it does not conflict. In a
// transaction a conflict aborts the transaction instead (Apply retries it
// whole).
func (s *Store) casRetry(ctx context.Context, f func() error) error {
	if s.txn {
		return f()
	}
	var err error
	for range maxAttempts {
		if err = f(); !errors.Is(err, errConflict) {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
	}
	return err
}

// addToDay reads a day, adds the contributions above its last position and
// writes it back if its last position is still the one read.
func (s *Store) addToDay(ctx context.Context, gen int, day string, cs []readmodel.Contribution) error {
	coll := s.coll(collDailyStats, gen)
	var cur dayDoc
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: day}}).Decode(&cur)
	exists := err == nil
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	sum := cur.stats()
	sum.Day = day
	last := cur.LastPosition
	for _, c := range cs {
		if p := int64(c.Position); p > last {
			d := c.Daily
			d.Day = day
			sum.Add(d)
			last = p
		}
	}
	if last == cur.LastPosition {
		return nil
	}
	return s.compareAndSet(ctx, coll, exists, day, cur.LastPosition, toDayDoc(sum, last))
}

// addToFunnel does the same for the funnel.
func (s *Store) addToFunnel(ctx context.Context, gen int, cs []readmodel.Contribution) error {
	coll := s.coll(collFunnel, gen)
	var cur funnelDoc
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: funnelID}}).Decode(&cur)
	exists := err == nil
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return err
	}
	sum := cur.funnel()
	last := cur.LastPosition
	for _, c := range cs {
		if p := int64(c.Position); p > last {
			sum.Add(c.Funnel)
			last = p
		}
	}
	if last == cur.LastPosition {
		return nil
	}
	return s.compareAndSet(ctx, coll, exists, funnelID, cur.LastPosition, toFunnelDoc(sum, last))
}

// compareAndSet replaces the document id if its last_position is still
// old, or inserts it if it did not exist; errConflict if another writer got
// there first.
func (s *Store) compareAndSet(ctx context.Context, coll *mongo.Collection, exists bool, id string, old int64, doc any) error {
	if !exists {
		_, err := coll.InsertOne(ctx, doc)
		if mongo.IsDuplicateKeyError(err) {
			return errConflict
		}
		return err
	}
	res, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "last_position", Value: old}}, doc)
	if err != nil {
		return err
	}
	if res.MatchedCount == 0 {
		return errConflict
	}
	return nil
}
