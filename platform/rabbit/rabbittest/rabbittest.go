// Package rabbittest gives tests the RabbitMQ broker running beside them
// (127.0.0.1:5672 on these machines and in CI), names of their own on it,
// and faults: connections closed by the broker itself.
//
// A test that needs the broker calls URL first: where none answers, the test
// is skipped with a message that says so loudly (make test says it too).
package rabbittest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/platform/rabbit"
)

// DefaultURL is the broker on these machines; AMQP_TEST_URL overrides it.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// URL is the broker's URL, or skips the test loudly when none answers.
func URL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("AMQP_TEST_URL")
	if u == "" {
		u = DefaultURL
	}
	parsed, err := amqp.ParseURI(u)
	if err != nil {
		tb.Fatalf("rabbittest: AMQP_TEST_URL: %v", err)
	}
	if !isLoopback(parsed.Host) {
		tb.Fatalf("rabbittest: tests only talk to a broker on a loopback address, not %s", parsed.Host)
	}
	conn, err := rabbit.Dial(u, "rabbittest-probe")
	if err != nil {
		tb.Skipf("SKIPPED: no RabbitMQ answers at %s (%v): start one (rabbitmq-server -detached) or set AMQP_TEST_URL", rabbit.Redact(u), err)
	}
	_ = conn.Close()
	return u
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name is a name no other test run uses, for the test's exchanges, queues
// and connections: base followed by a random suffix.
func Name(base string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return base + "-" + hex.EncodeToString(b)
}

// Dial connects for the test and closes the connection when it ends.
func Dial(tb testing.TB, u string) *amqp.Connection {
	tb.Helper()
	conn, err := rabbit.Dial(u, Name("rabbittest"))
	if err != nil {
		tb.Fatalf("rabbittest: %v", err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Channel opens a channel on a connection of the test's own.
func Channel(tb testing.TB, u string) *amqp.Channel {
	tb.Helper()
	ch, err := Dial(tb, u).Channel()
	if err != nil {
		tb.Fatalf("rabbittest: channel: %v", err)
	}
	return ch
}

// DeleteAtEnd deletes the queues and exchanges when the test ends (the
// broker outlives the test; durable names would otherwise pile up).
func DeleteAtEnd(tb testing.TB, u string, queues, exchanges []string) {
	tb.Helper()
	tb.Cleanup(func() {
		conn, err := rabbit.Dial(u, "rabbittest-cleanup")
		if err != nil {
			tb.Logf("rabbittest: cleanup: %v", err)
			return
		}
		defer conn.Close()
		for _, q := range queues {
			if ch, err := conn.Channel(); err == nil {
				if _, err := ch.QueueDelete(q, false, false, false); err != nil {
					tb.Logf("rabbittest: delete queue %s: %v", q, err)
				}
				_ = ch.Close()
			}
		}
		for _, x := range exchanges {
			if ch, err := conn.Channel(); err == nil {
				if err := ch.ExchangeDelete(x, false, false); err != nil {
					tb.Logf("rabbittest: delete exchange %s: %v", x, err)
				}
				_ = ch.Close()
			}
		}
	})
}

// Rabbitmqctl is the broker's own control tool, or skips the test loudly
// when this machine has none it may use (the broker elsewhere, or no rights
// on its Erlang cookie).
func Rabbitmqctl(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		tb.Skip("SKIPPED: rabbitmqctl is not on PATH: the broker cannot be asked to close connections from here")
	}
	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, path, "-q", "status").CombinedOutput(); err != nil {
		tb.Skipf("SKIPPED: rabbitmqctl cannot reach the broker (%v): %s", err, strings.TrimSpace(string(out)))
	}
	return path
}

// CloseConnections has the broker close every client connection whose name
// starts with prefix, as `rabbitmqctl close_all_connections` does to all of
// them (this only touches the test's own), and returns how many it closed.
func CloseConnections(tb testing.TB, prefix string) int {
	tb.Helper()
	ctl := Rabbitmqctl(tb)
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, ctl, "-q", "list_connections", "pid", "client_properties", "--no-table-headers").Output()
	if err != nil {
		tb.Fatalf("rabbittest: rabbitmqctl list_connections: %v", err)
	}
	closed := 0
	for line := range strings.SplitSeq(string(out), "\n") {
		pid, props, ok := strings.Cut(strings.TrimSpace(line), "\t")
		// rabbitmqctl prints the name as {"connection_name","name"} (older
		// brokers: {"connection_name",longstr,<<"name">>}).
		if !ok || !(strings.Contains(props, `{"connection_name","`+prefix) || strings.Contains(props, `{"connection_name",longstr,<<"`+prefix)) {
			continue
		}
		if out, err := exec.CommandContext(ctx, ctl, "-q", "close_connection", pid, "closed by a test").CombinedOutput(); err != nil {
			tb.Logf("rabbittest: close_connection %s: %v: %s", pid, err, out)
			continue
		}
		closed++
	}
	return closed
}
