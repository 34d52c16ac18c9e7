package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/platform/loanevents"
)

// Meta is what a command carries besides its domain content.
type Meta struct {
	// CommandID identifies the command; the same ID sent again is answered
	// with the first result and changes nothing.
	CommandID     uuid.UUID
	CorrelationID string
	CausationID   string
	Actor         string
	TraceParent   string
}

// Result says where a command's events landed.
type Result struct {
	ApplicationID uuid.UUID
	CommandID     uuid.UUID
	Stream        string
	Revision      uint64
	Position      uint64
}

// ErrRetriesExhausted is returned when every attempt met a concurrent change.
var ErrRetriesExhausted = errors.New("the application kept changing while the command was decided; try again")

// Commands runs the use cases.
type Commands struct {
	store       EventStore
	now         func() time.Time
	limits      domain.Limits
	maxAttempts int
}

// Config tunes Commands.
type Config struct {
	Limits domain.Limits
	// MaxAttempts bounds the load-decide-append cycles one command may take
	// when other commands change the same stream meanwhile; default 5.
	MaxAttempts int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// New returns the use cases on an event store.
func New(store EventStore, cfg Config) *Commands {
	c := &Commands{store: store, now: cfg.Now, limits: cfg.Limits, maxAttempts: cfg.MaxAttempts}
	if c.now == nil {
		c.now = time.Now
	}
	if c.limits == (domain.Limits{}) {
		c.limits = domain.DefaultLimits()
	}
	if c.maxAttempts <= 0 {
		c.maxAttempts = 5
	}
	return c
}

// execute is the one path every command takes: load the aggregate's stream,
// answer a repeated command with its first result, decide, and append with
// the exact revision loaded; on a concurrent change, start again.
//
// When the stream is expected not to exist yet (a new application), the
// first attempt skips the load and appends expecting no stream: the common
// case costs one append, and a conflict falls back to the normal path.
func execute[A domain.Aggregate[A]](ctx context.Context, c *Commands, stream string, cmd domain.Command, meta Meta, expectNew bool) (Result, error) {
	if meta.CommandID == uuid.Nil {
		return Result{}, errors.New("command: a command ID is required")
	}
	for attempt := range c.maxAttempts {
		var (
			history  []RecordedEvent
			revision int64 = -1
			err      error
		)
		if !(expectNew && attempt == 0) {
			if history, revision, err = c.store.Load(ctx, stream); err != nil {
				return Result{}, err
			}
		}
		if r, ok := previousResult(history, meta.CommandID); ok {
			r.ApplicationID, r.Stream = cmd.AggregateID(), stream
			return r, nil
		}
		var state A
		for _, e := range history {
			state = state.Apply(e.Event)
		}
		events, err := state.Execute(cmd)
		if err != nil {
			return Result{}, err
		}
		appended, err := c.store.Append(ctx, stream, revision, c.envelope(events, meta))
		if errors.Is(err, ErrConcurrencyConflict) {
			continue
		}
		if err != nil {
			return Result{}, err
		}
		return Result{ApplicationID: cmd.AggregateID(), CommandID: meta.CommandID, Stream: stream,
			Revision: appended.Revision, Position: appended.Position}, nil
	}
	return Result{}, fmt.Errorf("%w (%d attempts on %s)", ErrRetriesExhausted, c.maxAttempts, stream)
}

// previousResult finds the events an earlier run of the same command wrote.
func previousResult(history []RecordedEvent, commandID uuid.UUID) (Result, bool) {
	id := commandID.String()
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Metadata.CommandID == id {
			return Result{CommandID: commandID, Revision: history[i].Revision, Position: history[i].Position}, true
		}
	}
	return Result{}, false
}

// envelope gives events their IDs and metadata. Event IDs derive from the
// command ID, so the same command decided twice concurrently appends events
// with the same IDs at the same expected revision, which the event store
// takes once.
func (c *Commands) envelope(events []domain.Event, meta Meta) []NewEvent {
	md := loanevents.Metadata{
		CommandID:     meta.CommandID.String(),
		CorrelationID: meta.CorrelationID,
		CausationID:   meta.CausationID,
		Actor:         meta.Actor,
		OccurredAt:    c.now().UTC(),
		SchemaVersion: loanevents.SchemaVersion,
		TraceParent:   meta.TraceParent,
	}
	if md.CorrelationID == "" {
		md.CorrelationID = md.CommandID
	}
	if md.CausationID == "" {
		md.CausationID = md.CommandID
	}
	out := make([]NewEvent, len(events))
	for i, e := range events {
		out[i] = NewEvent{ID: EventID(meta.CommandID, i), Event: e, Metadata: md}
	}
	return out
}

// EventID is the ID of the i-th event a command produces.
func EventID(commandID uuid.UUID, i int) uuid.UUID {
	return uuid.NewSHA1(commandID, fmt.Appendf(nil, "event-%d", i))
}

// DerivedCommandID is the ID of the command a process manager issues in
// reaction to an event: the same event always yields the same command.
func DerivedCommandID(eventID uuid.UUID, command string) uuid.UUID {
	return uuid.NewSHA1(eventID, []byte(command))
}
