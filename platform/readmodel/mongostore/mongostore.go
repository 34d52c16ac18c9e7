// Package mongostore is the MongoDB adapter of the read-model port
// (readmodel.Store), on the official driver go.mongodb.org/mongo-driver/v2.
//
// Layout, in one database ("loans" unless WithDatabase says otherwise), one
// collection per read model and generation:
//
//	applications_v<N>  _id = loan_application_uuid (also a field); indexes for every List order and filter
//	history_v<N>       _id = $all position (also the field position); index {loan_application_uuid, _id}
//	daily_stats_v<N>   _id = day ("2006-01-02", also the field day); with last_position, the guard
//	funnel_v<N>        one document, _id "all"; with last_position, the guard
//	checkpoints        _id = generation; position (a generation exists while its checkpoint does)
//	meta               one document, for readers: {_id: "active_generation", generation}
//	counters           {_id: "generation", last}: the last generation number handed out
//	parked             _id = $all position
//
// meta holds the active generation alone, so that db.meta.findOne() is the
// answer an analyst expects. Stores made before the counter had a
// collection of its own kept it in meta ({_id: "generation_counter"}); Open
// moves it.
//
// Field names are snake_case and meant for analysts (loan_application_uuid,
// amount, status, applicant, requested_at, last_position, ...). Every time is
// kept twice: X as a BSON date, to the millisecond, for people and tools, and
// X_us as microseconds since the Unix epoch, the exact value that the adapter
// reads back, sorts and pages by; unset times are null in both.
//
// Where the server supports multi-document transactions (a replica set or a
// sharded cluster), Apply runs in one transaction, checkpoint included.
// Elsewhere (a standalone server, FerretDB) Apply relies on the port's
// guards alone and writes the checkpoint last, so a batch cut short is
// simply applied again. Every update command matches at most one document
// (by _id), which FerretDB v1 needs.
//
// On MongoDB a single-document update is atomic, so concurrent writers to
// one generation are safe too. FerretDB v1 evaluates an update's filter on a
// read and then writes by _id unconditionally: there the guards make a
// redelivered batch harmless for one writer a generation (the projector),
// but two concurrent writers can lose an update. FerretDB is for trying the
// MongoDB path on small data, not for production.
//
// Where the server supports views, the analysts' views v_loan_applications,
// v_loan_history, v_daily_stats, v_funnel and v_time_to_decision (those of the
// SQLite adapter) show the active generation; they are recreated on Activate.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/loanflow/loans/platform/readmodel"
)

// DefaultDatabase is the database a store uses unless told otherwise.
const DefaultDatabase = "loans"

// Collection names: per generation (with the suffix _v<N>) and shared.
const (
	collApplications = "applications"
	collHistory      = "history"
	collDailyStats   = "daily_stats"
	collFunnel       = "funnel"
	collCheckpoints  = "checkpoints"
	collMeta         = "meta"
	collCounters     = "counters"
	collParked       = "parked"

	metaActive = "active_generation"
	// metaLegacyCounter: where stores made before the counters collection
	// kept the generation counter.
	metaLegacyCounter = "generation_counter"
	counterGeneration = "generation"
	funnelID          = "all"
)

// Store is a read-model store on MongoDB. It is safe for concurrent use.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	log    *slog.Logger
	// txn: Apply runs in a multi-document transaction.
	txn bool
	// views: the server supports views; they are kept on the active generation.
	views bool
}

var _ readmodel.Store = (*Store)(nil)

// Option configures Open.
type Option func(*config)

type config struct {
	database      string
	logger        *slog.Logger
	noTxn         bool
	clientOptions []*options.ClientOptions
}

// WithDatabase uses another database than "loans" (tests use one each).
func WithDatabase(name string) Option { return func(c *config) { c.database = name } }

// WithLogger logs what the store decides at Open (transactions, views).
// Without it nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithoutTransactions makes Apply rely on the guards alone even where the
// server has transactions (to exercise that path against a replica set).
func WithoutTransactions() Option { return func(c *config) { c.noTxn = true } }

// WithClientOptions adds options to the driver's client, applied after the
// URI (timeouts, pool size, monitors).
func WithClientOptions(o *options.ClientOptions) Option {
	return func(c *config) { c.clientOptions = append(c.clientOptions, o) }
}

// Open connects to uri (mongodb://... or mongodb+srv://...), finds out what
// the server supports, and makes sure the store's collections, indexes and
// views exist: on a new database it creates generation 1 and activates it.
func Open(ctx context.Context, uri string, opts ...Option) (*Store, error) {
	cfg := config{database: DefaultDatabase}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clientOpts := append([]*options.ClientOptions{options.Client().ApplyURI(uri)}, cfg.clientOptions...)
	client, err := mongo.Connect(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("mongostore: connect: %w", err)
	}
	s := &Store{client: client, db: client.Database(cfg.database), log: cfg.logger}
	if err := s.init(ctx, cfg); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("mongostore: open: %w", err)
	}
	return s, nil
}

