// Package publisher publishes the loan events of the event store to
// RabbitMQ as integration events: a catch-up subscription to $all, filtered
// on the server to the loan event types, each event published to a durable
// topic exchange (routing key "loans.v1.<EventType>", docs/EVENTS.md) on one
// channel in confirm mode, in $all order.
//
// Delivery is at least once, with no dual write: the checkpoint (the $all
// position every event up to which the broker confirmed, kept in the event
// store itself) advances only after the confirms. Events are published as
// the subscription delivers them, up to Config.MaxBatch back to back
// between two looks at the confirms, with at most Config.MaxInFlight
// unconfirmed: the broker confirms a batch while the next one goes out, and
// the confirms are taken in publishing order. The checkpoint is saved at
// most every Config.CheckpointInterval or Config.CheckpointEvents events,
// and at stop. A nack, confirms that do not come, or a lost connection end
// the broker session: the publisher connects again (rabbit.Reconnect) and
// resumes after the last confirmed event, so events may be published
// twice, never skipped. A crash loses at most the unsaved part
// of the checkpoint and the confirms in flight: those events go out again.
//
// An event whose payload or metadata does not decode is published anyway,
// as stored, with a decode_error header (Map), and logged: skipping it would
// lose it for every consumer, stopping would hold back every later event.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/rabbit"
)

// EventStore is what the publisher needs of the event store:
// *esdbconn.Conn, whose calls are bounded by their context and whose
// discovery of the store never gives up.
type EventStore interface {
	SubscribeToAll(ctx context.Context, opts esdb.SubscribeToAllOptions) (*esdb.Subscription, error)
	ReadStream(ctx context.Context, stream string, opts esdb.ReadStreamOptions, count uint64) ([]esdb.ResolvedEvent, error)
	Append(ctx context.Context, stream string, opts esdb.AppendToStreamOptions, events ...esdb.EventData) (*esdb.WriteResult, error)
	SetStreamMetadata(ctx context.Context, stream string, opts esdb.AppendToStreamOptions, meta esdb.StreamMetadata) (*esdb.WriteResult, error)
	Healthy(ctx context.Context) error
}

// Config configures a Publisher; zero fields take the defaults.
type Config struct {
	// EventStore is where the events and the checkpoint are (required).
	EventStore EventStore
	// AMQPURL is the broker (required).
	AMQPURL string
	// Exchange is the topic exchange published to (DefaultExchange). It is
	// declared, durable, on every connection. The checkpoint is the
	// exchange's: CheckpointStream(Exchange).
	Exchange string
	// ConnectionName names the connection to the broker
	// (DefaultConnectionName(Exchange)).
	ConnectionName string
	// MaxBatch is the most events published back to back before the
	// confirms are looked at again (DefaultMaxBatch).
	MaxBatch int
	// MaxInFlight is the most events published and not yet confirmed
	// (DefaultInFlightBatches × MaxBatch): publishing goes on while the
	// broker confirms what came before.
	MaxInFlight int
	// CheckpointInterval and CheckpointEvents: the checkpoint is saved once
	// either has passed since the last save, and at stop (1 s, 10,000). A
	// lost checkpoint costs re-publishing, nothing else.
	CheckpointInterval time.Duration
	CheckpointEvents   int
	// ConfirmTimeout bounds the wait for a batch's confirms (30 s); then the
	// connection is given up and made again.
	ConfirmTimeout time.Duration
	// StopTimeout bounds, once Run's context ends, the wait for the confirms
	// outstanding and the saving of the checkpoint (10 s).
	StopTimeout time.Duration
	// MinBackoff and MaxBackoff bound the waits between attempts to reach
	// the broker or the event store again (100 ms, 5 s).
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the publisher's logs (slog.Default()).
	Logger *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxBatch           = 1000
	DefaultInFlightBatches    = 4
	DefaultCheckpointInterval = time.Second
	DefaultCheckpointEvents   = 10_000
	DefaultConfirmTimeout     = 30 * time.Second
	DefaultStopTimeout        = 10 * time.Second
)

// DefaultConnectionName is the broker connection's name for an exchange:
// "publisher-service/loans.events".
func DefaultConnectionName(exchange string) string { return AppID + "/" + exchange }

