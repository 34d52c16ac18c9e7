package rabbit_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/rabbit"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
)

func TestReconnect_AfterTheBrokerClosedTheConnection(t *testing.T) {
	u := rabbittest.URL(t)
	name := rabbittest.Name("reconnect")
	var sessions atomic.Int32
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- rabbit.Reconnect(ctx, rabbit.Config{URL: u, Name: name, MinBackoff: 10 * time.Millisecond},
			func(ctx context.Context, conn *amqp.Connection) error {
				sessions.Add(1)
				select {
				case <-rabbit.Closed(conn):
					return rabbit.ErrConnectionLost
				case <-ctx.Done():
					return nil
				}
			})
	}()
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() (bool, string) { return sessions.Load() == 1, "no session started" })
	poll.Until(t, 30*time.Second, 100*time.Millisecond, func() (bool, string) {
		return rabbittest.CloseConnections(t, name) == 1, "the broker does not list the connection yet"
	})
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() (bool, string) {
		return sessions.Load() == 2, "no second session after the broker closed the first connection"
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Reconnect after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Reconnect did not return after its context ended")
	}
}

func TestReconnect_RetriesABrokerThatDoesNotAnswer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	// Nothing listens on port 1 of the loopback address.
	err := rabbit.Reconnect(ctx, rabbit.Config{URL: "amqp://guest:guest@127.0.0.1:1/", Name: "nobody", MinBackoff: 5 * time.Millisecond},
		func(context.Context, *amqp.Connection) error { t.Error("a session ran without a broker"); return nil })
	if err != nil {
		t.Fatalf("Reconnect returned %v when its context ended; want nil", err)
	}
}

func TestRedact(t *testing.T) {
	got := rabbit.Redact("amqp://user:s3cret@broker.internal:5672/loans")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "broker.internal") {
		t.Fatalf("Redact = %q", got)
	}
	if err := rabbit.Validate("http://nope"); err == nil {
		t.Fatal("Validate accepted an http URL")
	}
	if err := rabbit.Validate("amqps://u:p@h:5671/v"); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}