func (s *Store) init(ctx context.Context, cfg config) error {
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
	}
	if err := s.client.Database("admin").RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return fmt.Errorf("hello: %w", err)
	}
	// A replica set member names its set; mongos says "isdbgrid".
	serverTxn := hello.SetName != "" || hello.Msg == "isdbgrid"
	s.txn = serverTxn && !cfg.noTxn
	s.log.Info("mongostore: opened", "database", s.db.Name(), "server_transactions", serverTxn,
		"apply_in_transaction", s.txn)

	for _, name := range []string{collCheckpoints, collMeta, collCounters, collParked} {
		if err := s.createCollection(ctx, name); err != nil {
			return err
		}
	}
	gen, err := s.activeGeneration(ctx)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		// A new store (or one whose first Open stopped half-way): create
		// generation 1, then the counter, then the active generation, each
		// step idempotent.
		gen = 1
		if err := s.createGeneration(ctx, gen); err != nil {
			return err
		}
		if err := s.raiseCounter(ctx, gen); err != nil {
			return err
		}
		_, err := s.db.Collection(collMeta).InsertOne(ctx, bson.D{{Key: "_id", Value: metaActive}, {Key: "generation", Value: gen}})
		if err != nil && !mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("initialize meta: %w", err)
		}
		if gen, err = s.activeGeneration(ctx); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		// Indexes added by a newer version of this adapter.
		if err := s.createIndexes(ctx, gen); err != nil {
			return err
		}
		if err := s.moveLegacyCounter(ctx); err != nil {
			return err
		}
	}
	return s.initViews(ctx, gen)
}

// raiseCounter makes the generation counter at least last (creating it if
// need be), idempotently.
func (s *Store) raiseCounter(ctx context.Context, last int) error {
	raise := func() error {
		_, err := s.db.Collection(collCounters).UpdateOne(ctx, bson.D{{Key: "_id", Value: counterGeneration}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "last", Value: last}}}}, options.UpdateOne().SetUpsert(true))
		return err
	}
	err := raise()
	if mongo.IsDuplicateKeyError(err) { // a concurrent upsert created it: now it exists
		err = raise()
	}
	if err != nil {
		return fmt.Errorf("raise the generation counter to %d: %w", last, err)
	}
	return nil
}

// moveLegacyCounter moves the generation counter of a store made before
// the counters collection out of meta: copied first, deleted next, and
// copied again with the value it had when deleted (in case a process of
// the older version handed out a number meanwhile). Stopped half-way, the
// next Open finishes it; numbers are never handed out twice.
func (s *Store) moveLegacyCounter(ctx context.Context) error {
	meta := s.db.Collection(collMeta)
	var old struct {
		Last int `bson:"last"`
	}
	err := meta.FindOne(ctx, bson.D{{Key: "_id", Value: metaLegacyCounter}}).Decode(&old)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the former generation counter: %w", err)
	}
	if err := s.raiseCounter(ctx, old.Last); err != nil {
		return err
	}
	err = meta.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: metaLegacyCounter}}).Decode(&old)
	if errors.Is(err, mongo.ErrNoDocuments) { // moved by a concurrent Open
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete the former generation counter: %w", err)
	}
	if err := s.raiseCounter(ctx, old.Last); err != nil {
		return err
	}
	s.log.Info("mongostore: moved the generation counter from meta to counters", "database", s.db.Name(), "last", old.Last)
	return nil
}

// Close disconnects from the server.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// Transactions reports whether Apply runs in a multi-document transaction.
func (s *Store) Transactions() bool { return s.txn }

// Views reports whether the server keeps the analysts' views.
func (s *Store) Views() bool { return s.views }

// coll is a generation's collection of a read model.
func (s *Store) coll(model string, gen int) *mongo.Collection {
	return s.db.Collection(genName(model, gen))
}

func genName(model string, gen int) string { return fmt.Sprintf("%s_v%d", model, gen) }

// createCollection creates a collection unless it exists.
func (s *Store) createCollection(ctx context.Context, name string) error {
	err := s.db.CreateCollection(ctx, name)
	if err != nil && !hasCode(err, codeNamespaceExists) {
		return fmt.Errorf("create collection %s: %w", name, err)
	}
	return nil
}

