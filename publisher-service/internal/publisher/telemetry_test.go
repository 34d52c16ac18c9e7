package publisher_test

import (
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/platform/health"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
	"github.com/loanflow/loans/platform/telemetry"
	"github.com/loanflow/loans/platform/telemetry/telemetrytest"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
	"github.com/loanflow/loans/publisher-service/internal/publishertest"
)

// serveMetrics serves p's metrics and readiness on an admin listener, as
// the service does, and returns its address.
func serveMetrics(t *testing.T, p *publisher.Publisher) string {
	t.Helper()
	admin, err := telemetry.ServeProcess("127.0.0.1:0", health.Config{Interval: 10 * time.Millisecond, Timeout: time.Second, Logger: quiet},
		p.Checks(), p.Collectors()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Stop)
	return admin.Addr()
}

// The counter counts the events the broker confirmed, once each; the lag
// is 0 once everything received is confirmed, and while the broker refuses
// the messages (nacks them) the events received stay counted.
func TestPublisher_Metrics(t *testing.T) {
	e := newEnv(t)
	g := eventgen.New(41, t0)
	publishertest.AppendLifecycles(t, e.client, g, 10)
	addr := serveMetrics(t, start(t, e.config(t)).p)

	caughtUp := func(events int) func() (bool, string) {
		return func() (bool, string) {
			m := telemetrytest.Scrape(t, addr)
			return m["loans_publisher_events_total"] == float64(events) && m["loans_publisher_lag_events"] == 0 &&
					m[`loans_ready{check="broker"}`] == 1 && m[`loans_ready{check="eventstore"}`] == 1,
				fmt.Sprintf("events_total %v (want %d), lag_events %v, ready broker %v, eventstore %v", m["loans_publisher_events_total"], events,
					m["loans_publisher_lag_events"], m[`loans_ready{check="broker"}`], m[`loans_ready{check="eventstore"}`])
		}
	}
	want := publishertest.LoanEvents(t, e.client)
	e.queue.WaitFor(t, want, wait)
	waitFor(t, caughtUp(len(want)))

	// A queue that refuses every message: the broker nacks each publish.
	blocker := rabbittest.Name("publisher-test-blocker")
	rabbittest.DeleteAtEnd(t, e.url, []string{blocker}, nil)
	ch := rabbittest.Channel(t, e.url)
	if _, err := ch.QueueDeclare(blocker, false, false, false, false, amqp.Table{"x-max-length": int32(0), "x-overflow": "reject-publish"}); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(blocker, publishertest.BindingKey, e.exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	publishertest.AppendLifecycles(t, e.client, g, 2)
	waitFor(t, func() (bool, string) {
		m := telemetrytest.Scrape(t, addr)
		return m["loans_publisher_lag_events"] >= 1 && m["loans_publisher_events_total"] == float64(len(want)),
			fmt.Sprintf("lag_events %v, events_total %v (want %d) while the broker nacks", m["loans_publisher_lag_events"],
				m["loans_publisher_events_total"], len(want))
	})

	if _, err := ch.QueueDelete(blocker, false, false, false); err != nil {
		t.Fatal(err)
	}
	want = publishertest.LoanEvents(t, e.client)
	e.queue.WaitFor(t, want, wait)
	waitFor(t, caughtUp(len(want)))
}

func waitFor(t *testing.T, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, wait, 10*time.Millisecond, cond)
}
