package mongostore

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/loanflow/loans/platform/readmodel"
)

// Park keeps an event that failed to project; parking a position again
// keeps the first one.
func (s *Store) Park(ctx context.Context, e readmodel.ParkedEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := pos(e.Position)
	if err != nil {
		return fmt.Errorf("mongostore: park: %w", err)
	}
	d := parkedDoc{Position: p, Stream: e.Stream, EventType: e.EventType, EventID: e.EventID, Error: e.Error}
	d.ParkedAt, d.ParkedAtUS = timePair(e.ParkedAt)
	if _, err := s.db.Collection(collParked).InsertOne(ctx, d); err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("mongostore: park: %w", err)
	}
	return nil
}

// Parked lists the parked events by position, ascending.
func (s *Store) Parked(ctx context.Context) ([]readmodel.ParkedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cur, err := s.db.Collection(collParked).Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("mongostore: parked: %w", err)
	}
	var docs []parkedDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongostore: parked: %w", err)
	}
	out := make([]readmodel.ParkedEvent, len(docs))
	for i, d := range docs {
		out[i] = readmodel.ParkedEvent{
			Position: uint64(d.Position), Stream: d.Stream, EventType: d.EventType, EventID: d.EventID,
			Error: d.Error, ParkedAt: timeOf(d.ParkedAtUS),
		}
	}
	return out, nil
}

// Unpark removes a parked event (none parked at that position: nothing to do).
func (s *Store) Unpark(ctx context.Context, position uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := pos(position)
	if err != nil {
		return fmt.Errorf("mongostore: unpark: %w", err)
	}
	if _, err := s.db.Collection(collParked).DeleteOne(ctx, bson.D{{Key: "_id", Value: p}}); err != nil {
		return fmt.Errorf("mongostore: unpark: %w", err)
	}
	return nil
}
