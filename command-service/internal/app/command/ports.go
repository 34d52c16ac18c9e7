// Package command holds the command service's use cases: each command is
// loaded, decided by its aggregate and appended here, one command per file.
package command

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/platform/loanevents"
)

// EventStore is what the use cases need of the event store.
type EventStore interface {
	// Load reads a whole stream, oldest first; a stream that does not exist
	// yet has no events and revision -1.
	Load(ctx context.Context, stream string) (events []RecordedEvent, revision int64, err error)
	// Append appends events atomically if the stream's last revision is
	// exactly expectedRevision (-1: the stream must not exist). It fails with
	// ErrConcurrencyConflict when it is not.
	Append(ctx context.Context, stream string, expectedRevision int64, events []NewEvent) (AppendResult, error)
}

// RecordedEvent is an event read back from a stream.
type RecordedEvent struct {
	ID       uuid.UUID
	Event    domain.Event
	Metadata loanevents.Metadata
	Revision uint64
	Position uint64
}

// NewEvent is an event to append.
type NewEvent struct {
	ID       uuid.UUID
	Event    domain.Event
	Metadata loanevents.Metadata
}

// AppendResult says where appended events landed.
type AppendResult struct {
	Revision uint64 // the stream's last revision
	Position uint64 // the $all position of the last event
}

// ErrStoreUnavailable: the event store cannot be reached now; the command
// was not decided (retry it with the same command ID).
var ErrStoreUnavailable = errors.New("the event store is unavailable")

// ErrConcurrencyConflict: the stream changed between load and append.
var ErrConcurrencyConflict = errors.New("the stream was changed by another command at the same time")