// createGeneration creates a generation's collections and indexes, then its
// checkpoint (which makes it exist), all idempotently.
func (s *Store) createGeneration(ctx context.Context, gen int) error {
	for _, model := range []string{collApplications, collHistory, collDailyStats, collFunnel} {
		if err := s.createCollection(ctx, genName(model, gen)); err != nil {
			return err
		}
	}
	if err := s.createIndexes(ctx, gen); err != nil {
		return err
	}
	_, err := s.db.Collection(collCheckpoints).InsertOne(ctx, checkpointDoc{Generation: gen, Position: 0, UpdatedAt: time.Now().UTC()})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("create checkpoint of generation %d: %w", gen, err)
	}
	return nil
}

func idx(name string, keys ...string) mongo.IndexModel {
	d := bson.D{}
	for _, k := range keys {
		dir := 1
		if k[0] == '-' {
			dir, k = -1, k[1:]
		}
		d = append(d, bson.E{Key: k, Value: dir})
	}
	return mongo.IndexModel{Keys: d, Options: options.Index().SetName(name)}
}

// createIndexes creates the indexes every query needs (creating an index
// that exists with the same keys and name does nothing). One index a
// command: FerretDB v1.24.2 panics (and drops the connection) on a
// createIndexes naming two or more indexes that already exist.
func (s *Store) createIndexes(ctx context.Context, gen int) error {
	for model, models := range map[string][]mongo.IndexModel{
		collApplications: {
			// List: one per order, each also serving its ascending twin.
			idx("requested_at", "-requested_at_us", "-_id"),
			idx("amount", "-amount", "-_id"),
			idx("updated_at", "-updated_at_us", "-_id"),
			// List filtered by status or by applicant, newest first.
			idx("status_requested_at", "status", "-requested_at_us", "-_id"),
			idx("applicant_requested_at", "applicant", "-requested_at_us", "-_id"),
		},
		// History: an application's entries by position.
		collHistory: {idx("application_position", "loan_application_uuid", "_id")},
		// daily_stats (by day range) and funnel use _id only.
	} {
		for _, m := range models {
			if _, err := s.coll(model, gen).Indexes().CreateOne(ctx, m); err != nil {
				return fmt.Errorf("create indexes of %s: %w", genName(model, gen), err)
			}
		}
	}
	return nil
}

// ActiveGeneration is the generation readers read.
func (s *Store) ActiveGeneration(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	g, err := s.activeGeneration(ctx)
	if err != nil {
		return 0, fmt.Errorf("mongostore: active generation: %w", err)
	}
	return g, nil
}

func (s *Store) activeGeneration(ctx context.Context) (int, error) {
	var m struct {
		Generation int `bson:"generation"`
	}
	if err := s.db.Collection(collMeta).FindOne(ctx, bson.D{{Key: "_id", Value: metaActive}}).Decode(&m); err != nil {
		return 0, err
	}
	return m.Generation, nil
}

// Checkpoint is the position a generation has projected up to.
func (s *Store) Checkpoint(ctx context.Context, gen int) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cp, err := s.checkpoint(ctx, gen)
	if err != nil {
		return 0, fmt.Errorf("mongostore: checkpoint: %w", err)
	}
	return cp, nil
}

// checkpoint reads a generation's checkpoint; a generation without one does
// not exist.
func (s *Store) checkpoint(ctx context.Context, gen int) (uint64, error) {
	var c checkpointDoc
	err := s.db.Collection(collCheckpoints).FindOne(ctx, bson.D{{Key: "_id", Value: gen}}).Decode(&c)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, fmt.Errorf("generation %d does not exist", gen)
	}
	if err != nil {
		return 0, err
	}
	return uint64(c.Position), nil
}

// NewGeneration creates empty collections for a rebuild; numbers are never
// reused.
func (s *Store) NewGeneration(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var m struct {
		Last int `bson:"last"`
	}
	err := s.db.Collection(collCounters).FindOneAndUpdate(ctx,
		bson.D{{Key: "_id", Value: counterGeneration}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "last", Value: 1}}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&m)
	if err != nil {
		return 0, fmt.Errorf("mongostore: new generation: %w", err)
	}
	if err := s.createGeneration(ctx, m.Last); err != nil {
		return 0, fmt.Errorf("mongostore: new generation: %w", err)
	}
	return m.Last, nil
}

// Activate switches readers (and the views) to a generation, provided its
// checkpoint is at or past the active generation's.
//
// With transactions, the check and the switch are one transaction that also
// writes the active generation's checkpoint document (a fence): MongoDB
// detects conflicts between writes only, so without that write an Apply
// moving that checkpoint could commit between the check and the switch
// unnoticed; with it, one of the two waits for or retries after the other.
// Without transactions the switch is a compare-and-set on the active
// generation, after the check: an Apply landing in between is not seen
// (the port says so).
func (s *Store) Activate(ctx context.Context, gen int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	if s.txn {
		err = s.activateInTransaction(ctx, gen)
	} else {
		err = s.activate(ctx, gen, false)
	}
	if err != nil {
		return fmt.Errorf("mongostore: activate generation %d: %w", gen, err)
	}
	if s.views {
		if err := s.createViews(ctx, gen); err != nil {
			return fmt.Errorf("mongostore: activate generation %d: %w", gen, err)
		}
	}
	return nil
}

