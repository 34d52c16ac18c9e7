package eventstore

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/loanevents"
)

// The process managers' own streams and event types. They are stored data,
// read by operators with any EventStoreDB tool: never rename one.
const (
	// CheckpointEventType records how far a manager got ({"commit","prepare"}).
	CheckpointEventType = "ProcessManagerCheckpoint"
	// ParkedEventType records an event a manager could not handle: its data
	// is a process.Parked in JSON.
	ParkedEventType = "ProcessManagerEventParked"
	// ResolvedEventType records that a parked event was handled after all
	// (command-service replay-parked): its data names the parked event.
	ResolvedEventType = "ProcessManagerEventResolved"
)

// CheckpointStream is where a manager's checkpoint lives. The stream keeps
// its last few events only ($maxCount).
func CheckpointStream(manager string) string { return "processManager-" + manager + "-checkpoint" }

// ParkedStream is where a manager's parked events are recorded, and their
// resolutions; it keeps everything.
func ParkedStream(manager string) string { return "processManager-" + manager + "-parked" }

// ProcessLog implements process.Log on the event store.
type ProcessLog struct{ conn *esdbconn.Conn }

// NewProcessLog returns the process managers' log on a connection.
func NewProcessLog(conn *esdbconn.Conn) *ProcessLog { return &ProcessLog{conn: conn} }

var _ process.Log = (*ProcessLog)(nil)

// Subscribe follows $all, filtered on the server to the event types.
func (l *ProcessLog) Subscribe(ctx context.Context, from process.Position, eventTypes []string) (process.Subscription, error) {
	var start esdb.AllPosition = esdb.Start{}
	if from != (process.Position{}) {
		start = esdb.Position{Commit: from.Commit, Prepare: from.Prepare}
	}
	sub, err := l.conn.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
		From:   start,
		Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: eventTypes},
	})
	if err != nil {
		return nil, storeError(fmt.Errorf("subscribe to $all: %w", err))
	}
	return subscription{sub}, nil
}

type subscription struct{ sub *esdb.Subscription }

func (s subscription) Close() { _ = s.sub.Close() }

func (s subscription) Next() (process.Delivery, error) {
	for {
		se := s.sub.Recv()
		switch {
		case se.SubscriptionDropped != nil:
			return process.Delivery{}, fmt.Errorf("subscription dropped: %w", se.SubscriptionDropped.Error)
		case se.CheckPointReached != nil:
			return process.Delivery{Position: process.Position{Commit: se.CheckPointReached.Commit, Prepare: se.CheckPointReached.Prepare}}, nil
		case se.EventAppeared != nil:
			if ev := se.EventAppeared.Event; ev != nil {
				rec := recorded(ev)
				return process.Delivery{Event: &rec, Position: rec.Position}, nil
			}
			if link := se.EventAppeared.Link; link != nil { // a link to a deleted event
				return process.Delivery{Position: process.Position{Commit: link.Position.Commit, Prepare: link.Position.Prepare}}, nil
			}
		}
		// Caught up, fell behind: nothing to hand on.
	}
}

func recorded(ev *esdb.RecordedEvent) process.Recorded {
	return process.Recorded{ID: ev.EventID, Type: ev.EventType, Stream: ev.StreamID, Revision: ev.EventNumber,
		Position: process.Position{Commit: ev.Position.Commit, Prepare: ev.Position.Prepare},
		Data:     ev.Data, Metadata: ev.UserMetadata}
}

// Checkpoint reads the last checkpoint saved.
func (l *ProcessLog) Checkpoint(ctx context.Context, manager string) (process.Position, error) {
	stream := CheckpointStream(manager)
	last, err := l.conn.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err != nil || len(last) == 0 {
		return process.Position{}, storeError(err)
	}
	var cp process.Position
	if err := json.Unmarshal(last[0].Event.Data, &cp); err != nil {
		return process.Position{}, fmt.Errorf("%s: %w", stream, err)
	}
	return cp, nil
}

// SaveCheckpoint appends a checkpoint; the stream keeps the last five.
func (l *ProcessLog) SaveCheckpoint(ctx context.Context, manager string, at process.Position) error {
	data, _ := json.Marshal(at)
	stream := CheckpointStream(manager)
	res, err := l.conn.Append(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}},
		esdb.EventData{EventType: CheckpointEventType, ContentType: esdb.ContentTypeJson, Data: data})
	if err != nil {
		return storeError(err)
	}
	if res.NextExpectedVersion == 0 {
		// First checkpoint: keep only the latest few from now on.
		meta := esdb.StreamMetadata{}
		meta.SetMaxCount(5)
		_, err = l.conn.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, meta)
	}
	return storeError(err)
}

// resolution is the data of a ResolvedEventType event.
type resolution struct {
	Manager    string           `json:"manager"`
	EventID    uuid.UUID        `json:"event_id"`
	Stream     string           `json:"stream"`
	Revision   uint64           `json:"revision"`
	Position   process.Position `json:"position"`
	ResolvedAt time.Time        `json:"resolved_at"`
}

// parkedState is a manager's parked stream, read whole.
type parkedState struct {
	revision int64                  // the stream's last revision; -1: none
	times    map[uuid.UUID]int      // how often each event was parked
	open     map[uuid.UUID]parkedAt // parked and not resolved
}

// parkedAt is a parked event and the revision of its record.
type parkedAt struct {
	process.Parked
	revision int64
}

// unresolved lists the open records, oldest first.
func (st parkedState) unresolved() []process.Parked {
	open := slices.SortedFunc(maps.Values(st.open), func(a, b parkedAt) int { return cmp.Compare(a.revision, b.revision) })
	out := make([]process.Parked, len(open))
	for i, p := range open {
		out[i] = p.Parked
	}
	return out
}

