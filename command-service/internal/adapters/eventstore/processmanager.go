package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/platform/loanevents"
)

// CheckpointEventType is the type of the events that record how far a
// process manager got.
const CheckpointEventType = "ProcessManagerCheckpoint"

// CheckpointStream is where a process manager's checkpoint lives. The stream
// keeps its last few events only ($maxCount).
func CheckpointStream(manager string) string { return "processManager-" + manager + "-checkpoint" }

// Runner delivers events to a process manager through a catch-up
// subscription to $all, filtered on the server to the manager's event types,
// from its durable checkpoint.
type Runner struct {
	conn    *Conn
	manager process.Manager
	logger  *slog.Logger
	// CheckpointEvery and CheckpointInterval bound how much is delivered
	// again after a crash: the checkpoint is saved after this many events or
	// this much time with progress, whichever comes first, and on stop.
	CheckpointEvery    int
	CheckpointInterval time.Duration
}

// NewRunner prepares a runner.
func NewRunner(conn *Conn, m process.Manager, logger *slog.Logger) *Runner {
	return &Runner{conn: conn, manager: m, logger: logger.With("manager", m.Name), CheckpointEvery: 100, CheckpointInterval: time.Second}
}

type checkpoint struct {
	Commit  uint64 `json:"commit"`
	Prepare uint64 `json:"prepare"`
}

// Run delivers events until ctx ends. Handling failures are retried with
// backoff (the event is never skipped); a dropped subscription is resumed
// from the last event handled.
func (r *Runner) Run(ctx context.Context) error {
	pos, err := r.loadCheckpoint(ctx)
	for err != nil {
		r.logger.Warn("process manager: cannot read its checkpoint; retrying", "error", err)
		if !sleep(ctx, time.Second) {
			return nil
		}
		pos, err = r.loadCheckpoint(ctx)
	}
	saved := pos
	backoff := 100 * time.Millisecond
	defer func() {
		if pos != saved {
			saveCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.saveCheckpoint(saveCtx, pos); err != nil {
				r.logger.Warn("process manager: checkpoint not saved at stop; events after it will be delivered again", "error", err)
			}
		}
	}()
	for ctx.Err() == nil {
		err := r.follow(ctx, &pos, &saved)
		if ctx.Err() != nil {
			return nil
		}
		r.logger.Warn("process manager: subscription interrupted; resuming", "error", err, "after", backoff)
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	return nil
}

func (r *Runner) follow(ctx context.Context, pos, saved *esdb.Position) error {
	var from esdb.AllPosition = esdb.Start{}
	if *pos != (esdb.Position{}) {
		from = *pos
	}
	sub, err := call(ctx, r.conn, func(client *esdb.Client) (*esdb.Subscription, error) {
		return client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{
			From:   from,
			Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: r.manager.EventTypes},
		})
	})
	if err != nil {
		return err
	}
	defer sub.Close()
	lastSave := time.Now()
	sinceSave := 0
	for {
		ev := sub.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			return ev.SubscriptionDropped.Error
		case ev.CheckPointReached != nil:
			*pos = *ev.CheckPointReached
		case ev.EventAppeared != nil:
			rec := ev.EventAppeared.Event
			if err := r.deliver(ctx, rec); err != nil {
				return err // ctx ended while retrying
			}
			*pos = rec.Position
			sinceSave++
		default:
			continue
		}
		if *pos != *saved && (sinceSave >= r.CheckpointEvery || time.Since(lastSave) >= r.CheckpointInterval) {
			if err := r.saveCheckpoint(ctx, *pos); err != nil {
				r.logger.Warn("process manager: checkpoint not saved; will try again", "error", err)
			} else {
				*saved, sinceSave, lastSave = *pos, 0, time.Now()
			}
		}
	}
}

// deliver hands one event to the manager, retrying until it is handled or
// ctx ends.
func (r *Runner) deliver(ctx context.Context, rec *esdb.RecordedEvent) error {
	if !loanevents.IsKnown(rec.EventType) {
		return nil
	}
	payload, err := loanevents.Unmarshal(rec.EventType, rec.Data)
	if err != nil {
		r.logger.Error("process manager: undecodable event skipped", "event_id", rec.EventID, "stream", rec.StreamID, "error", err)
		return nil
	}
	md, err := loanevents.UnmarshalMetadata(rec.UserMetadata)
	if err != nil {
		r.logger.Warn("process manager: event metadata undecodable; handling without it", "event_id", rec.EventID, "error", err)
	}
	e := process.Event{ID: rec.EventID, Type: rec.EventType, Payload: payload, Metadata: md, Position: rec.Position.Commit}
	backoff := 50 * time.Millisecond
	for {
		err := r.manager.Handle(ctx, e)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.logger.Warn("process manager: event not handled; retrying", "event_id", rec.EventID, "error", err, "after", backoff)
		if !sleep(ctx, backoff) {
			return ctx.Err()
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (r *Runner) loadCheckpoint(ctx context.Context) (esdb.Position, error) {
	return call(ctx, r.conn, func(client *esdb.Client) (esdb.Position, error) {
		rs, err := client.ReadStream(ctx, CheckpointStream(r.manager.Name), esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err != nil {
			return esdb.Position{}, err
		}
		defer rs.Close()
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return esdb.Position{}, nil
		}
		if esErr, ok := esdb.FromError(err); !ok {
			if esErr.Code() == esdb.ErrorCodeResourceNotFound {
				return esdb.Position{}, nil
			}
			return esdb.Position{}, err
		}
		var cp checkpoint
		if err := json.Unmarshal(ev.Event.Data, &cp); err != nil {
			return esdb.Position{}, fmt.Errorf("checkpoint of %s: %w", r.manager.Name, err)
		}
		return esdb.Position{Commit: cp.Commit, Prepare: cp.Prepare}, nil
	})
}

func (r *Runner) saveCheckpoint(ctx context.Context, pos esdb.Position) error {
	data, _ := json.Marshal(checkpoint{Commit: pos.Commit, Prepare: pos.Prepare})
	stream := CheckpointStream(r.manager.Name)
	res, err := call(ctx, r.conn, func(client *esdb.Client) (*esdb.WriteResult, error) {
		return client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}},
			esdb.EventData{EventType: CheckpointEventType, ContentType: esdb.ContentTypeJson, Data: data})
	})
	if err != nil {
		return err
	}
	if res.NextExpectedVersion == 0 {
		// First checkpoint: keep only the latest few from now on.
		meta := esdb.StreamMetadata{}
		meta.SetMaxCount(5)
		_, err = call(ctx, r.conn, func(client *esdb.Client) (*esdb.WriteResult, error) {
			return client.SetStreamMetadata(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, meta)
		})
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
