// Package docstoretest starts an embedded FerretDB for tests: on a loopback
// port, with its data in a temporary directory, stopped when the test ends.
package docstoretest

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/loanflow/loans/devstack/docstore"
)

// Start runs a FerretDB on 127.0.0.1:0 until the test ends and returns its
// MongoDB URI. Its data is not synced to disk (nothing outlives the test). FerretDB's errors go to the test's log. Clients closed in a
// t.Cleanup registered after Start are closed before the server stops (else
// it waits 3 seconds for them).
func Start(tb testing.TB) (uri string) {
	tb.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{tb}, nil))
	srv, err := docstore.Start(context.Background(), docstore.Config{Addr: "127.0.0.1:0", Dir: tb.TempDir(), Logger: logger, NoSync: true})
	if err != nil {
		tb.Fatalf("start docstore: %v", err)
	}
	tb.Cleanup(func() {
		if err := srv.Close(); err != nil {
			tb.Errorf("close docstore: %v", err)
		}
	})
	return srv.URI()
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log("ferretdb: " + strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
