// Command publisher-bench measures the integration-event publisher: how
// many loan events a second it publishes with publisher confirms, from a
// cold checkpoint, on this machine.
//
// It starts an embedded event store in memory on a loopback port, appends
// -events loan events in whole application lifecycles (several writers,
// multi-event appends, as the command service makes them), then, -runs
// times:
//
//   - publisher: runs the publisher in this process (package publisher, as
//     publisher-service runs it) into a fresh exchange with one durable
//     queue bound to every loan event, timed from start until the broker
//     has confirmed every event;
//   - raw: the same messages (mapped beforehand, held in memory) published
//     straight to a fresh exchange and queue on one channel with the same
//     confirm window, no event store: the broker's ceiling for them on this
//     machine at this moment (its speed drifts: compare the two, measured
//     side by side, rather than figures across days).
//
// It counts the arrivals in each queue, and deletes the queues and
// exchanges afterwards. Without a broker it says so and exits 0.
//
//	go run ./publisher-service/cmd/publisher-bench [-events 100000] [-runs 3] [-batch 1000] [-amqp-url amqp://guest:guest@127.0.0.1:5672/]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/rabbit"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
)

// goal is the issue's: events published (and confirmed) a second.
const goal = 10_000

// runTimeout bounds one run: the bench is meant to finish well within a
// minute a run.
const runTimeout = 50 * time.Second

type config struct {
	events, runs, batch, inFlight, writers int
	url                                    string
	verbose                                bool
}

func main() {
	var cfg config
	flag.IntVar(&cfg.events, "events", 100_000, "loan events to publish (at least; whole lifecycles are appended)")
	flag.IntVar(&cfg.runs, "runs", 3, "runs from a cold checkpoint (the median is reported)")
	flag.IntVar(&cfg.batch, "batch", publisher.DefaultMaxBatch, "the publisher's largest batch (-batch of publisher-service)")
	flag.IntVar(&cfg.inFlight, "in-flight", 0, "the most events unconfirmed at once (-in-flight of publisher-service; 0: its default, 4 batches)")
	flag.IntVar(&cfg.writers, "writers", 16, "concurrent appenders while filling the event store")
	defaultURL := os.Getenv(rabbit.EnvVar)
	if defaultURL == "" {
		defaultURL = "amqp://guest:guest@127.0.0.1:5672/"
	}
	flag.StringVar(&cfg.url, rabbit.FlagName, defaultURL, "the broker ("+rabbit.EnvVar+")")
	flag.BoolVar(&cfg.verbose, "v", false, "log the publisher's warnings to stderr")
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "publisher-bench:", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	if cfg.events <= 0 || cfg.runs <= 0 || cfg.batch <= 0 || cfg.writers <= 0 {
		return fmt.Errorf("-events, -runs, -batch and -writers must be positive")
	}
	probe, err := rabbit.Dial(cfg.url, "publisher-bench-probe")
	if err != nil {
		fmt.Printf("publisher-bench: SKIPPED: no RabbitMQ answers at %s (%v)\n"+
			"  start one (rabbitmq-server -detached) or pass -amqp-url\n", rabbit.Redact(cfg.url), err)
		return nil
	}
	_ = probe.Close()

	fmt.Printf("publisher-bench: loan events published to RabbitMQ with publisher confirms, from a cold checkpoint\n")
	fmt.Printf("date      %s\nmachine   %s/%s, %d CPUs; %s\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Printf("settings  %d events, %d runs, batches of up to %d, at most %d unconfirmed, broker %s\n",
		cfg.events, cfg.runs, cfg.batch, inFlight(cfg), rabbit.Redact(cfg.url))
	fmt.Printf("          the event store embedded in memory in this process; one durable queue bound with loans.v1.#; persistent messages\n\n")

	quiet := slog.New(slog.DiscardHandler)
	es, err := eventstore.New(eventstore.Config{Logger: quiet})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = es.Serve(lis) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = es.Shutdown(ctx)
	}()
	connString := eventstore.ConnectionString(lis.Addr(), false)

	loanEvents, err := fill(cfg, connString)
	if err != nil {
		return err
	}
	conn, err := esdbconn.Dial(connString, nil)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	logger := quiet
	if cfg.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	msgs, err := messages(conn)
	if err != nil {
		return err
	}
	var rates, raws []float64
	for r := 1; r <= cfg.runs; r++ {
		res, err := measure(cfg, conn, loanEvents, logger)
		if err != nil {
			return fmt.Errorf("run %d: %w", r, err)
		}
		rate := float64(res.published) / res.took.Seconds()
		rates = append(rates, rate)
		fmt.Printf("run %d  publisher  %d events confirmed in %.2f s: %6.0f events/s; %d arrived in the queue; %d broker session(s)\n",
			r, res.published, res.took.Seconds(), rate, res.arrived, res.sessions)
		raw, err := measureRaw(cfg, msgs)
		if err != nil {
			return fmt.Errorf("run %d, raw: %w", r, err)
		}
		rawRate := float64(raw.published) / raw.took.Seconds()
		raws = append(raws, rawRate)
		fmt.Printf("run %d  raw        %d messages confirmed in %.2f s: %6.0f msgs/s; %d arrived in the queue; publisher/raw %.2f\n",
			r, raw.published, raw.took.Seconds(), rawRate, raw.arrived, rate/rawRate)
	}
	median, rawMedian := medianOf(rates), medianOf(raws)
	verdict := "meets"
	if median < goal {
		verdict = "MISSES"
	}
	fmt.Printf("\nmedian    publisher %.0f events/s (min %.0f, max %.0f over %d runs): %s the target of %d events/s\n",
		median, slices.Min(rates), slices.Max(rates), len(rates), verdict, goal)
	fmt.Printf("          raw       %.0f msgs/s (min %.0f, max %.0f): the publisher reaches %.0f%% of the broker's ceiling for these messages\n",
		rawMedian, slices.Min(raws), slices.Max(raws), 100*median/rawMedian)
	return nil
}

