package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
	"github.com/loanflow/loans/publisher-service/internal/publishertest"
)

// With -admin-addr (here PUBLISHER_ADMIN_ADDR) the service serves the
// probes, pprof and the metrics, which count what the broker confirmed;
// a message carries the traceparent of the command that caused its event.
func TestMain_Admin(t *testing.T) {
	url := rabbittest.URL(t)
	es := eventstoretest.Start(t, eventstore.Config{})
	client := es.Client(t)
	exchange := rabbittest.Name("loans.events-admin")
	queue := publishertest.Bind(t, url, exchange)
	g := eventgen.New(51, time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC))
	publishertest.AppendLifecycles(t, client, g, 10)
	const traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	traced := g.Lifecycle()[0]
	md, err := loanevents.UnmarshalMetadata(traced.Events[0].Metadata)
	if err != nil {
		t.Fatal(err)
	}
	md.TraceParent = traceParent
	if traced.Events[0].Metadata, err = loanevents.MarshalMetadata(md); err != nil {
		t.Fatal(err)
	}
	publishertest.Append(t, client, traced)
	want := publishertest.LoanEvents(t, client)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close() // Main listens there; another process taking it meanwhile would fail the test loudly
	t.Setenv("PUBLISHER_ADMIN_ADDR", addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- Main(ctx, []string{"-amqp-url", url, "-eventstore", es.ConnectionString, "-exchange", exchange, "-log-level", "warn"}, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("exit code %d\n%s", code, stderr.String())
			}
		case <-time.After(wait):
			t.Errorf("the publisher did not stop within %v", wait)
		}
	})
	got := queue.WaitFor(t, want, wait)
	var header any
	for _, d := range got {
		if d.MessageId == traced.Events[0].EventID.String() {
			header = d.Headers[publisher.HeaderTraceParent]
		}
	}
	if header != traceParent {
		t.Errorf("the traced event's message has traceparent %#v, want %s", header, traceParent)
	}

	for _, path := range []string{"/healthz", "/debug/pprof/"} {
		if c, body := get("http://" + addr + path); c != http.StatusOK {
			t.Errorf("%s: %d %s", path, c, body)
		}
	}
	// Readiness follows its checks, run every few seconds.
	poll.Until(t, wait, 10*time.Millisecond, func() (bool, string) {
		c, body := get("http://" + addr + "/readyz")
		return c == http.StatusOK, fmt.Sprintf("/readyz: %d %s", c, body)
	})
	wantSeries := map[string]float64{
		"loans_publisher_events_total":    float64(len(want)),
		"loans_publisher_lag_events":      0,
		`loans_ready{check="broker"}`:     1,
		`loans_ready{check="eventstore"}`: 1,
		`loans_ready{check="process"}`:    1,
	}
	poll.Until(t, wait, 10*time.Millisecond, func() (bool, string) {
		code, body := get("http://" + addr + "/metrics")
		if code != http.StatusOK {
			return false, fmt.Sprintf("/metrics: %d %s", code, body)
		}
		series := map[string]float64{}
		for line := range strings.SplitSeq(body, "\n") {
			if i := strings.LastIndexByte(line, ' '); i > 0 && !strings.HasPrefix(line, "#") {
				if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
					series[line[:i]] = v
				}
			}
		}
		for name, v := range wantSeries {
			if g, ok := series[name]; !ok || g != v {
				return false, fmt.Sprintf("%s = %v (present: %v), want %v", name, g, ok, v)
			}
		}
		// The checkpoint is saved by appends to the event store.
		return series["loans_eventstore_append_duration_seconds_count"] >= 1, "no checkpoint append timed"
	})
}
