// Package projector runs the projection: it follows $all through a catch-up
// subscription of the official EventStoreDB client, filtered on the server
// to the loan event types, folds the events with package projection and
// writes them through a readmodel.Writer, with the $all position reached as
// the generation's checkpoint.
//
// While catching up it writes batches (up to Options.MaxBatch events, or
// what came in Options.MaxDelay); once live it writes what is there at once.
// Every write is idempotent (readmodel's rules), so after a crash it simply
// starts again from the stored checkpoint.
//
// An event that cannot be projected is parked (readmodel.Writer.Park) and
// the projection goes on: one whose payload, metadata or application UUID
// does not decode is parked at once (the same bytes through the same code
// fail the same way every time); one the store keeps refusing is parked
// after Options.Attempts tries, provided the store otherwise works (a store
// that refuses everything is down: the projector waits for it instead of
// parking every event).
package projector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"go.opentelemetry.io/otel/trace"

	"github.com/loanflow/loans/platform/backoff"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/telemetry"
)

// Options tune a Projector; zero fields take the defaults.
type Options struct {
	// MaxBatch is the most events written at once while catching up
	// (DefaultMaxBatch).
	MaxBatch int
	// MaxDelay is how long catching up waits to fill a batch (50 ms). Once
	// live, events are written as soon as they come.
	MaxDelay time.Duration
	// Attempts is how many times a failing write is tried before the events
	// in it are tried one by one and a failing one parked (3).
	Attempts int
	// RetryBackoff is the first wait between attempts, doubled each time
	// (100 ms).
	RetryBackoff time.Duration
	// WatchInterval is how often Run checks which generation is active
	// (1 s).
	WatchInterval time.Duration
	// ResubscribeBackoffMax bounds the wait before following $all again
	// after the subscription or the store failed (5 s).
	ResubscribeBackoffMax time.Duration
	// StopTimeout bounds how long the batch in hand may take to be written
	// once Run's context ends (10 s).
	StopTimeout time.Duration
	// ChaseTimeout bounds how long a rebuild, having reached the head it
	// started at, follows $all until its generation has caught up with the
	// active one, which a running projector keeps moving (2 min).
	ChaseTimeout time.Duration
	// Now gives the time events are parked at (time.Now).
	Now func() time.Time
}

// Catch-up batch sizes (Options.MaxBatch). DefaultMaxBatch keeps a MongoDB
// transaction to about a thousand documents of each kind, as MongoDB
// advises. SQLiteMaxBatch is for the SQLite store: bigger transactions mean
// fewer commits, fewer WAL pages (a hot page is written once a batch) and
// more of an application's events folded into one upsert. On a 2-core VM at
// a million events, catch-up went from about 23,000 events/s in batches of
// 10,000 to about 30,000 in batches of 20,000 (docs/BENCHMARKS.md); a batch
// and the one decoded meanwhile are most of the projector's memory (tens of
// MB), hence no more.
const (
	DefaultMaxBatch = 1000
	SQLiteMaxBatch  = 20000
)

func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 50 * time.Millisecond
	}
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 100 * time.Millisecond
	}
	if o.WatchInterval <= 0 {
		o.WatchInterval = time.Second
	}
	if o.ResubscribeBackoffMax <= 0 {
		o.ResubscribeBackoffMax = 5 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 10 * time.Second
	}
	if o.ChaseTimeout <= 0 {
		o.ChaseTimeout = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// EventStore is what the projector needs of the event store:
// esdbconn.Conn, whose calls are bounded by their context and whose
// discovery of the store never gives up.
type EventStore interface {
	// SubscribeToAll starts a catch-up subscription; the subscription lives
	// until ctx ends or it is closed.
	SubscribeToAll(ctx context.Context, opts esdb.SubscribeToAllOptions) (*esdb.Subscription, error)
	// ReadAll reads up to count events of $all, all held in memory.
	ReadAll(ctx context.Context, opts esdb.ReadAllOptions, count uint64) ([]esdb.ResolvedEvent, error)
	// Healthy tells whether the store answers (readiness).
	Healthy(ctx context.Context) error
}

// Projector projects loan events from the event store into a read model.
type Projector struct {
	es     EventStore
	store  readmodel.Writer
	logger *slog.Logger
	opts   Options
	// onPark, when set, is told each position parked (a rebuild notes
	// what it could not project).
	onPark func(position uint64)
	// state is where following is, for Ready.
	state *runState
	// lag is what following has received and not written yet.
	lag     *lag
	metrics *metrics
	tracer  trace.Tracer
}

// New prepares a projector.
func New(es EventStore, store readmodel.Writer, logger *slog.Logger, opts Options) *Projector {
	return &Projector{es: es, store: store, logger: logger, opts: opts.withDefaults(), state: &runState{}, lag: &lag{},
		metrics: newMetrics(), tracer: telemetry.Tracer("projector-service")}
}

// errGenerationChanged ends following a generation that is no longer the
// active one.
var errGenerationChanged = errors.New("projector: another generation was activated")

// Run projects into the active generation until ctx ends, then writes the
// batch in hand and returns nil. When another generation is activated (by
// a rebuild) it goes on from that generation's checkpoint. Failures of the
// event store or the read model are waited out with backoff.
func (p *Projector) Run(ctx context.Context) error {
	defer p.state.set(phaseStopped, 0, nil)
	wait := p.opts.RetryBackoff
	for ctx.Err() == nil {
		gen, err := p.store.ActiveGeneration(ctx)
		if err == nil {
			p.logger.Info("projector: following $all", "generation", gen)
			err = p.follow(ctx, gen, followOptions{watch: true})
			if err == nil || ctx.Err() != nil {
				return nil
			}
		} else {
			err = fmt.Errorf("active generation: %w", err)
		}
		if errors.Is(err, errGenerationChanged) {
			wait = p.opts.RetryBackoff
			continue
		}
		p.state.set(phaseInterrupted, 0, err)
		p.logger.Warn("projector: interrupted; resuming from the checkpoint", "error", err, "after", wait)
		if !backoff.Sleep(ctx, wait) {
			return nil
		}
		wait = min(wait*2, p.opts.ResubscribeBackoffMax)
	}
	return nil
}

// filter is the server-side filter: the loan event types.
func filter() *esdb.SubscriptionFilter {
	return &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Prefixes: loanevents.Types()}
}

// allPosition is where a subscription starts to deliver events after
// checkpoint. The read model keeps commit positions; EventStoreDB's prepare
// position equals the commit position for events appended outside
// (long-deprecated) transactions, which is all the services write.
func allPosition(checkpoint uint64) esdb.AllPosition {
	if checkpoint == 0 {
		return esdb.Start{}
	}
	return esdb.Position{Commit: checkpoint, Prepare: checkpoint}
}