func (s *Store) activateInTransaction(ctx context.Context, gen int) error {
	sess, err := s.client.StartSession()
	if err != nil {
		return err
	}
	defer sess.EndSession(context.WithoutCancel(ctx))
	// WithTransaction retries the transient errors a conflict gives.
	_, err = sess.WithTransaction(ctx, func(ctx context.Context) (any, error) {
		return nil, s.activate(ctx, gen, true)
	}, options.Transaction().SetReadConcern(readconcern.Snapshot()).SetWriteConcern(writeconcern.Majority()))
	return err
}

// errActiveChanged: another Activate switched readers between our read of
// the active generation and our switch.
var errActiveChanged = errors.New("the active generation changed meanwhile")

// activate checks gen against the active generation and switches to it,
// in or out of a transaction (ctx carries it); fence writes the active
// generation's checkpoint document (see Activate).
func (s *Store) activate(ctx context.Context, gen int, fence bool) error {
	for attempt := 1; ; attempt++ {
		cp, err := s.checkpoint(ctx, gen)
		if err != nil {
			return err
		}
		active, err := s.activeGeneration(ctx)
		if err != nil {
			return fmt.Errorf("active generation: %w", err)
		}
		if fence {
			_, err := s.db.Collection(collCheckpoints).UpdateOne(ctx, bson.D{{Key: "_id", Value: active}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "activation_checked_at", Value: time.Now().UTC()}}}})
			if err != nil {
				return fmt.Errorf("fence the active generation's checkpoint: %w", err)
			}
		}
		activeCP, err := s.checkpoint(ctx, active)
		if err != nil {
			return fmt.Errorf("active generation %d: %w", active, err)
		}
		if cp < activeCP {
			return fmt.Errorf("%w: its checkpoint %d is below active generation %d's %d", readmodel.ErrGenerationBehind, cp, active, activeCP)
		}
		res, err := s.db.Collection(collMeta).UpdateOne(ctx,
			bson.D{{Key: "_id", Value: metaActive}, {Key: "generation", Value: active}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "generation", Value: gen}}}})
		if err != nil {
			return err
		}
		if res.MatchedCount == 1 {
			return nil
		}
		if fence || attempt == maxAttempts {
			// In a transaction the snapshot cannot see another value: the
			// conflict surfaces as a transient error, retried by the caller.
			return errActiveChanged
		}
	}
}

// DropGeneration deletes an inactive generation: its checkpoint first (so it
// stops existing at once), then its collections. Dropping a dropped
// generation again succeeds.
func (s *Store) DropGeneration(ctx context.Context, gen int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	active, err := s.activeGeneration(ctx)
	if err != nil {
		return fmt.Errorf("mongostore: drop generation: %w", err)
	}
	if gen == active {
		return fmt.Errorf("mongostore: drop generation: generation %d is the active one", gen)
	}
	res, err := s.db.Collection(collCheckpoints).DeleteOne(ctx, bson.D{{Key: "_id", Value: gen}})
	if err != nil {
		return fmt.Errorf("mongostore: drop generation: %w", err)
	}
	if res.DeletedCount == 0 {
		// Dropped already (perhaps half-way: drop what is left) or never
		// created.
		var m struct {
			Last int `bson:"last"`
		}
		if err := s.db.Collection(collCounters).FindOne(ctx, bson.D{{Key: "_id", Value: counterGeneration}}).Decode(&m); err != nil {
			return fmt.Errorf("mongostore: drop generation: %w", err)
		}
		if gen < 1 || gen > m.Last {
			return fmt.Errorf("mongostore: drop generation: generation %d was never created", gen)
		}
	}
	for _, model := range []string{collApplications, collHistory, collDailyStats, collFunnel} {
		if err := s.coll(model, gen).Drop(ctx); err != nil {
			return fmt.Errorf("mongostore: drop generation: %w", err)
		}
	}
	return nil
}

// Server error codes.
const (
	codeNamespaceExists     = 48
	codeCommandNotFound     = 59
	codeCommandNotSupported = 115
	codeNotImplemented      = 238
)

func hasCode(err error, codes ...int) bool {
	var se mongo.ServerError
	if !errors.As(err, &se) {
		return false
	}
	for _, c := range codes {
		if se.HasErrorCode(c) {
			return true
		}
	}
	return false
}
