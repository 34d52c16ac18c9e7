// Package sqlitestore is the embedded read-model store: readmodel.Store on
// one SQLite file (modernc.org/sqlite, pure Go). It is for development,
// tests, demos and single-machine use; production runs MongoDB (package
// mongostore). The projector writes through one *Store, and the query
// service reads through another *Store opened on the same file, in another
// process: SQLite's WAL mode lets readers read while a writer holds its
// transaction.
//
// # Schema
//
// Per generation N (a rebuild projects into a new generation, then
// Activate switches readers over):
//
//	applications_vN  one row per application: id (primary key), amount, duration, status,
//	                 applicant, requested_at ... updated_at, denial_reason, rejection_reason,
//	                 last_position; indexes (requested_at, id), (amount, id), (updated_at, id),
//	                 (status, requested_at, id), (applicant, requested_at, id)
//	history_vN       one row per event: position (primary key), application_id, stream, revision,
//	                 event_type, occurred_at, actor, status_after, payload (the event's JSON),
//	                 command_id, correlation_id, causation_id; index (application_id, position)
//	daily_stats_vN   one row per UTC day with data: day ("2006-01-02", primary key), the counters of
//	                 readmodel.DailyStats, last_position
//	funnel_vN        one row: the counters of readmodel.Funnel, last_position
//
// and once per store: meta (the active generation, the next generation
// number), checkpoint (generation → position; a generation exists while it
// has a row here) and parked (the events the projector could not project).
//
// Times are stored as INTEGER microseconds since the Unix epoch, UTC: the
// store keeps microseconds (a time is truncated to the microsecond) and
// gives times back in UTC. Positions must be below 2^63.
//
// # Views for analysts
//
// Over the active generation (they are recreated by Activate, in the same
// transaction that switches the readers, so they always show what the query
// service shows), with times as ISO 8601 text in UTC ("2026-03-02T09:11:12.345678Z",
// which SQLite's date functions accept) and unset times and reasons NULL:
//
//	v_loan_applications  loan_application_uuid, status, applicant, amount, duration,
//	                     requested_at, submitted_at, review_issued_at, decided_at,
//	                     contract_issued_at, concluded_at, updated_at, denial_reason,
//	                     rejection_reason, last_position
//	v_loan_history       loan_application_uuid, position, stream, revision, event_type,
//	                     occurred_at, actor, status_after, payload (JSON: use json_extract),
//	                     command_id, correlation_id, causation_id
//	v_daily_stats        day and its counters (requested_count, requested_amount, ...,
//	                     decisions, decision_seconds_total)
//	v_funnel             one row: requested, submitted, review_issued, approved, denied,
//	                     contract_issued, signed, rejected
//	v_time_to_decision   per day with decisions: decisions, decision_seconds_total,
//	                     avg_decision_seconds, avg_decision_hours
//
// For example:
//
//	sqlite3 -readonly .data/readmodel.db \
//	  "SELECT day, avg_decision_hours FROM v_time_to_decision ORDER BY day DESC LIMIT 7"
//
// # Writes and durability
//
// Apply runs in one transaction (BEGIN IMMEDIATE): applications upserted
// with ON CONFLICT ... WHERE excluded.last_position > last_position, history
// inserted with INSERT OR IGNORE, statistics contributions grouped per day
// and counted only above the day's (and the funnel's) last_position, and the
// checkpoint moved (never backward). The database runs in WAL mode with
// synchronous=NORMAL: a commit is atomic and survives a crash of the
// process, but a power loss or OS crash may lose the last transactions
// committed since the last WAL sync. That is safe for a read model because
// the checkpoint commits in the same transaction as the writes it covers
// and the WAL is only ever lost from its end: the store comes back
// consistent at an earlier checkpoint and the projector re-projects from
// there (every write is idempotent). WithSynchronousFull trades throughput
// for syncing every commit.
//
// # Speed
//
// The projector's writes go through one connection of their own, whose
// page cache (32 MiB) keeps the hot part of the indexes; reads have a pool
// of their own. New files use 8 KiB pages, and the WAL is copied into the
// database by a checkpoint in the background about once a second while the
// store writes (checkpoint.go) rather than by the writer every 4 MiB, so
// that hot pages are written once for several batches and the writer never
// waits for the copy. Rows are written one a statement, and
// an update leaves the columns events never change out of its SET (see
// stmts.go). docs/BENCHMARKS.md has the figures.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite" // also registers the "sqlite" database/sql driver
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/loanflow/loans/platform/backoff"
	"github.com/loanflow/loans/platform/readmodel"
)