func medianOf(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	return s[len(s)/2]
}

// fill appends lifecycles until at least cfg.events loan events are
// stored; it returns how many there are.
func fill(cfg config, connString string) (int, error) {
	started := time.Now()
	lifes := make(chan []eventgen.Append, 1024)
	go func() {
		defer close(lifes)
		g := eventgen.New(1, time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC))
		for n := 0; n < cfg.events; {
			life := g.Lifecycle()
			for _, a := range life {
				n += len(a.Events)
			}
			lifes <- life
		}
	}()
	var (
		wg       sync.WaitGroup
		appended atomic.Int64
		mu       sync.Mutex
		failure  error
	)
	esCfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		return 0, err
	}
	esCfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(esCfg)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	for range cfg.writers {
		wg.Go(func() {
			for life := range lifes {
				for _, a := range life {
					if _, err := client.AppendToStream(context.Background(), a.Stream, esdb.AppendToStreamOptions{ExpectedRevision: a.ExpectedRevision()}, a.Events...); err != nil {
						mu.Lock()
						failure = fmt.Errorf("append to %s: %w", a.Stream, err)
						mu.Unlock()
						for range lifes { // let the generator finish
						}
						return
					}
					appended.Add(int64(len(a.Events)))
				}
			}
		})
	}
	wg.Wait()
	if failure != nil {
		return 0, failure
	}
	n := int(appended.Load())
	took := time.Since(started)
	fmt.Printf("fill      %d loan events appended in %.2f s (%.0f events/s, %d writers)\n", n, took.Seconds(), float64(n)/took.Seconds(), cfg.writers)
	return n, nil
}

type result struct {
	published, arrived int
	sessions           int64
	took               time.Duration
}

// target is a fresh exchange and a durable queue bound to it for every
// loan event, as a consumer binds one.
type target struct {
	exchange, queue string
	admin           *amqp.Connection
	ch              *amqp.Channel
}

func newTarget(cfg config) (*target, error) {
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix)
	t := &target{exchange: "publisher-bench-" + hex.EncodeToString(suffix)}
	t.queue = t.exchange
	var err error
	if t.admin, err = rabbit.Dial(cfg.url, "publisher-bench-admin"); err != nil {
		return nil, err
	}
	if t.ch, err = t.admin.Channel(); err == nil {
		err = t.ch.ExchangeDeclare(t.exchange, amqp.ExchangeTopic, true, false, false, false, nil)
	}
	if err == nil {
		_, err = t.ch.QueueDeclare(t.queue, true, false, false, false, nil)
	}
	if err == nil {
		err = t.ch.QueueBind(t.queue, publisher.RoutingKeyPrefix+"#", t.exchange, false, nil)
	}
	if err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// arrived waits (up to the deadline) until want messages are in the queue;
