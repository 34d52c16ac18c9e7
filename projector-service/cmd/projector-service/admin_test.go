package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/projector-service/internal/projection"
	"github.com/loanflow/loans/projector-service/internal/projectortest"
)

// With -admin-addr (here PROJECTOR_ADMIN_ADDR), `run` serves the probes
// (ready once it follows $all live), pprof and the metrics, which count
// what it projected and parked.
func TestMain_Admin(t *testing.T) {
	s := newService(t)
	g := eventgen.New(22, t0)
	projectortest.AppendLifecycles(t, s.client, g, 30, 4)
	md, _ := loanevents.MarshalMetadata(loanevents.Metadata{Actor: "ada", OccurredAt: t0})
	projectortest.Append(t, s.client, eventgen.Append{Stream: "loanRequest-poison", Expected: -1, Events: []esdb.EventData{
		{EventID: uuid.New(), EventType: loanevents.TypeLoanRequested, ContentType: esdb.ContentTypeJson, Data: []byte(`{"amount":`), Metadata: md},
	}})
	projected := 0
	for _, rec := range projectortest.ReadAll(t, s.client) {
		if _, err := projection.Decode(rec); err == nil {
			projected++
		}
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close() // Main listens there; another process taking it meanwhile would fail the test loudly
	t.Setenv("PROJECTOR_ADMIN_ADDR", addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, s.args("run"), io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Errorf("run did not stop within %v", wait)
		}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	poll.Until(t, wait, 10*time.Millisecond, func() (bool, string) {
		select {
		case code := <-done:
			t.Fatalf("run ended with %d before it was ready", code)
		default:
		}
		code, body := get("/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz: %d %s", code, body)
	})
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz answered %d", code)
	}
	if code, _ := get("/debug/pprof/"); code != http.StatusOK {
		t.Fatalf("/debug/pprof/ answered %d", code)
	}
	want := map[string]float64{
		"loans_projector_events_total":                   float64(projected),
		"loans_projector_batch_size_sum":                 float64(projected + 1), // the poison event was in a batch too
		"loans_projector_lag_events":                     0,
		"loans_projector_lag_seconds":                    0,
		`loans_parked_events{component="projector"}`:     1,
		`loans_ready{check="projector"}`:                 1,
		`loans_ready{check="process"}`:                   1,
		"loans_eventstore_append_duration_seconds_count": 0, // the connection's: the projector reads only
	}
	poll.Until(t, wait, 10*time.Millisecond, func() (bool, string) {
		_, body := get("/metrics")
		got := series(body)
		for name, v := range want {
			if g, ok := got[name]; !ok || g != v {
				return false, fmt.Sprintf("%s = %v (present: %v), want %v", name, g, ok, v)
			}
		}
		return got["go_goroutines"] > 0, "no go_goroutines"
	})
}

// series reads an exposition into name{labels} -> value.
func series(body string) map[string]float64 {
	out := map[string]float64{}
	for line := range strings.SplitSeq(body, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