// Store is a readmodel.Store on a SQLite file. It is safe for concurrent use.
//
// It holds two connection pools on the file: one connection for the
// projector (its writes and the reads it folds onto, so that its page cache
// holds what it wrote last) and a pool for the query side's reads.
type Store struct {
	writes, reads *pool

	// writeMu serializes this process's write transactions, so that they
	// queue here instead of in SQLite's busy handler (which sleeps).
	writeMu sync.Mutex

	lastActive atomic.Int64 // the active generation last seen (0: none yet)

	// The background WAL checkpoint (checkpoint.go), started by the first
	// write: a store that only reads has none.
	ckptDSN  string
	ckptOnce sync.Once
	ckpt     *walCheckpointer
}

var _ readmodel.Store = (*Store)(nil)

// pool is a database/sql pool with its prepared statements.
type pool struct {
	db   *sql.DB
	base *baseStmts

	mu    sync.Mutex
	stmts map[int]*genStmts // prepared statements by generation
}

// Defaults of the options.
const (
	// PageSize is the page size of new databases: with 8 KiB pages a batch
	// makes fewer page writes than with SQLite's 4 KiB, while a live event
	// (a commit of about ten pages) writes half what 16 KiB pages would
	// (docs/BENCHMARKS.md). An existing file keeps the page size it has.
	PageSize = 8 << 10
	// WALCheckpointPages (80 MiB) is how big the WAL grew before a commit
	// copied it into the database, before the background checkpoint
	// (checkpoint.go, which checkpoints about as often and keeps it as the
	// unit of the writer's own backstop). Checkpointing less often than
	// SQLite's 1,000 pages writes each hot page (index pages, the day's
	// statistics) once for many batches instead of once a batch.
	WALCheckpointPages = 10000
	// walSizeLimit is what the WAL file is truncated to after a
	// checkpoint resets it, bounding the disk it keeps.
	walSizeLimit = 128 << 20

	// A page cache costs about twice its size in memory: modernc.org/sqlite
	// allocates each 8 KiB page with its header (a little over 8 KiB) in a
	// power-of-two slot of 16 KiB, outside the Go heap. At 32 MiB the
	// projector's catch-up ran as fast as at 64 MiB (the hot index pages
	// fit; the rest is in the OS's cache) and its peak memory was about
	// 100 MiB lower (docs/BENCHMARKS.md).
	defaultWriteCacheKiB = 32 << 10
	defaultReadCacheKiB  = 16 << 10
)

type config struct {
	busyTimeout   time.Duration
	maxConns      int
	syncFull      bool
	writeCacheKiB int
	readCacheKiB  int
}

// Option configures Open.
type Option func(*config)

// WithBusyTimeout sets how long a statement waits for another process's
// lock before failing (default 10s).
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithMaxConns bounds the connections of concurrent reads (default 8; the
// writer has one more of its own).
func WithMaxConns(n int) Option { return func(c *config) { c.maxConns = max(n, 1) } }

// WithSynchronousFull syncs the WAL on every commit (synchronous=FULL):
// nothing committed is lost on power failure, at a cost in write rate.
func WithSynchronousFull() Option { return func(c *config) { c.syncFull = true } }

// WithCacheKiB sets the page cache of the writer's connection and of each
// reading connection (defaults 32 MiB and 16 MiB). A cache holds the pages
// it used, up to its size: the writer's holds the hot part of the indexes.
func WithCacheKiB(writer, reader int) Option {
	return func(c *config) { c.writeCacheKiB, c.readCacheKiB = writer, reader }
}

// Open opens (creating if needed) the read-model database at path, a file
// path; the tables of a new store, with generation 1 active, are created
// idempotently, and the views are brought up to date.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	cfg := config{busyTimeout: 10 * time.Second, maxConns: 8, writeCacheKiB: defaultWriteCacheKiB, readCacheKiB: defaultReadCacheKiB}
	for _, o := range opts {
		o(&cfg)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlitestore: %q: want the path of a database file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	s := &Store{ckptDSN: dsn(abs, cfg, checkpointCacheKiB, WALCheckpointPages)}
	if err := enableWAL(ctx, s.ckptDSN, cfg.busyTimeout); err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	if s.writes, err = openPool(ctx, dsn(abs, cfg, cfg.writeCacheKiB, writerCheckpointPages), 1); err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: writer: %w", path, err)
	}
	if s.reads, err = openPool(ctx, dsn(abs, cfg, cfg.readCacheKiB, WALCheckpointPages), cfg.maxConns); err != nil {
		s.writes.db.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: readers: %w", path, err)
	}
	if err := s.init(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: init: %w", path, err)
	}
	for _, p := range []*pool{s.writes, s.reads} {
		if p.base, err = prepareBase(ctx, p.db); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
		}
	}
	return s, nil
}

