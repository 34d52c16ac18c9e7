// Package eventstoretest starts an embedded event store for tests: in memory,
// on a loopback port, stopped when the test ends.
package eventstoretest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/eventstore"
)

// Server is a running test event store.
type Server struct {
	*eventstore.Server
	Addr net.Addr
	// ConnectionString is what the official client needs to reach it.
	ConnectionString string
}

// Start runs an event store until the test ends. With cfg.Dir empty it keeps
// everything in memory.
func Start(tb testing.TB, cfg eventstore.Config) *Server {
	tb.Helper()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := eventstore.New(cfg)
	if err != nil {
		tb.Fatalf("start event store: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shut down event store: %v", err)
		}
		if err := <-served; err != nil {
			tb.Errorf("serve event store: %v", err)
		}
	})
	return &Server{Server: srv, Addr: lis.Addr(), ConnectionString: eventstore.ConnectionString(lis.Addr(), cfg.TLS != nil)}
}

// Client connects the official EventStoreDB client to the server; it is
// closed when the test ends.
func (s *Server) Client(tb testing.TB) *esdb.Client {
	tb.Helper()
	return Connect(tb, s.ConnectionString)
}

// Connect connects the official client to a connection string.
func Connect(tb testing.TB, connectionString string) *esdb.Client {
	tb.Helper()
	cfg, err := esdb.ParseConnectionString(connectionString)
	if err != nil {
		tb.Fatalf("parse connection string: %v", err)
	}
	cfg.Logger = esdb.NoopLogging() // the client logs every call at debug level
	client, err := esdb.NewClient(cfg)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(func() { _ = client.Close() })
	return client
}
