// Package docstore runs FerretDB v1 (github.com/FerretDB/FerretDB/ferretdb)
// in-process on its SQLite backend: a server that speaks the MongoDB wire
// protocol, for trying the MongoDB read-model adapter and mongosh locally on
// small data.
//
// It is not a MongoDB substitute. Every lookup, _id included, scans the whole
// collection (indexes are created but not used), there are no multi-document
// transactions, no views, no change streams, no $lookup, $facet or $expr, and
// an update command matching as many documents as the backend's connection
// pool (100) deadlocks the server until it restarts. Production runs MongoDB.
package docstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Config configures a server.
type Config struct {
	// Addr is the TCP address to listen on, such as 127.0.0.1:27017
	// (127.0.0.1:0 picks a free port).
	Addr string
	// Dir holds the SQLite files, one per database; it is created if missing.
	// Data and indexes survive a restart.
	Dir string
	// Logger receives FerretDB's own logs at Error level and above only (at
	// Info it logs every connection and every error reply). Nil: discarded.
	Logger *slog.Logger
	// NoSync skips fsync (SQLite's synchronous=OFF): much faster writes for
	// tests, but a machine crash may lose or corrupt the data.
	NoSync bool
}

// Server is a running FerretDB.
type Server struct {
	uri    string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// ferretdb.New sets a package variable of FerretDB's (its version's
// "package" field) without a lock; starting servers one at a time keeps
// parallel tests free of data races.
var startMu sync.Mutex

// Start starts a server; it listens when Start returns. Stop it with Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		return nil, errors.New("docstore: Config.Addr is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("docstore: Config.Dir is required")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("docstore: data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("docstore: data directory: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	// FerretDB wants "file:" + an existing directory + "/".
	u := &url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/", OmitHost: true}
	if cfg.NoSync {
		u.RawQuery = url.Values{"_pragma": {"synchronous(off)"}}.Encode()
	}
	sqliteURL := u.String()

	startMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: cfg.Addr},
		Logger:    slog.New(minLevel{min: slog.LevelError, h: logger.Handler()}),
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	startMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("docstore: start FerretDB: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s := &Server{uri: f.MongoDBURI(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = f.Run(runCtx) // always nil
	}()
	return s, nil
}

// URI is the MongoDB connection string, mongodb://127.0.0.1:PORT/.
func (s *Server) URI() string { return s.uri }

// Close stops listening, waits for the connections to end (clients still
// connected get 3 seconds to disconnect) and closes the SQLite files.
func (s *Server) Close() error {
	s.once.Do(s.cancel)
	<-s.done
	return nil
}

// minLevel passes on only the records at or above min.
type minLevel struct {
	min slog.Level
	h   slog.Handler
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.h.Enabled(ctx, l)
}

func (m minLevel) Handle(ctx context.Context, r slog.Record) error { return m.h.Handle(ctx, r) }

func (m minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{min: m.min, h: m.h.WithAttrs(as)}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{min: m.min, h: m.h.WithGroup(name)}
}