func (c Config) withDefaults() (Config, error) {
	if c.EventStore == nil {
		return c, errors.New("publisher: no event store")
	}
	if c.AMQPURL == "" {
		return c, errors.New("publisher: no broker URL")
	}
	if err := rabbit.Validate(c.AMQPURL); err != nil {
		return c, err
	}
	if c.Exchange == "" {
		c.Exchange = DefaultExchange
	}
	if c.ConnectionName == "" {
		c.ConnectionName = DefaultConnectionName(c.Exchange)
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = DefaultInFlightBatches * c.MaxBatch
	}
	c.MaxInFlight = max(c.MaxInFlight, c.MaxBatch)
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = DefaultCheckpointInterval
	}
	if c.CheckpointEvents <= 0 {
		c.CheckpointEvents = DefaultCheckpointEvents
	}
	if c.ConfirmTimeout <= 0 {
		c.ConfirmTimeout = DefaultConfirmTimeout
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(5*time.Second, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Publisher publishes the loan events. Run it once; Stats and Checks may
// be called from any goroutine.
type Publisher struct {
	cfg    Config
	log    *slog.Logger
	stream string // the checkpoint's
	// running guards against two Runs at once.
	running atomic.Bool

	// Owned by Run's goroutine.
	loaded      bool      // the checkpoint was read
	confirmed   cursor    // every event up to here is confirmed
	saved       cursor    // the checkpoint as saved
	unsaved     int       // events confirmed since the last save
	lastSave    time.Time // when the checkpoint was last saved or tried (or read)
	saveFailed  bool      // the last try failed: the next waits an interval
	maxCountSet bool

	// unconfirmed counts the events received from the subscription and not
	// confirmed yet (loans_publisher_lag_events).
	unconfirmed atomic.Int64

	// For Stats and Checks.
	published, poison, skipped, sessions atomic.Int64
	mu                                   sync.Mutex
	broker                               brokerState
	live                                 bool
	checkpoint                           Position
	confirmedAt                          Position
}

type brokerState struct {
	connected bool
	since     time.Time
	cause     error // why not connected
}

// New prepares a publisher.
func New(cfg Config) (*Publisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Publisher{cfg: cfg, log: cfg.Logger, stream: CheckpointStream(cfg.Exchange),
		broker: brokerState{since: time.Now(), cause: errors.New("connecting")}}, nil
}

// Config is the publisher's configuration, defaults filled in.
func (p *Publisher) Config() Config { return p.cfg }

// Run publishes until ctx ends, then waits (up to Config.StopTimeout) for
// the confirms outstanding, saves the checkpoint and returns nil. The
// broker and the event store going away are waited out; Run only fails
// when called while another Run of p is running.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("publisher: already running")
	}
	defer p.running.Store(false)
	p.log.Info("publisher: starting", "exchange", p.cfg.Exchange, "connection_name", p.cfg.ConnectionName,
		"broker", rabbit.Redact(p.cfg.AMQPURL), "checkpoint_stream", p.stream, "max_batch", p.cfg.MaxBatch)
	err := rabbit.Reconnect(ctx, rabbit.Config{URL: p.cfg.AMQPURL, Name: p.cfg.ConnectionName, Logger: p.log,
		MinBackoff: p.cfg.MinBackoff, MaxBackoff: p.cfg.MaxBackoff}, p.session)
	p.saveAtStop(ctx) // in case the last session could not
	p.setBroker(false, errors.New("stopped"))
	p.log.Info("publisher: stopped", "exchange", p.cfg.Exchange, "checkpoint", p.saved.pos, "published", p.published.Load())
	return err
}

// Stats is what a publisher has done since it was made.
type Stats struct {
	// Published counts the events the broker confirmed (a duplicate
	// counts again).
	Published int64
	// Poison counts the events met that get a decode_error header (one
	// delivered again after a reconnect counts again).
	Poison int64
	// Skipped counts the events the subscription delivered that are not of
	// a loan event type this code knows.
	Skipped int64
	// Sessions counts the broker connections made.
	Sessions int64
	// Confirmed is the position up to which every event is confirmed;
	// Checkpoint is the one last saved (or read at start).
	Confirmed, Checkpoint Position
	// Connected: a channel in confirm mode is open; Live: the subscription
	// has caught up with $all.
	Connected, Live bool
}

// Stats reports what the publisher has done so far.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return Stats{Published: p.published.Load(), Poison: p.poison.Load(), Skipped: p.skipped.Load(), Sessions: p.sessions.Load(),
		Confirmed: p.confirmedAt, Checkpoint: p.checkpoint, Connected: p.broker.connected, Live: p.live}
}

