// Package eventstore stores the command service's events in EventStoreDB (or
// the embedded EventStoreDB-compatible store) through the official client.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/platform/loanevents"
)

// readBatch is how many events one read asks for; aggregates' streams are
// short (a handful of events), so one read takes a whole stream.
const readBatch = 1024

// Store implements command.EventStore.
type Store struct{ conn *Conn }

// New stores through a connection.
func New(conn *Conn) *Store { return &Store{conn: conn} }

var _ command.EventStore = (*Store)(nil)

// Load reads a whole stream, oldest first.
func (s *Store) Load(ctx context.Context, stream string) ([]command.RecordedEvent, int64, error) {
	type loaded struct {
		events   []command.RecordedEvent
		revision int64
	}
	// The whole read runs inside call: receiving can also wait on the
	// client's internal goroutine (when the server goes away).
	l, err := call(ctx, s.conn, func(client *esdb.Client) (loaded, error) {
		l := loaded{revision: -1}
		var from esdb.StreamPosition = esdb.Start{}
		for {
			n, err := readPage(ctx, client, stream, from, &l.events, &l.revision)
			if err != nil || n < readBatch {
				return l, err
			}
			from = esdb.Revision(uint64(l.revision) + 1)
		}
	})
	if err != nil {
		return nil, -1, err
	}
	return l.events, l.revision, nil
}

func readPage(ctx context.Context, client *esdb.Client, stream string, from esdb.StreamPosition, events *[]command.RecordedEvent, revision *int64) (int, error) {
	rs, err := client.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: from}, readBatch)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", stream, err)
	}
	defer rs.Close()
	n := 0
	for {
		re, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if esErr, ok := esdb.FromError(err); !ok {
			if esErr.Code() == esdb.ErrorCodeResourceNotFound {
				return 0, nil
			}
			return 0, fmt.Errorf("read %s: %w", stream, err)
		}
		n++
		ev := re.Event
		*revision = int64(ev.EventNumber)
		if !loanevents.IsKnown(ev.EventType) {
			continue // an event this version does not know changes no decision it makes
		}
		payload, err := loanevents.Unmarshal(ev.EventType, ev.Data)
		if err != nil {
			return 0, fmt.Errorf("read %s@%d: %w", stream, ev.EventNumber, err)
		}
		md, err := loanevents.UnmarshalMetadata(ev.UserMetadata)
		if err != nil {
			return 0, fmt.Errorf("read %s@%d: %w", stream, ev.EventNumber, err)
		}
		*events = append(*events, command.RecordedEvent{ID: ev.EventID, Event: payload, Metadata: md,
			Revision: ev.EventNumber, Position: ev.Position.Commit})
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
	res, err := call(ctx, s.conn, func(client *esdb.Client) (*esdb.WriteResult, error) {
		return client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, data...)
	})
	if err != nil {
		if esErr, ok := esdb.FromError(err); !ok && esErr.Code() == esdb.ErrorCodeWrongExpectedVersion {
			return command.AppendResult{}, command.ErrConcurrencyConflict
		}
		return command.AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	return command.AppendResult{Revision: res.NextExpectedVersion, Position: res.CommitPosition}, nil
}
