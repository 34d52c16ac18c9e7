// Package esdbconn is the one connection to EventStoreDB (or the embedded
// EventStoreDB-compatible store) that every process uses, through the
// official client, with the guarantees the client lacks.
//
// The official client (v4.2.0) serialises calls through one goroutine that
// also rediscovers the server; while it does, a call blocks without looking
// at its context, and once discovery has failed MaxDiscoverAttempts times
// (10, about a second) the client is dead for good: every later call fails
// with "connection closed". Closing it while a call waits inside it is a
// data race (and a panic). So a Conn:
//
//   - lets discovery go on for as long as the server is away: a restart of
//     the store, however long, never leaves the process with a dead client;
//   - bounds every call by its context: the caller gets its deadline's error
//     on time, while the call itself finishes once the server is back;
//   - while the store does not answer (and until it first has), lets one call
//     at a time into the client (a probe) and keeps the others waiting
//     outside, on their own contexts: an outage costs one stuck goroutine,
//     not one per call, and calls whose callers gave up long ago do not
//     flood the store when it comes back;
//   - closes the client only once no call is inside it.
//
// Every call goes through a Conn method or Do: a read's events are all
// received inside the call (receiving can wait on the client's goroutine
// too), so reads return slices. A subscription's Recv never waits on that
// goroutine, so subscriptions are handed out as the client's own.
//
// Errors: ErrUnavailable (wrapped with the client's error, or with
// context.DeadlineExceeded when the deadline passed first) when the store did
// not answer; ErrClosed once Close has begun; context.Canceled when the
// caller cancelled; every other error is the client's, as
// errors.As(err, new(*esdb.Error)) finds it (a wrong expected revision, say).
package esdbconn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// ErrUnavailable: the event store did not answer (it is down, restarting or
// unreachable, or it did not answer before the call's deadline). The call
// may be tried again; an append may or may not have been written.
var ErrUnavailable = errors.New("esdbconn: the event store is unavailable")

// ErrClosed: the connection is closing or closed; nothing was sent.
var ErrClosed = errors.New("esdbconn: the connection is closed")

// ErrCallsStillRunning: Close gave up waiting for the calls inside the
// client; the client is left open (to the process's exit).
var ErrCallsStillRunning = errors.New("esdbconn: event store calls still running: the client is left open")

// answeredWithin is how recent an answer Healthy takes on trust.
const answeredWithin = time.Second

// healthStream is what Healthy reads: any answer, "not found" included,
// shows the store serving reads. A user stream: reading system streams needs
// more rights than a service may have.
const healthStream = "esdbconn-health"

// Conn is a connection to the event store. Its methods may be called
// concurrently.
type Conn struct {
	client *esdb.Client

	// up: the last call that could tell got an answer from the store. While
	// it is false, calls enter the client one at a time, each holding probe.
	up         atomic.Bool
	answeredAt atomic.Int64 // time.Now().UnixNano() of the last answer
	probe      chan struct{}

	mu      sync.Mutex
	calls   int           // calls inside the client
	closing bool          // no new call may enter
	closed  chan struct{} // closed once closing: wakes the calls waiting to probe
	idle    chan struct{} // closed once closing and no call is inside
}

// Dial parses a connection string and prepares the client; it connects on
// first use, so a process may start before its store. logger receives the
// client's own messages (nil: none). The connection string's
// maxDiscoverAttempts is overridden: a Conn never gives up on the store.
func Dial(connectionString string, logger esdb.LoggingFunc) (*Conn, error) {
	cfg, err := esdb.ParseConnectionString(connectionString)
	if err != nil {
		return nil, fmt.Errorf("event store connection string: %w", err)
	}
	if logger == nil {
		logger = esdb.NoopLogging()
	}
	cfg.Logger = logger
	// Effectively unbounded: at the default discovery interval (100 ms)
	// this is years of discovery.
	cfg.MaxDiscoverAttempts = math.MaxInt32
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("event store client: %w", err)
	}
	return &Conn{client: client, probe: make(chan struct{}, 1), closed: make(chan struct{}), idle: make(chan struct{})}, nil
}