// ErrBrokerNotConnected is what the broker check wraps while no channel is
// open to publish on.
var ErrBrokerNotConnected = errors.New("publisher: not connected to the broker")

// BrokerReady tells whether a channel in confirm mode is open on the
// broker, with the exchange declared.
func (p *Publisher) BrokerReady(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broker.connected {
		return nil
	}
	return fmt.Errorf("%w for %v: %w", ErrBrokerNotConnected, time.Since(p.broker.since).Round(time.Millisecond), p.broker.cause)
}

// Checks are the publisher's readiness checks: the event store answers
// ("eventstore") and the broker is connected ("broker").
func (p *Publisher) Checks() []health.Check {
	return []health.Check{
		{Name: "eventstore", Func: p.cfg.EventStore.Healthy},
		{Name: "broker", Func: p.BrokerReady},
	}
}

func (p *Publisher) setBroker(connected bool, cause error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broker.connected != connected {
		p.broker.since = time.Now()
	}
	p.broker.connected, p.broker.cause = connected, cause
	if !connected {
		p.live = false
	}
}

func (p *Publisher) setLive(live bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live = live
}

// confirm notes that every event up to c is confirmed, n of them just now.
func (p *Publisher) confirm(c cursor, n int) {
	p.confirmed = c
	p.unsaved += n
	p.published.Add(int64(n))
	p.unconfirmed.Add(-int64(n))
	p.mu.Lock()
	p.confirmedAt = c.pos
	p.mu.Unlock()
}

// load reads the checkpoint, once a Run.
func (p *Publisher) load(ctx context.Context) error {
	if p.loaded {
		return nil
	}
	pos, ok, err := ReadCheckpoint(ctx, p.cfg.EventStore, p.stream)
	if err != nil {
		return err
	}
	p.loaded, p.lastSave = true, time.Now()
	if ok {
		p.confirmed = cursor{pos: pos, set: true}
		p.saved = p.confirmed
		p.mu.Lock()
		p.checkpoint, p.confirmedAt = pos, pos
		p.mu.Unlock()
	}
	p.log.Info("publisher: checkpoint read", "stream", p.stream, "found", ok, "commit", pos.Commit, "prepare", pos.Prepare)
	return nil
}

// save saves the checkpoint if it moved; it logs a failure and lets the
// next save, an interval later, try again (a checkpoint behind only means
// re-publishing).
func (p *Publisher) save(ctx context.Context) {
	if !p.confirmed.set || p.confirmed == p.saved {
		return
	}
	p.lastSave = time.Now()
	if err := saveCheckpoint(ctx, p.cfg.EventStore, p.stream, p.confirmed.pos, !p.maxCountSet); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) { // stopping: saveAtStop saves it
			return
		}
		p.saveFailed = true
		p.log.Warn("publisher: checkpoint not saved; saving again later", "error", err, "confirmed", p.confirmed.pos, "saved", p.saved.pos)
		return
	}
	p.maxCountSet = true
	p.saved, p.unsaved, p.saveFailed = p.confirmed, 0, false
	p.mu.Lock()
	p.checkpoint = p.saved.pos
	p.mu.Unlock()
}

// maybeSave saves the checkpoint (within saveTimeout) once an interval or
// enough events have passed since the last save.
func (p *Publisher) maybeSave(ctx context.Context) {
	if time.Since(p.lastSave) < p.cfg.CheckpointInterval && (p.unsaved < p.cfg.CheckpointEvents || p.saveFailed) {
		return
	}
	// Not cut short by a stop: a save abandoned on the client may still be
	// written later, after the save at stop.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
	defer cancel()
	p.save(ctx)
}

// saveAtStop saves the checkpoint within StopTimeout, whether or not ctx
// has ended.
func (p *Publisher) saveAtStop(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.StopTimeout)
	defer cancel()
	p.save(ctx)
}

// publishOptions are the flags of every publish: not mandatory (an event
// no queue is bound for is dropped by the broker, as a topic exchange
// does; consumers bind durable queues first) and not immediate (RabbitMQ
// refuses it).
const mandatory, immediate = false, false

// declareExchange declares the exchange: a durable topic exchange, not
// auto-deleted, so that it and the queues bound to it outlive the
// publisher.
func declareExchange(ch *amqp.Channel, name string) error {
	return ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil)
}
