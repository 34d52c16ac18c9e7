// Command eventstore runs the embedded EventStoreDB-compatible event store as
// a standalone server:
//
//	go run ./devstack/cmd/eventstore -addr 127.0.0.1:2113 -data DIR
//
// Clients connect with esdb://127.0.0.1:2113?tls=false (or tls=true when
// started with -tls-cert and -tls-key). It is for development, tests, demos
// and single-machine use; production runs EventStoreDB.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/loanflow/loans/devstack/eventstore"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) { // -h: the usage was the answer
			return
		}
		fmt.Fprintln(os.Stderr, "eventstore:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("eventstore", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:2113", "address to listen on")
	dir := fs.String("data", "", "data directory (created if missing)")
	inMemory := fs.Bool("in-memory", false, "keep everything in memory instead of -data (lost on exit)")
	certFile := fs.String("tls-cert", "", "TLS certificate file (PEM); serve TLS when set with -tls-key")
	keyFile := fs.String("tls-key", "", "TLS private key file (PEM)")
	maxAppend := fs.Int("max-append-size", eventstore.DefaultMaxAppendSize, "largest append accepted, in bytes")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long calls in flight may run on SIGTERM")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	if (*dir == "") == !*inMemory {
		return errors.New("give either -data DIR or -in-memory")
	}
	if *dir != "" {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return err
		}
	}
	cfg := eventstore.Config{Dir: *dir, Logger: logger, MaxAppendSize: *maxAppend}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	srv, err := eventstore.New(cfg)
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	logger.Info("event store: serving", "addr", lis.Addr().String(), "data", *dir, "tls", cfg.TLS != nil,
		"connection_string", eventstore.ConnectionString(lis.Addr(), cfg.TLS != nil),
		"note", "embedded EventStoreDB-compatible store for development and single-machine use")

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		_ = srv.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	logger.Info("event store: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-served; err != nil {
		return err
	}
	logger.Info("event store: stopped")
	return nil
}