// checkpointCacheKiB is the page cache of the checkpoint's connection: a
// checkpoint copies pages from the WAL without caching them.
const checkpointCacheKiB = 1 << 10

// dsn is the driver's connection string for the file at abs.
func dsn(abs string, cfg config, cacheKiB, autocheckpointPages int) string {
	synchronous := "NORMAL"
	if cfg.syncFull {
		synchronous = "FULL"
	}
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(cfg.busyTimeout.Milliseconds()))
	q.Set("_synchronous", synchronous)
	q.Set("_txlock", "immediate") // read-write transactions; reads use read-only (deferred) ones
	// The page size applies to a new file only, before enableWAL writes it.
	q.Add("_pragma", fmt.Sprintf("page_size(%d)", PageSize))
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
	q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", autocheckpointPages))
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walSizeLimit))
	q.Add("_pragma", "temp_store(MEMORY)")
	return "file:" + (&url.URL{Path: filepath.ToSlash(abs)}).EscapedPath() + "?" + q.Encode()
}

// enableWAL puts the file in WAL mode, which lasts in the file, so the
// pools' connections find it set. It is done once, on a connection of its
// own, and retried: two processes opening a new file at once (the projector
// and the query service do) race to convert it, and SQLite answers the
// loser SQLITE_BUSY at once rather than wait on the busy timeout, since
// waiting while holding its shared lock could deadlock.
func enableWAL(ctx context.Context, dsn string, patience time.Duration) error {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(patience)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("journal mode is %q, not wal: the file system may not support WAL's shared memory", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return fmt.Errorf("set WAL mode: %w", err)
		}
		if !backoff.Sleep(ctx, wait) {
			return ctx.Err()
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// openPool opens a pool of up to conns connections.
func openPool(ctx context.Context, dsn string, conns int) (*pool, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(0)
	db.SetConnMaxLifetime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &pool{db: db, stmts: map[int]*genStmts{}}, nil
}

// init creates what a new store needs and brings the views up to date. It
// takes the write lock only if something is missing or out of date, so that
// the query service opens without waiting for the projector's transaction.
func (s *Store) init(ctx context.Context) error {
	current := false
	err := s.reads.read(ctx, func(tx *sql.Tx) error {
		var err error
		current, err = schemaCurrent(ctx, tx)
		return err
	})
	if err != nil || current {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range baseDDL {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO meta (id, active_generation, next_generation) VALUES (1, 1, 2)`)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 { // a new store: generation 1
			if err := createGeneration(ctx, tx, 1); err != nil {
				return err
			}
		}
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT active_generation FROM meta`).Scan(&active); err != nil {
			return err
		}
		// Tables of this version's schema (new indexes included) for every
		// existing generation.
		gens, err := generations(ctx, tx)
		if err != nil {
			return err
		}
		for _, g := range gens {
			for _, q := range generationDDL(g) {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
		}
		return syncViews(ctx, tx, active, false)
	})
}

// schemaCurrent reports whether the store-wide tables, every generation's
// tables and indexes, and the views over the active generation are all as
// this version creates them.
func schemaCurrent(ctx context.Context, tx *sql.Tx) (bool, error) {
	objects := map[string]string{}
	rows, err := tx.QueryContext(ctx, `SELECT name, coalesce(sql, '') FROM sqlite_master`)
	if err != nil {
		return false, err
	}
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			rows.Close()
			return false, err
		}
		objects[name] = def
	}
	if err := rows.Close(); err != nil {
		return false, err
	}
	for _, t := range []string{"meta", "checkpoint", "parked"} {
		if _, ok := objects[t]; !ok {
			return false, nil
		}
	}
	var active int
	switch err := tx.QueryRowContext(ctx, `SELECT active_generation FROM meta`).Scan(&active); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	gens, err := generations(ctx, tx)
	if err != nil {
		return false, err
	}
	for _, g := range gens {
		for _, name := range generationObjects(g) {
			if _, ok := objects[name]; !ok {
				return false, nil
			}
		}
	}
	for name, def := range viewSQL(active) {
		if objects[name] != def {
			return false, nil
		}
	}
	return true, nil
}

