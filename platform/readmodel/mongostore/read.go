package mongostore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/loanflow/loans/platform/readmodel"
)

// Applications returns the stored applications of these IDs.
func (s *Store) Applications(ctx context.Context, gen int, ids []string) (map[string]readmodel.Application, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]readmodel.Application, len(ids))
	coll := s.coll(collApplications, gen)
	for c := range slices.Chunk(ids, chunk) {
		cur, err := coll.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: c}}}})
		if err != nil {
			return nil, fmt.Errorf("mongostore: applications: %w", err)
		}
		var docs []appDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, fmt.Errorf("mongostore: applications: %w", err)
		}
		for _, d := range docs {
			out[d.ID] = d.app()
		}
	}
	return out, nil
}

// Position is the active generation's checkpoint.
func (s *Store) Position(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	gen, err := s.activeGeneration(ctx)
	if err != nil {
		return 0, fmt.Errorf("mongostore: position: %w", err)
	}
	p, err := s.checkpoint(ctx, gen)
	if err != nil {
		return 0, fmt.Errorf("mongostore: position: %w", err)
	}
	return p, nil
}

// active is a read model's collection in the active generation.
func (s *Store) active(ctx context.Context, model string) (*mongo.Collection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	gen, err := s.activeGeneration(ctx)
	if err != nil {
		return nil, err
	}
	return s.coll(model, gen), nil
}

// Get finds an application by ID.
func (s *Store) Get(ctx context.Context, id string) (readmodel.Application, error) {
	coll, err := s.active(ctx, collApplications)
	if err != nil {
		return readmodel.Application{}, fmt.Errorf("mongostore: get: %w", err)
	}
	var d appDoc
	err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return readmodel.Application{}, readmodel.ErrNotFound
	}
	if err != nil {
		return readmodel.Application{}, fmt.Errorf("mongostore: get: %w", err)
	}
	return d.app(), nil
}

// History lists an application's entries, oldest first.
func (s *Store) History(ctx context.Context, id string) ([]readmodel.HistoryEntry, error) {
	coll, err := s.active(ctx, collHistory)
	if err != nil {
		return nil, fmt.Errorf("mongostore: history: %w", err)
	}
	cur, err := coll.Find(ctx, bson.D{{Key: "loan_application_uuid", Value: id}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongostore: history: %w", err)
	}
	var docs []historyDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongostore: history: %w", err)
	}
	out := make([]readmodel.HistoryEntry, len(docs))
	for i, d := range docs {
		out[i] = d.entry()
	}
	return out, nil
}

// Stats returns the days from fromDay to toDay inclusive that have data, in
// order, and the funnel.
func (s *Store) Stats(ctx context.Context, fromDay, toDay string) ([]readmodel.DailyStats, readmodel.Funnel, error) {
	if err := ctx.Err(); err != nil {
		return nil, readmodel.Funnel{}, err
	}
	gen, err := s.activeGeneration(ctx)
	if err != nil {
		return nil, readmodel.Funnel{}, fmt.Errorf("mongostore: stats: %w", err)
	}
	cur, err := s.coll(collDailyStats, gen).Find(ctx,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$gte", Value: fromDay}, {Key: "$lte", Value: toDay}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, readmodel.Funnel{}, fmt.Errorf("mongostore: stats: %w", err)
	}
	var docs []dayDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, readmodel.Funnel{}, fmt.Errorf("mongostore: stats: %w", err)
	}
	var days []readmodel.DailyStats
	for _, d := range docs {
		days = append(days, d.stats())
	}
	var f funnelDoc
	err = s.coll(collFunnel, gen).FindOne(ctx, bson.D{{Key: "_id", Value: funnelID}}).Decode(&f)
	if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
		return nil, readmodel.Funnel{}, fmt.Errorf("mongostore: stats: %w", err)
	}
	return days, f.funnel(), nil
}

// orders: each Order's sort key (an int64 field, possibly null) and
// direction; ties are broken by _id in the same direction.
var orders = map[readmodel.Order]struct {
	field string
	desc  bool
}{
	readmodel.OrderRequestedAtDesc: {"requested_at_us", true},
	readmodel.OrderRequestedAtAsc:  {"requested_at_us", false},
	readmodel.OrderAmountDesc:      {"amount", true},
	readmodel.OrderAmountAsc:       {"amount", false},
	readmodel.OrderUpdatedAtDesc:   {"updated_at_us", true},
}

