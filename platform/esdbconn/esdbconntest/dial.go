package esdbconntest

import (
	"context"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/esdbconn"
)

// Dial connects to an event store as the services do (esdbconn, the
// client's logs dropped); the connection is closed when the test ends, and
// a close that fails fails the test.
func Dial(tb testing.TB, connectionString string) *esdbconn.Conn {
	tb.Helper()
	c, err := esdbconn.Dial(connectionString, nil)
	if err != nil {
		tb.Fatalf("dial the event store: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Close(ctx); err != nil {
			tb.Errorf("close the event store connection: %v", err)
		}
	})
	return c
}
