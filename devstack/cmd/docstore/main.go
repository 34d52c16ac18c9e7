// Command docstore runs FerretDB v1 in-process on its SQLite backend, a
// server that speaks the MongoDB wire protocol:
//
//	go run ./devstack/cmd/docstore -addr 127.0.0.1:27017 -data DIR
//
// It is for trying the MongoDB read-model path and mongosh locally on small
// data. It is not a MongoDB substitute: every lookup scans the whole
// collection, and there are no transactions and no views. Production runs
// MongoDB.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/loanflow/loans/devstack/docstore"
)

const note = "for trying the MongoDB path and mongosh locally on small data; " +
	"not a MongoDB substitute: full scans on every lookup, no transactions, no views"

func main() {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "docstore:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("docstore", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: docstore -addr 127.0.0.1:27017 -data DIR\n\n"+
			"Runs FerretDB v1 (SQLite backend) in-process: a MongoDB wire-protocol server\n"+
			"for trying the MongoDB path and mongosh locally on small data.\n\n"+
			"It is not a MongoDB substitute: every lookup scans the whole collection\n"+
			"(indexes are kept but not used), and there are no transactions and no views.\n\n")
		fs.PrintDefaults()
	}
	addr := fs.String("addr", "127.0.0.1:27017", "address to listen on")
	dir := fs.String("data", "", "data directory, one SQLite file per database (created if missing)")
	logLevel := fs.String("log-level", "info", "log level of this command: debug, info, warn or error (FerretDB's own logs are always at error)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *dir == "" {
		return errors.New("-data DIR is required")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := docstore.Start(ctx, docstore.Config{Addr: *addr, Dir: *dir, Logger: logger.With("component", "ferretdb")})
	if err != nil {
		return err
	}
	logger.Info("docstore: serving", "uri", srv.URI(), "data", *dir, "note", note)

	<-ctx.Done()
	logger.Info("docstore: shutting down")
	if err := srv.Close(); err != nil {
		return err
	}
	logger.Info("docstore: stopped")
	return nil
}
