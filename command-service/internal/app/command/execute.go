package command

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/domain"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/loanevents"
)

// Meta is what a command carries besides its domain content.
type Meta struct {
	// CommandID identifies the command; the same ID sent again is answered
	// with the first result and changes nothing.
	CommandID     uuid.UUID
	CorrelationID string
	CausationID   string
	// Principal is the verified caller (or a service's own identity): the
	// policy decides with it and the events record it as their actor.
	Principal   auth.Principal
	TraceParent string
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

// ErrCommandIDReused: the command ID was already used by a different command
// on the same application (another type, other content or another caller).
// A command ID names one command: a retry must be the same command.
var ErrCommandIDReused = errors.New("this command_id was already used for a different command")

// Observer hears how each command went (the service counts them for its
// metrics). It is called on the command's goroutine: it must be quick.
type Observer interface {
	// Decided: the command was decided (err nil: appended, or answered as
	// a repeat) or refused or failed (err), after elapsed.
	Decided(action Action, elapsed time.Duration, err error)
	// Retried: an attempt met a concurrent change and the command is
	// decided again.
	Retried(action Action)
}

type noObserver struct{}

func (noObserver) Decided(Action, time.Duration, error) {}
func (noObserver) Retried(Action)                       {}

// Commands runs the use cases.
type Commands struct {
	store       EventStore
	now         func() time.Time
	limits      domain.Limits
	maxAttempts int
	observer    Observer
}

// Config tunes Commands.
type Config struct {
	Limits domain.Limits
	// MaxAttempts bounds the load-decide-append cycles one command may take
	// when other commands change the same stream meanwhile; default 5.
	MaxAttempts int
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Observer hears how each command went; default none.
	Observer Observer
}

// New returns the use cases on an event store.
func New(store EventStore, cfg Config) *Commands {
	c := &Commands{store: store, now: cfg.Now, limits: cfg.Limits, maxAttempts: cfg.MaxAttempts, observer: cfg.Observer}
	if c.observer == nil {
		c.observer = noObserver{}
	}
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

// execute is the one path every command takes: check the caller's roles,
// load the aggregate's stream, check the caller against the application's
// owner, answer a repeated command with its first result, decide, and
// append with the exact revision loaded; on a concurrent change, start again.
//
// A command that opens a stream (creates) skips the load on its first
// attempt and appends expecting no stream: the common case costs one
// append, and a conflict falls back to the normal path.
func execute[A domain.Aggregate[A]](ctx context.Context, c *Commands, action Action, stream string, cmd domain.Command, meta Meta) (Result, error) {
	start := time.Now()
	r, err := decideCommand[A](ctx, c, action, stream, cmd, meta)
	c.observer.Decided(action, time.Since(start), err)
	return r, err
}

func decideCommand[A domain.Aggregate[A]](ctx context.Context, c *Commands, action Action, stream string, cmd domain.Command, meta Meta) (Result, error) {
	if meta.CommandID == uuid.Nil {
		return Result{}, errors.New("command: a command ID is required")
	}
	held, err := grantsFor(meta.Principal, action)
	if err != nil {
		return Result{}, err
	}
	digest := commandDigest(action, cmd, meta.Principal)
	for attempt := range c.maxAttempts {
		var (
			history  []RecordedEvent
			revision int64 = -1
			state    A
		)
		if !(createsStream(action) && attempt == 0) {
			if history, revision, err = c.store.Load(ctx, stream); err != nil {
				return Result{}, err
			}
			for _, e := range history {
				state = state.Apply(e.Event)
			}
		}
		// The owner is the application's applicant, except for the request
		// that creates it: that names its applicant itself, whom the policy
		// holds to be the caller.
		owner := state.Applicant()
		if r, ok := cmd.(domain.RequestLoan); ok {
			owner = r.Applicant
		}
		switch d, err := authorize(meta.Principal, action, held, owner); {
		case err != nil:
			return Result{}, err
		case d == hidden:
			// Decide as if the application did not exist: the refusal is
			// then exactly the one for a missing application.
			var none A
			_, err := none.Execute(cmd)
			if err == nil {
				err = fmt.Errorf("command: %s on a hidden application was not refused", action)
			}
			return Result{}, err
		}
		if r, ok, err := previousResult(history, meta.CommandID, digest); ok || err != nil {
			r.ApplicationID, r.Stream = cmd.AggregateID(), stream
			return r, err
		}
		events, err := state.Execute(cmd)
		if err != nil {
			return Result{}, err
		}
		appended, err := c.store.Append(ctx, stream, revision, c.envelope(events, meta, action, digest))
		if errors.Is(err, ErrConcurrencyConflict) {
			if attempt+1 < c.maxAttempts {
				c.observer.Retried(action)
			}
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

// createsStream tells the commands that open their aggregate's stream.
func createsStream(a Action) bool {
	return a == ActionRequestLoan || a == ActionIssueLoanReview || a == ActionIssueLoanContract
}

// previousResult finds the events an earlier run of the same command wrote.
// The same command ID on a different command (its digest differs) is
// refused: answering it with the other command's result would tell the
// client its command was applied when it was not. Events written before
// digests were recorded have none and count as the same command.
func previousResult(history []RecordedEvent, commandID uuid.UUID, digest string) (Result, bool, error) {
	id := commandID.String()
	for i := len(history) - 1; i >= 0; i-- {
		md := history[i].Metadata
		if md.CommandID != id {
			continue
		}
		if md.CommandDigest != "" && md.CommandDigest != digest {
			return Result{}, false, fmt.Errorf("%w (it was a %s)", ErrCommandIDReused, md.CommandType)
		}
		return Result{CommandID: commandID, Revision: history[i].Revision, Position: history[i].Position}, true, nil
	}
	return Result{}, false, nil
}

// envelope gives events their IDs and metadata. Event IDs derive from the
// command ID and the command's digest, so the same command decided twice
// concurrently appends events with the same IDs at the same expected
// revision, which the event store takes once, while a different command
// reusing the ID gets other event IDs and is never mistaken for it.
func (c *Commands) envelope(events []domain.Event, meta Meta, action Action, digest string) []NewEvent {
	md := loanevents.Metadata{
		CommandID:     meta.CommandID.String(),
		CommandType:   string(action),
		CommandDigest: digest,
		CorrelationID: meta.CorrelationID,
		CausationID:   meta.CausationID,
		Actor:         meta.Principal.Subject,
		ActorRoles:    meta.Principal.RoleNames(),
		ActorIssuer:   meta.Principal.Issuer,
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
		out[i] = NewEvent{ID: EventID(meta.CommandID, digest, i), Event: e, Metadata: md}
	}
	return out
}

// EventID is the ID of the i-th event a command produces.
func EventID(commandID uuid.UUID, digest string, i int) uuid.UUID {
	return uuid.NewSHA1(commandID, fmt.Appendf(nil, "%s/event-%d", digest, i))
}

// DerivedCommandID is the ID of the command a process manager issues in
// reaction to an event: the same event always yields the same command.
func DerivedCommandID(eventID uuid.UUID, command string) uuid.UUID {
	return uuid.NewSHA1(eventID, []byte(command))
}
