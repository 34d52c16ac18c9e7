package publisher

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// CheckpointEventType records how far a publisher got: its data is a
// Position in JSON ({"commit":…,"prepare":…}). Stored data, read by
// operators with any EventStoreDB tool: never rename it. It is not a loan
// event type, so the subscription's filter keeps the publisher's own
// checkpoints out of what it publishes.
const CheckpointEventType = "PublisherCheckpoint"

// checkpointsKept is the checkpoint stream's $maxCount: the furthest of
// them is the one read (ReadCheckpoint), and they are there for an
// operator's eyes.
const checkpointsKept = 5

// CheckpointStream is where the publisher to an exchange keeps its
// checkpoint: every event at or before it was confirmed by the broker.
func CheckpointStream(exchange string) string { return "publisher-" + exchange + "-checkpoint" }

// Position is a position in $all.
type Position struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// cursor is where the subscription resumes: after pos, or from the start
// of $all when !set (position 0 is a real position).
type cursor struct {
	pos Position
	set bool
}

func (c cursor) from() esdb.AllPosition {
	if !c.set {
		return esdb.Start{}
	}
	return esdb.Position{Commit: c.pos.Commit, Prepare: c.pos.Prepare}
}

// ReadCheckpoint reads the checkpoint saved in stream: the furthest of the
// last few saved, not merely the last. A save whose call was given up (a
// timeout) may still be written after a later one, out of order; the
// checkpoint only ever moves forward, so the furthest is the right one. ok
// is false when there is none (start from the beginning of $all).
func ReadCheckpoint(ctx context.Context, es EventStore, stream string) (Position, bool, error) {
	last, err := es.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, checkpointsKept)
	if err != nil {
		return Position{}, false, fmt.Errorf("read %s: %w", stream, err)
	}
	var furthest Position
	found := false
	for _, e := range last {
		if e.Event == nil {
			continue
		}
		var pos Position
		if err := json.Unmarshal(e.Event.Data, &pos); err != nil {
			return Position{}, false, fmt.Errorf("%s@%d: %w", stream, e.Event.EventNumber, err)
		}
		if !found || after(pos, furthest) {
			furthest, found = pos, true
		}
	}
	return furthest, found, nil
}

// saveCheckpoint appends a checkpoint; with setMaxCount (a process's first
// save) it then sets the stream's $maxCount, so that the stream keeps the
// last few only: once a process rather than on the stream's first event
// alone, so that a failure between the two calls is mended by the next
// start.
func saveCheckpoint(ctx context.Context, es EventStore, stream string, pos Position, setMaxCount bool) error {
	data, err := json.Marshal(pos)
	if err != nil {
		return err
	}
	_, err = es.Append(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}},
		esdb.EventData{EventType: CheckpointEventType, ContentType: esdb.ContentTypeJson, Data: data})
	if err != nil {
		return fmt.Errorf("append to %s: %w", stream, err)
	}
	if setMaxCount {
		meta := esdb.StreamMetadata{}
		meta.SetMaxCount(checkpointsKept)
		if _, err := es.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, meta); err != nil {
			return fmt.Errorf("set $maxCount of %s: %w", stream, err)
		}
	}
	return nil
}