// generations lists the existing generations.
func generations(ctx context.Context, tx *sql.Tx) ([]int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT generation FROM checkpoint ORDER BY generation`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var gens []int
	for rows.Next() {
		var g int
		if err := rows.Scan(&g); err != nil {
			return nil, err
		}
		gens = append(gens, g)
	}
	return gens, rows.Err()
}

// syncViews makes the analysts' views show generation gen: all of them
// recreated if force, else only those whose definition differs.
func syncViews(ctx context.Context, tx *sql.Tx, gen int, force bool) error {
	want := viewSQL(gen)
	for _, name := range viewNames {
		if !force {
			var have string
			err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'view' AND name = ?`, name).Scan(&have)
			if err == nil && have == want[name] {
				continue
			}
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DROP VIEW IF EXISTS `+name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, want[name]); err != nil {
			return fmt.Errorf("creating view %s: %w", name, err)
		}
	}
	return nil
}

func createGeneration(ctx context.Context, tx *sql.Tx, gen int) error {
	for _, q := range generationDDL(gen) {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO checkpoint (generation, position) VALUES (?, 0)`, gen)
	return err
}

// Close closes the database.
func (s *Store) Close() error {
	var errs []error
	s.ckptOnce.Do(func() {}) // no checkpointer starts from now on
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
	}
	for _, p := range []*pool{s.writes, s.reads} {
		if p != nil {
			errs = append(errs, p.close())
		}
	}
	return errors.Join(errs...)
}

func (p *pool) close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for g, st := range p.stmts {
		st.close()
		delete(p.stmts, g)
	}
	if p.base != nil {
		p.base.close()
		p.base = nil
	}
	return p.db.Close()
}

// write runs fn in a read-write (BEGIN IMMEDIATE) transaction on the
// writer's connection.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	tx, err := s.writes.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.checkpointer().written()
	return nil
}

// checkpointer starts the background checkpoint on first use; nil once the
// store is closing (or if its connection cannot open: the writer's own
// checkpoint does the work then).
func (s *Store) checkpointer() *walCheckpointer {
	s.ckptOnce.Do(func() {
		db, err := sql.Open("sqlite", s.ckptDSN)
		if err != nil {
			return
		}
		db.SetMaxOpenConns(1)
		s.ckpt = newWALCheckpointer(db)
	})
	return s.ckpt
}

// read runs fn in a read-only (deferred) transaction: one consistent
// snapshot of the database, which no writer blocks (WAL).
func (p *pool) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := p.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// readActive runs fn in a read-only transaction on the active generation,
// with its prepared statements. They are prepared before the transaction
// (preparing inside it could wait for a connection that transactions
// waiting the same way hold), for the generation last seen active; if the
// transaction sees another one, it starts over with that.
func (s *Store) readActive(ctx context.Context, fn func(tx *sql.Tx, g *genStmts, gen int) error) error {
	gen := int(s.lastActive.Load())
	for attempt := 0; ; attempt++ {
		if gen == 0 || attempt > 0 {
			var err error
			if gen, err = s.ActiveGeneration(ctx); err != nil {
				return err
			}
			s.lastActive.Store(int64(gen))
		}
		g, err := s.reads.gen(ctx, gen)
		if err != nil {
			return err
		}
		var changed bool
		err = s.reads.read(ctx, func(tx *sql.Tx) error {
			var active int
			if err := tx.StmtContext(ctx, s.reads.base.active).QueryRowContext(ctx).Scan(&active); err != nil {
				return err
			}
			if active != gen {
				changed = true
				return nil
			}
			return fn(tx, g, gen)
		})
		if !changed || attempt >= 10 {
			return err
		}
	}
}

// Errors of generations.
var (
	errNoGeneration = errors.New("no such generation")
	errActive       = errors.New("the generation is active: activate another one before dropping it")
)
