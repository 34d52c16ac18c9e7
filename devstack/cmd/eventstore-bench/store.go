package main

// The event store figures: the real server on a loopback port with its data
// on disk, driven by the official client.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
)

const eventType = "LoanApplicationSubmitted"

// makePayload is a JSON document of about size bytes, distinct per seq.
func makePayload(seq uint64, size int) []byte {
	b := make([]byte, 0, max(size, 128))
	b = append(b, `{"loanId":"L-`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, `","borrowerId":"B-`...)
	b = strconv.AppendUint(b, seq*7919%1_000_003, 10)
	b = append(b, `","amount":`...)
	b = strconv.AppendUint(b, 1000+seq%50_000*10, 10)
	b = append(b, `,"currency":"EUR","status":"submitted","note":"`...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// store is a running event store with one official client connected.
type store struct {
	srv    *eventstore.Server
	addr   net.Addr
	dir    string
	served chan error
	client *esdb.Client

	written atomic.Uint64 // events acknowledged so far
}

func startStore(dir string, logger *slog.Logger) (*store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	srv, err := eventstore.New(eventstore.Config{Dir: dir, Logger: logger})
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = srv.Shutdown(context.Background())
		return nil, err
	}
	s := &store{srv: srv, addr: lis.Addr(), dir: dir, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(lis) }()
	cfg, err := esdb.ParseConnectionString(eventstore.ConnectionString(lis.Addr(), false))
	if err != nil {
		_ = s.stop()
		return nil, err
	}
	cfg.Logger = esdb.NoopLogging() // the client logs every call at debug level
	if s.client, err = esdb.NewClient(cfg); err != nil {
		_ = s.stop()
		return nil, err
	}
	return s, nil
}

func (s *store) stop() error {
	if s.client != nil {
		_ = s.client.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	return errors.Join(err, <-s.served)
}

// diskBytes is the size of the data directory.
func (s *store) diskBytes() int64 {
	var total int64
	_ = filepath.WalkDir(s.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				total += info.Size()
			}
		}
		return nil
	})
	return total
}

func newEvent(seq uint64, payloadSize int) esdb.EventData {
	return esdb.EventData{EventID: uuid.New(), EventType: eventType, ContentType: esdb.ContentTypeJson, Data: makePayload(seq, payloadSize)}
}

// expectation is what each append expects of its stream.
func expectation(exact bool, appended uint64) esdb.ExpectedRevision {
	switch {
	case !exact:
		return esdb.Any{}
	case appended == 0:
		return esdb.NoStream{}
	}
	return esdb.StreamRevision{Value: appended - 1}
}

// appendRun appends one event per call from `writers` goroutines for d, each
// to a stream of its own, and checks that every append landed where it had
// to: the stream's revision after the n-th append is n-1.
func (s *store) appendRun(ctx context.Context, name string, writers int, d time.Duration, payloadSize int, exact bool) (loopResult, error) {
	res, err := closedLoop(ctx, writers, d, func(ctx context.Context, worker, seq int) (int, error) {
		stream := name + "-" + strconv.Itoa(worker)
		wr, err := s.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: expectation(exact, uint64(seq))},
			newEvent(uint64(seq), payloadSize))
		if err != nil {
			return 0, err
		}
		if wr.NextExpectedVersion != uint64(seq) {
			return 0, fmt.Errorf("append %d to %s: stream revision %d, want %d", seq, stream, wr.NextExpectedVersion, seq)
		}
		return 1, nil
	})
	s.written.Add(uint64(res.events))
	return res, err
}

