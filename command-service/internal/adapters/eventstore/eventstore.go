// Package eventstore stores the command service's events in EventStoreDB (or
// the embedded EventStoreDB-compatible store) through platform/esdbconn.
package eventstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/loanevents"
)

// readBatch is how many events one read asks for; aggregates' streams are
// short (a handful of events), so one read takes a whole stream.
const readBatch = 1024

// Store implements command.EventStore.
type Store struct{ conn *esdbconn.Conn }

// New returns the use cases' event store on a connection.
func New(conn *esdbconn.Conn) *Store { return &Store{conn: conn} }

var _ command.EventStore = (*Store)(nil)

// Load reads a whole stream, oldest first.
func (s *Store) Load(ctx context.Context, stream string) ([]command.RecordedEvent, int64, error) {
	var (
		events   []command.RecordedEvent
		revision int64 = -1
	)
	var from esdb.StreamPosition = esdb.Start{}
	for {
		page, err := s.conn.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: from}, readBatch)
		if err != nil {
			return nil, -1, storeError(fmt.Errorf("read %s: %w", stream, err))
		}
		for _, re := range page {
			ev := re.Event
			revision = int64(ev.EventNumber)
			if !loanevents.IsKnown(ev.EventType) {
				continue // an event this version does not know changes no decision it makes
			}
			payload, err := loanevents.Unmarshal(ev.EventType, ev.Data)
			if err != nil {
				return nil, -1, fmt.Errorf("read %s@%d: %w", stream, ev.EventNumber, err)
			}
			md, err := loanevents.UnmarshalMetadata(ev.UserMetadata)
			if err != nil {
				return nil, -1, fmt.Errorf("read %s@%d: %w", stream, ev.EventNumber, err)
			}
			events = append(events, command.RecordedEvent{ID: ev.EventID, Event: payload, Metadata: md,
				Revision: ev.EventNumber, Position: ev.Position.Commit})
		}
		if len(page) < readBatch {
			return events, revision, nil
		}
		from = esdb.Revision(uint64(revision) + 1)
	}
}

// Append appends with an exact expected revision.
func (s *Store) Append(ctx context.Context, stream string, expectedRevision int64, events []command.NewEvent) (command.AppendResult, error) {
	data := make([]esdb.EventData, len(events))
	for i, e := range events {
		eventType, payload, err := loanevents.Marshal(e.Event)
		if err != nil {
			return command.AppendResult{}, err
		}
		md, err := loanevents.MarshalMetadata(e.Metadata)
		if err != nil {
			return command.AppendResult{}, err
		}
		data[i] = esdb.EventData{EventID: e.ID, EventType: eventType, ContentType: esdb.ContentTypeJson, Data: payload, Metadata: md}
	}
	var expected esdb.ExpectedRevision = esdb.NoStream{}
	if expectedRevision >= 0 {
		expected = esdb.Revision(uint64(expectedRevision))
	}
	res, err := s.conn.Append(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, data...)
	if err != nil {
		if isWrongExpectedVersion(err) {
			return command.AppendResult{}, command.ErrConcurrencyConflict
		}
		return command.AppendResult{}, storeError(fmt.Errorf("append to %s: %w", stream, err))
	}
	return command.AppendResult{Revision: res.NextExpectedVersion, Position: res.CommitPosition}, nil
}

func isWrongExpectedVersion(err error) bool {
	var esErr *esdb.Error
	return errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeWrongExpectedVersion
}

// storeError marks an event store that did not answer (or a connection
// closing at shutdown) as the use cases' ErrStoreUnavailable: the command was
// not decided, and the client may retry it.
func storeError(err error) error {
	if errors.Is(err, esdbconn.ErrUnavailable) || errors.Is(err, esdbconn.ErrClosed) {
		return fmt.Errorf("%w: %w", command.ErrStoreUnavailable, err)
	}
	return err
}