func (l *ProcessLog) readParked(ctx context.Context, manager string) (parkedState, error) {
	st := parkedState{revision: -1, times: map[uuid.UUID]int{}, open: map[uuid.UUID]parkedAt{}}
	stream := ParkedStream(manager)
	var from esdb.StreamPosition = esdb.Start{}
	for {
		page, err := l.conn.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: from}, readBatch)
		if err != nil {
			return st, storeError(fmt.Errorf("read %s: %w", stream, err))
		}
		for _, re := range page {
			ev := re.Event
			st.revision = int64(ev.EventNumber)
			switch ev.EventType {
			case ParkedEventType:
				var p process.Parked
				if err := json.Unmarshal(ev.Data, &p); err != nil {
					return st, fmt.Errorf("%s@%d: %w", stream, ev.EventNumber, err)
				}
				st.times[p.EventID]++
				st.open[p.EventID] = parkedAt{p, st.revision}
			case ResolvedEventType:
				var r resolution
				if err := json.Unmarshal(ev.Data, &r); err != nil {
					return st, fmt.Errorf("%s@%d: %w", stream, ev.EventNumber, err)
				}
				delete(st.open, r.EventID)
			}
		}
		if len(page) < readBatch {
			return st, nil
		}
		from = esdb.Revision(uint64(st.revision) + 1)
	}
}

// Parked lists the parked events not resolved yet.
func (l *ProcessLog) Parked(ctx context.Context, manager string) ([]process.Parked, error) {
	st, err := l.readParked(ctx, manager)
	if err != nil {
		return nil, err
	}
	return st.unresolved(), nil
}

// Park records an event as parked, unless it is parked and unresolved
// already (delivered again after a restart, or parked by another instance).
// It appends at the exact revision it read, so two instances parking the
// same event at once record it once.
func (l *ProcessLog) Park(ctx context.Context, p process.Parked) (recorded bool, err error) {
	return l.appendParked(ctx, p.Manager, func(st parkedState) (esdb.EventData, bool, error) {
		if _, ok := st.open[p.EventID]; ok {
			return esdb.EventData{}, false, nil
		}
		data, err := json.Marshal(p)
		id := uuid.NewSHA1(p.EventID, fmt.Appendf(nil, "%s/parked/%d", p.Manager, st.times[p.EventID]))
		return esdb.EventData{EventID: id, EventType: ParkedEventType, ContentType: esdb.ContentTypeJson, Data: data,
			Metadata: parkedMetadata(p.Manager, p.EventID)}, true, err
	})
}

// Resolve records that a parked event was handled, unless it is not parked.
func (l *ProcessLog) Resolve(ctx context.Context, p process.Parked) error {
	_, err := l.appendParked(ctx, p.Manager, func(st parkedState) (esdb.EventData, bool, error) {
		if _, ok := st.open[p.EventID]; !ok {
			return esdb.EventData{}, false, nil
		}
		data, err := json.Marshal(resolution{Manager: p.Manager, EventID: p.EventID, Stream: p.Stream, Revision: p.Revision,
			Position: p.Position, ResolvedAt: time.Now().UTC()})
		id := uuid.NewSHA1(p.EventID, fmt.Appendf(nil, "%s/resolved/%d", p.Manager, st.times[p.EventID]))
		return esdb.EventData{EventID: id, EventType: ResolvedEventType, ContentType: esdb.ContentTypeJson, Data: data,
			Metadata: parkedMetadata(p.Manager, p.EventID)}, true, err
	})
	return err
}

// appendParked reads the parked stream, asks next what to append (if
// anything), and appends it at the revision read; when the stream changed
// meanwhile it reads it again. appended says whether it appended.
func (l *ProcessLog) appendParked(ctx context.Context, manager string, next func(parkedState) (esdb.EventData, bool, error)) (appended bool, err error) {
	stream := ParkedStream(manager)
	const attempts = 5
	for range attempts {
		st, err := l.readParked(ctx, manager)
		if err != nil {
			return false, err
		}
		ev, ok, err := next(st)
		if err != nil || !ok {
			return false, err
		}
		var expected esdb.ExpectedRevision = esdb.NoStream{}
		if st.revision >= 0 {
			expected = esdb.Revision(uint64(st.revision))
		}
		_, err = l.conn.Append(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expected}, ev)
		if isWrongExpectedVersion(err) {
			continue
		}
		if err != nil {
			return false, storeError(fmt.Errorf("append to %s: %w", stream, err))
		}
		return true, nil
	}
	return false, fmt.Errorf("%s kept changing (%d attempts)", stream, attempts)
}

// parkedMetadata ties a parked stream's event to the event it is about, as
// every event's metadata does.
func parkedMetadata(manager string, eventID uuid.UUID) []byte {
	md, _ := loanevents.MarshalMetadata(loanevents.Metadata{CorrelationID: eventID.String(), CausationID: eventID.String(),
		Actor: "system:process-manager/" + manager, OccurredAt: time.Now().UTC(), SchemaVersion: loanevents.SchemaVersion})
	return md
}

// Read reads one event of a stream back.
func (l *ProcessLog) Read(ctx context.Context, stream string, revision uint64) (process.Recorded, error) {
	got, err := l.conn.ReadStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(revision)}, 1)
	if err != nil {
		return process.Recorded{}, storeError(err)
	}
	if len(got) == 0 || got[0].Event == nil || got[0].Event.EventNumber != revision {
		return process.Recorded{}, fmt.Errorf("%s@%d is no longer in the event store", stream, revision)
	}
	return recorded(got[0].Event), nil
}
