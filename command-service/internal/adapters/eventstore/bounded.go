package eventstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/command-service/internal/app/command"
)

// The official client (v4.2.0) serialises calls through one goroutine that
// also rediscovers the server; while it does, a call blocks without looking
// at its context, and if discovery gives up the client is dead for good.
// Closing it while a call waits inside it is a data race (and a panic).
// So Conn (1) lets discovery go on for as long as the server is away, (2)
// bounds every call by its context: a caller gets its deadline's error on
// time, and the call itself finishes once the server is back, and (3) closes
// the client only once no call is inside it.

// Conn is a connection to the event store through the official client.
type Conn struct {
	client *esdb.Client

	mu      sync.Mutex
	calls   int           // calls inside the client
	closing bool          // no new call may enter
	idle    chan struct{} // closed once closing and no call is inside
}

// ErrClosed: the connection is closing.
var ErrClosed = fmt.Errorf("%w: the connection is closing", command.ErrStoreUnavailable)

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

// Dial parses a connection string and prepares the client (it connects on
// first use). logger receives the client's own messages.
func Dial(connectionString string, logger esdb.LoggingFunc) (*Conn, error) {
	cfg, err := esdb.ParseConnectionString(connectionString)
	if err != nil {
		return nil, fmt.Errorf("event store connection string: %w", err)
	}
	cfg.Logger = logger
	// A restart of the event store must not kill the service: keep
	// discovering while it is away, unless the connection string set its
	// own attempt count (the default, 10, is one second).
	if cfg.MaxDiscoverAttempts == 10 {
		cfg.MaxDiscoverAttempts = math.MaxInt32
	}
	client, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("event store client: %w", err)
	}
	return &Conn{client: client, idle: make(chan struct{})}, nil
}

// ErrCallsStillRunning: Close gave up waiting for calls inside the client.
var ErrCallsStillRunning = errors.New("event store calls still running: the client is left open")

// Close refuses new calls, then closes the client once every call has left
// it, or gives up when ctx ends (the client is then left to the process's
// exit).
func (c *Conn) Close(ctx context.Context) error {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
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

// call runs fn, a call of the client, until it returns or ctx ends.
func call[T any](ctx context.Context, c *Conn, fn func(client *esdb.Client) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	if !c.enter() {
		var zero T
		return zero, ErrClosed
	}
	done := make(chan result, 1)
	go func() {
		defer c.leave()
		v, err := fn(c.client)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