// it returns how many there are. A confirm means enqueued, so they are
// there at once, or soon.
func (t *target) arrived(want int, deadline time.Time) (int, error) {
	for {
		q, err := t.ch.QueueDeclarePassive(t.queue, true, false, false, false, nil)
		if err != nil || q.Messages >= want || time.Now().After(deadline) {
			return q.Messages, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// close deletes the queue and the exchange.
func (t *target) close() {
	if t.ch != nil {
		if _, err := t.ch.QueueDelete(t.queue, false, false, false); err != nil {
			fmt.Fprintf(os.Stderr, "publisher-bench: delete queue %s: %v\n", t.queue, err)
		}
		if err := t.ch.ExchangeDelete(t.exchange, false, false); err != nil {
			fmt.Fprintf(os.Stderr, "publisher-bench: delete exchange %s: %v\n", t.exchange, err)
		}
	}
	_ = t.admin.Close()
}

// measure runs a publisher from a cold checkpoint into a fresh exchange
// until every loan event is confirmed.
func measure(cfg config, conn *esdbconn.Conn, loanEvents int, logger *slog.Logger) (result, error) {
	var res result
	t, err := newTarget(cfg)
	if err != nil {
		return res, err
	}
	defer t.close()
	p, err := publisher.New(publisher.Config{EventStore: conn, AMQPURL: cfg.url, Exchange: t.exchange, MaxBatch: cfg.batch, MaxInFlight: cfg.inFlight, Logger: logger})
	if err != nil {
		return res, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(runTimeout)
	tick := time.NewTicker(2 * time.Millisecond)
	for p.Stats().Published < int64(loanEvents) && time.Now().Before(deadline) {
		<-tick.C
	}
	tick.Stop()
	res.took = time.Since(started)
	cancel()
	if err := <-done; err != nil {
		return res, err
	}
	st := p.Stats()
	res.published, res.sessions = int(st.Published), st.Sessions
	if st.Published < int64(loanEvents) {
		return res, fmt.Errorf("only %d of %d events confirmed within %v", st.Published, loanEvents, runTimeout)
	}
	res.arrived, err = t.arrived(loanEvents, deadline)
	return res, err
}

// messages reads every loan event of the store and maps it, as the
// publisher does.
func messages(conn *esdbconn.Conn) ([]publisher.Message, error) {
	var out []publisher.Message
	var from esdb.AllPosition = esdb.Start{}
	for {
		page, err := conn.ReadAll(context.Background(), esdb.ReadAllOptions{From: from}, 10_000)
		if err != nil {
			return nil, err
		}
		for i, re := range page {
			e := re.OriginalEvent()
			if i == 0 && len(out) > 0 || !loanevents.IsKnown(e.EventType) {
				continue // the first of a page is the last of the one before
			}
			msg, err := publisher.Map(publisher.RecordedOf(e))
			if err != nil {
				return nil, err
			}
			out = append(out, msg)
		}
		if len(page) < 10_000 {
			return out, nil
		}
		from = page[len(page)-1].OriginalEvent().Position
	}
}

// measureRaw publishes msgs straight to a fresh exchange on one channel
// in confirm mode, with the publisher's window: at most the in-flight
// limit unconfirmed.
func measureRaw(cfg config, msgs []publisher.Message) (result, error) {
	var res result
	t, err := newTarget(cfg)
	if err != nil {
		return res, err
	}
	defer t.close()
	conn, err := rabbit.Dial(cfg.url, "publisher-bench-raw")
	if err != nil {
		return res, err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return res, err
	}
	if err := ch.Confirm(false); err != nil {
		return res, err
	}
	limit := inFlight(cfg)
	window := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	first := 0
	started := time.Now()
	for _, m := range msgs {
		dc, err := ch.PublishWithDeferredConfirm(t.exchange, m.RoutingKey, false, false, m.Publishing)
		if err != nil {
			return res, err
		}
		window = append(window, dc)
		for len(window)-first > limit {
			if !window[first].Wait() {
				return res, fmt.Errorf("nacked")
			}
			first++
		}
	}
	for _, dc := range window[first:] {
		if !dc.Wait() {
			return res, fmt.Errorf("nacked")
		}
	}
	res.took, res.published = time.Since(started), len(msgs)
	res.arrived, err = t.arrived(len(msgs), time.Now().Add(runTimeout))
	return res, err
}

// inFlight is the publisher's MaxInFlight for cfg.
func inFlight(cfg config) int {
	if cfg.inFlight > 0 {
		return max(cfg.inFlight, cfg.batch)
	}
	return publisher.DefaultInFlightBatches * cfg.batch
}