// fillRun appends `batches` appends of batch events each, shared among
// `writers` goroutines each appending to its own stream; perStream carries
// each stream's count of events across runs.
func (s *store) fillRun(ctx context.Context, writers, batches, batch, payloadSize int, exact bool, perStream []uint64) (loopResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		res      loopResult
	)
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := "fill-" + strconv.Itoa(w)
			lat := make(latencies, 0, batches/writers+1)
			events := 0
			for int(next.Add(1)) <= batches {
				evs := make([]esdb.EventData, batch)
				for i := range evs {
					evs[i] = newEvent(perStream[w]+uint64(i), payloadSize)
				}
				t0 := time.Now()
				wr, err := s.client.AppendToStream(ctx, stream,
					esdb.AppendToStreamOptions{ExpectedRevision: expectation(exact, perStream[w])}, evs...)
				if err == nil && wr.NextExpectedVersion != perStream[w]+uint64(batch)-1 {
					err = fmt.Errorf("stream revision %d, want %d", wr.NextExpectedVersion, perStream[w]+uint64(batch)-1)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("fill append to %s: %w", stream, err)
					}
					mu.Unlock()
					cancel()
					break
				}
				lat = append(lat, time.Since(t0))
				perStream[w] += uint64(batch)
				events += batch
			}
			mu.Lock()
			res.calls += len(lat)
			res.events += events
			res.lat = append(res.lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	s.written.Add(uint64(res.events))
	return res, firstErr
}

// readAllRun reads $all forwards from the start with the official client and
// checks that it saw every event written, in increasing position order.
func (s *store) readAllRun(ctx context.Context, want, head uint64) (uint64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	rs, err := s.client.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Forwards}, math.MaxUint64)
	if err != nil {
		return 0, 0, err
	}
	defer rs.Close()
	var n, last uint64
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return n, time.Since(start), fmt.Errorf("read $all after %d events: %w", n, err)
		}
		if e.Event == nil {
			return n, time.Since(start), fmt.Errorf("read $all: event %d is empty", n)
		}
		pos := e.Event.Position.Commit
		if pos <= last {
			return n, time.Since(start), fmt.Errorf("read $all: position %d after %d: not increasing", pos, last)
		}
		last = pos
		if n++; n > want {
			return n, time.Since(start), fmt.Errorf("read $all: more events than the %d written", want)
		}
	}
	elapsed := time.Since(start)
	if n != want || last != head {
		return n, elapsed, fmt.Errorf("read $all: got %d events ending at position %d, want %d ending at %d", n, last, want, head)
	}
	return n, elapsed, nil
}

// subscribeRun follows $all from the start with a catch-up subscription until
// it has delivered the last event, checking the same as readAllRun, and that
// it does not claim to be caught up before then.
func (s *store) subscribeRun(ctx context.Context, want, head uint64) (uint64, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	start := time.Now()
	sub, err := s.client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}})
	if err != nil {
		return 0, 0, err
	}
	defer sub.Close()
	var n, last uint64
	for n < want {
		ev := sub.Recv()
		switch {
		case ev.EventAppeared != nil:
			e := ev.EventAppeared.Event
			if e == nil {
				return n, time.Since(start), fmt.Errorf("subscription: event %d is empty", n)
			}
			if e.Position.Commit <= last {
				return n, time.Since(start), fmt.Errorf("subscription: position %d after %d: not increasing", e.Position.Commit, last)
			}
			last = e.Position.Commit
			n++
		case ev.CaughtUp != nil:
			return n, time.Since(start), fmt.Errorf("subscription: caught up after %d of %d events", n, want)
		case ev.SubscriptionDropped != nil:
			return n, time.Since(start), fmt.Errorf("subscription dropped after %d events: %w", n, ev.SubscriptionDropped.Error)
		}
	}
	elapsed := time.Since(start)
	if last != head {
		return n, elapsed, fmt.Errorf("subscription: %d events ended at position %d, want %d", n, last, head)
	}
	// The next thing it says must be that it has caught up (bounded wait).
	done := make(chan *esdb.SubscriptionEvent, 1)
	go func() { done <- sub.Recv() }()
	select {
	case ev := <-done:
		if ev.CaughtUp == nil {
			return n, elapsed, fmt.Errorf("subscription: after the last event got %+v, want caught up", ev)
		}
	case <-time.After(10 * time.Second):
		return n, elapsed, errors.New("subscription: no caught-up 10 s after the last event")
	}
	return n, elapsed, nil
}

// ensureDir creates dir.
func ensureDir(dir string) error { return os.MkdirAll(dir, 0o755) }