// Close refuses new calls (they fail with ErrClosed, and so do calls waiting
// for the store), then closes the client once every call has left it, which
// ends the subscriptions it handed out. If ctx ends first it returns
// ErrCallsStillRunning and leaves the client open: closing it under a call
// would crash the process.
func (c *Conn) Close(ctx context.Context) error {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		close(c.closed)
		if c.calls == 0 {
			close(c.idle)
		}
	}
	c.mu.Unlock()
	select {
	case <-c.idle:
		return c.client.Close()
	case <-ctx.Done():
		return fmt.Errorf("%w (%w)", ErrCallsStillRunning, ctx.Err())
	}
}

// Healthy tells whether the store answers: nil at once if a call got an
// answer within the last second, else the outcome of a one-event read bounded
// by ctx (give it a short deadline: while the store is away the read waits
// until ctx ends, then returns an error wrapping ErrUnavailable). Once Close
// has begun it returns ErrClosed.
func (c *Conn) Healthy(ctx context.Context) error {
	select {
	case <-c.closed:
		return ErrClosed
	default:
	}
	if c.up.Load() && time.Since(time.Unix(0, c.answeredAt.Load())) < answeredWithin {
		return nil
	}
	_, err := c.ReadStream(ctx, healthStream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
	if err == nil || verdictOf(err) == answered {
		return nil
	}
	if errors.Is(err, ErrUnavailable) || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Do runs fn, which uses the client, until fn returns or ctx ends; see the
// package comment for what it guarantees. fn must be done with the client
// when it returns (no iterator may escape it) and should return the client's
// errors wrapped with %w: they tell Conn whether the store answered. When ctx
// ends first, fn goes on in the background until the client lets it go, and
// its result is dropped.
func Do[T any](ctx context.Context, c *Conn, fn func(ctx context.Context, client *esdb.Client) (T, error)) (T, error) {
	var zero T
	probing, err := c.admit(ctx)
	if err != nil {
		return zero, err
	}
	if !c.enter() {
		if probing {
			<-c.probe
		}
		return zero, ErrClosed
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer c.leave()
		v, err := fn(ctx, c.client)
		c.record(err)
		if probing {
			<-c.probe
		}
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if r.err != nil && verdictOf(r.err) == unanswered {
			return r.v, fmt.Errorf("%w: %w", ErrUnavailable, r.err)
		}
		return r.v, r.err
	case <-ctx.Done():
		return zero, notAnswered(ctx)
	}
}

// admit lets a call in: at once while the store answers, else once no other
// call is probing it. probing says the call holds the probe.
func (c *Conn) admit(ctx context.Context) (probing bool, err error) {
	for !c.up.Load() {
		select {
		case c.probe <- struct{}{}:
			if c.up.Load() { // it answered while this call waited
				<-c.probe
				return false, nil
			}
			return true, nil
		case <-ctx.Done():
			return false, notAnswered(ctx)
		case <-c.closed:
			return false, ErrClosed
		}
	}
	return false, nil
}

func (c *Conn) enter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.calls++
	return true
}

func (c *Conn) leave() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls--
	if c.closing && c.calls == 0 {
		close(c.idle)
	}
}

// notAnswered is the error of a call whose context ended before the store
// answered it: a deadline is the store's silence (ErrUnavailable), a
// cancellation is the caller's own doing.
func notAnswered(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: no answer before the deadline: %w", ErrUnavailable, ctx.Err())
	}
	return ctx.Err()
}

type verdict int

const (
	unknown    verdict = iota // the outcome says nothing of the store
	answered                  // the store answered (success or refusal)
	unanswered                // the store could not be reached or did not answer in time
)

func verdictOf(err error) verdict {
	if err == nil {
		return answered
	}
	var esErr *esdb.Error
	if !errors.As(err, &esErr) {
		return unknown
	}
	switch esErr.Code() {
	case esdb.ErrorUnavailable, esdb.ErrorCodeConnectionClosed, esdb.ErrorCodeDeadlineExceeded:
		return unanswered
	case esdb.ErrorCodeUnknown, esdb.ErrorCodeInternalClient:
		return unknown // a cancelled call, or a failure of the client itself
	default:
		return answered // not found, wrong expected version, deleted, denied…
	}
}

func (c *Conn) record(err error) {
	switch verdictOf(err) {
	case answered:
		c.answeredAt.Store(time.Now().UnixNano())
		c.up.Store(true)
	case unanswered:
		c.up.Store(false)
	}
}
