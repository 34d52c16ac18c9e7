package process

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Log is what the process managers need of the event store: their events in
// $all order, their checkpoints and their parked events.
type Log interface {
	// Subscribe delivers the events of the given types after from (the
	// start when zero), in $all order, until ctx ends or the subscription
	// fails.
	Subscribe(ctx context.Context, from Position, eventTypes []string) (Subscription, error)
	// Checkpoint is where a manager's last run got to (zero: nowhere yet).
	Checkpoint(ctx context.Context, manager string) (Position, error)
	SaveCheckpoint(ctx context.Context, manager string, at Position) error
	// Park records an event its manager cannot handle. An event parked
	// already (and not resolved) is not recorded again: recorded is false.
	Park(ctx context.Context, p Parked) (recorded bool, err error)
	// Parked lists a manager's parked events not resolved yet, oldest
	// first.
	Parked(ctx context.Context, manager string) ([]Parked, error)
	// Resolve records that a parked event has been handled after all.
	Resolve(ctx context.Context, p Parked) error
	// Read reads back one event of a stream.
	Read(ctx context.Context, stream string, revision uint64) (Recorded, error)
}

// Subscription hands on what a Log delivers.
type Subscription interface {
	// Next waits for the next delivery; an error ends the subscription.
	Next() (Delivery, error)
	Close()
}

// Delivery is an event, or (Event nil) a position the store has examined
// everything up to without finding one.
type Delivery struct {
	Event    *Recorded
	Position Position
}

// Position is a place in $all.
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Recorded is an event as stored, before it is decoded.
type Recorded struct {
	ID       uuid.UUID
	Type     string
	Stream   string
	Revision uint64
	Position Position
	Data     []byte
	Metadata []byte
}

// Parked is an event a manager could not handle, as the Log records it and
// operators see it (its JSON form is the parked event's data).
type Parked struct {
	Manager   string    `json:"manager"`
	EventID   uuid.UUID `json:"event_id"`
	EventType string    `json:"event_type"`
	Stream    string    `json:"stream"`
	Revision  uint64    `json:"revision"`
	Position  Position  `json:"position"`
	// Error is why it could not be handled when it was parked.
	Error    string    `json:"error"`
	ParkedAt time.Time `json:"parked_at"`
}