// cursor is where a page ends: the last item's sort key (nil: null) and ID,
// and the order it was made for.
type cursor struct {
	Order readmodel.Order `json:"o"`
	Key   *int64          `json:"k"`
	ID    string          `json:"i"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, o readmodel.Order) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, readmodel.ErrInvalidCursor
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Order != o || c.ID == "" {
		return cursor{}, readmodel.ErrInvalidCursor
	}
	return c, nil
}

// List returns one page of applications, with the cursor of the next one
// (empty on the last page). Keyset pagination: the next page starts after
// the last item's (key, ID).
func (s *Store) List(ctx context.Context, f readmodel.Filter, p readmodel.Page) ([]readmodel.Application, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	ord, ok := orders[p.Order]
	if !ok {
		return nil, "", fmt.Errorf("mongostore: list: unknown order %d", p.Order)
	}
	size := p.Size
	switch {
	case size <= 0:
		size = readmodel.DefaultPageSize
	case size > readmodel.MaxPageSize:
		size = readmodel.MaxPageSize
	}
	filter := listFilter(f)
	if p.Cursor != "" {
		c, err := decodeCursor(p.Cursor, p.Order)
		if err != nil {
			return nil, "", err
		}
		filter = append(filter, bson.E{Key: "$or", Value: after(ord.field, ord.desc, c)})
	}
	dir := 1
	if ord.desc {
		dir = -1
	}
	coll, err := s.active(ctx, collApplications)
	if err != nil {
		return nil, "", fmt.Errorf("mongostore: list: %w", err)
	}
	cur, err := coll.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: ord.field, Value: dir}, {Key: "_id", Value: dir}}).
		SetLimit(int64(size+1)))
	if err != nil {
		return nil, "", fmt.Errorf("mongostore: list: %w", err)
	}
	var docs []appDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, "", fmt.Errorf("mongostore: list: %w", err)
	}
	var next string
	if len(docs) > size {
		docs = docs[:size]
		last := docs[size-1]
		c := cursor{Order: p.Order, ID: last.ID}
		switch ord.field {
		case "amount":
			c.Key = &last.Amount
		case "requested_at_us":
			c.Key = last.RequestedAtUS
		case "updated_at_us":
			c.Key = last.UpdatedAtUS
		}
		next = c.encode()
	}
	items := make([]readmodel.Application, len(docs))
	for i, d := range docs {
		items[i] = d.app()
	}
	return items, next, nil
}

// listFilter is the filter's query; its top-level fields are ANDed.
func listFilter(f readmodel.Filter) bson.D {
	q := bson.D{}
	if len(f.Statuses) > 0 {
		st := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			st[i] = string(s)
		}
		q = append(q, bson.E{Key: "status", Value: bson.D{{Key: "$in", Value: st}}})
	}
	if f.Applicant != "" {
		q = append(q, bson.E{Key: "applicant", Value: f.Applicant})
	}
	var requested bson.D
	// Stored times are whole microseconds: compared with a bound that is
	// not, they fall on the same side of it as of its rounding up.
	if !f.RequestedAfter.IsZero() {
		requested = append(requested, bson.E{Key: "$gte", Value: ceilMicro(f.RequestedAfter)})
	}
	if !f.RequestedBefore.IsZero() {
		requested = append(requested, bson.E{Key: "$lt", Value: ceilMicro(f.RequestedBefore)})
	}
	if requested != nil {
		q = append(q, bson.E{Key: "requested_at_us", Value: requested})
	}
	var amount bson.D
	if f.MinAmount != 0 {
		amount = append(amount, bson.E{Key: "$gte", Value: f.MinAmount})
	}
	if f.MaxAmount != 0 {
		amount = append(amount, bson.E{Key: "$lte", Value: f.MaxAmount})
	}
	if amount != nil {
		q = append(q, bson.E{Key: "amount", Value: amount})
	}
	return q
}

// after selects the items that come after the cursor's (key, ID) in the
// order; null keys sort before every number, as in MongoDB.
func after(field string, desc bool, c cursor) bson.A {
	cmpOp, nullID := "$gt", "$gt"
	if desc {
		cmpOp, nullID = "$lt", "$lt"
	}
	if c.Key == nil {
		alts := bson.A{bson.D{{Key: field, Value: nil}, {Key: "_id", Value: bson.D{{Key: nullID, Value: c.ID}}}}}
		if !desc { // then every non-null key
			alts = append(alts, bson.D{{Key: field, Value: bson.D{{Key: "$ne", Value: nil}}}})
		}
		return alts
	}
	alts := bson.A{
		bson.D{{Key: field, Value: bson.D{{Key: cmpOp, Value: *c.Key}}}},
		bson.D{{Key: field, Value: *c.Key}, {Key: "_id", Value: bson.D{{Key: cmpOp, Value: c.ID}}}},
	}
	if desc { // then every null key
		alts = append(alts, bson.D{{Key: field, Value: nil}})
	}
	return alts
}

// ceilMicro is t in microseconds since the Unix epoch, rounded up.
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}
