// Package amqp serves the loan commands from RabbitMQ: one more port into
// the same use cases as gRPC and REST. A message is one command (routing key
// = the gRPC method's name, body = its request message), its bearer token in
// the authorization header, its message_id the command's ID. Each message
// goes through the gRPC service's own handler, after the token is verified
// as the gRPC interceptor verifies it, so that validation, authorization,
// idempotency and errors are the API's, not a copy of them.
//
// A message is acknowledged only once its outcome is final: appended (or
// found already appended), or refused. A message that can never succeed is
// answered, dead-lettered with the reason in its headers, and acknowledged;
// one that failed for a passing reason (the event store away) is tried
// again with backoff, and while it is, it holds one of the prefetch slots
// and nothing more. docs/COMMANDS-AMQP.md is the contract for senders.
package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/backoff"
	"github.com/loanflow/loans/platform/rabbit"
	"github.com/loanflow/loans/platform/telemetry"
)

var tracer = telemetry.Tracer("command-service/amqp")

// Config configures a Consumer.
type Config struct {
	// URL is the broker (amqp:// or amqps://).
	URL string
	// Name names the connection to the broker (default "command-service").
	Name     string
	Topology Topology
	// Prefetch is how many messages are handled at once (default 64).
	Prefetch int
	// Service handles the commands: the gRPC service's implementation.
	Service any
	// Authenticator verifies each message's bearer token (required).
	Authenticator auth.Authenticator
	Logger        *slog.Logger
	// MaxMessageBytes bounds a message's body (default 1 MiB, as gRPC's).
	MaxMessageBytes int
	// CommandTimeout bounds one attempt at a command (default 10 s).
	CommandTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts after a
	// passing failure (defaults 100 ms and 5 s).
	RetryMin, RetryMax time.Duration
	// FailedAttempts is how often an unexpected error is tried before the
	// message is dead-lettered (default 5).
	FailedAttempts int
	// Observe, when set, hears what became of each message (metrics):
	// command is the routing key when it names a command, else "unknown";
	// outcome is one of the Outcome… constants.
	Observe func(command, outcome string)
}

// Outcomes of a message, as Config.Observe hears them.
const (
	OutcomeDecided  = "ok"       // decided (appended, or a repeat), answered, acknowledged
	OutcomeRefused  = "refused"  // refused, answered, dead-lettered
	OutcomeFailed   = "failed"   // failed unexpectedly FailedAttempts times, dead-lettered
	OutcomeRetried  = "retried"  // an attempt failed for a passing reason; tried again
	OutcomeRequeued = "requeued" // given back to the queue (stop, or the answer could not be sent)
)

func (c *Config) setDefaults() error {
	if c.URL == "" {
		return errors.New("amqp: a broker URL is required")
	}
	if err := rabbit.Validate(c.URL); err != nil {
		return err
	}
	if c.Service == nil || c.Authenticator == nil {
		return errors.New("amqp: a service and an authenticator are required")
	}
	if c.Name == "" {
		c.Name = "command-service"
	}
	c.Topology = c.Topology.WithDefaults()
	if c.Prefetch <= 0 {
		c.Prefetch = 64
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = 10 * time.Second
	}
	if c.RetryMin <= 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax < c.RetryMin {
		c.RetryMax = max(5*time.Second, c.RetryMin)
	}
	if c.FailedAttempts <= 0 {
		c.FailedAttempts = 5
	}
	if c.Observe == nil {
		c.Observe = func(string, string) {}
	}
	return nil
}

// Consumer consumes commands until Shutdown.
type Consumer struct {
	cfg      Config
	commands map[string]Command
	log      *slog.Logger

	stop    context.CancelFunc // ends the sessions: no more deliveries
	stopped chan struct{}      // closed when the session loop has returned

	mu   sync.Mutex
	conn *amqp091.Connection // the live connection, closed on a forced stop
	// connected tells whether a session is consuming.
	connected bool
}

// Start declares nothing and blocks on nothing: it connects in the
// background (again after every loss) and consumes until Shutdown. A broker
// that is away at start is waited for.
func Start(cfg Config) (*Consumer, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	commands, err := Commands()
	if err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	c := &Consumer{cfg: cfg, commands: commands, stop: stop, stopped: make(chan struct{}),
		log: cfg.Logger.With("port", "amqp", "queue", cfg.Topology.Queue)}
	go func() {
		defer close(c.stopped)
		_ = rabbit.Reconnect(ctx, rabbit.Config{URL: cfg.URL, Name: cfg.Name, Logger: c.log}, c.session)
	}()
	return c, nil
}

// Connected tells whether the consumer is connected and consuming.
func (c *Consumer) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// Shutdown stops taking messages and lets the ones in hand finish: a
// command being decided is decided, answered and acknowledged; one waiting
// to be tried again goes back to the queue. Once ctx ends, the connection is
// closed and the broker returns whatever is still unacknowledged to the
// queue: nothing is lost either way.
func (c *Consumer) Shutdown(ctx context.Context) error {
	c.stop()
	select {
	case <-c.stopped:
		return nil
	case <-ctx.Done():
	}
	c.mu.Lock()
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.mu.Unlock()
	<-c.stopped
	return fmt.Errorf("amqp consumer: stopped before the messages in hand were finished (the broker requeues them): %w", ctx.Err())
}

// session consumes on one connection until it is lost (ErrConnectionLost)
// or the consumer stops (nil).
func (c *Consumer) session(stopCtx context.Context, conn *amqp091.Connection) error {
	lost := rabbit.Closed(conn)
	consuming, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if err := c.cfg.Topology.Declare(consuming, Names(c.commands)); err != nil {
		return err
	}
	if err := consuming.Qos(c.cfg.Prefetch, 0, false); err != nil {
		return fmt.Errorf("set the prefetch: %w", err)
	}
	// Dead letters go out on a channel in confirm mode: a refused message
	// is acknowledged only after the broker took its dead letter. Replies go
	// out on another, unconfirmed: a reply lost with the broker is recovered
	// by sending the command again with the same message_id (it appends
	// nothing and is answered the same), and waiting for a confirm of each
	// would cost a fifth of the rate.
	deadLetters, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if err := deadLetters.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	replies, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	tag := fmt.Sprintf("%s-%p", c.cfg.Name, conn)
	deliveries, err := consuming.Consume(c.cfg.Topology.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.cfg.Topology.Queue, err)
	}
	c.setConnection(conn)
	defer c.setConnection(nil)
	c.log.Info("amqp: consuming", "exchange", c.cfg.Topology.Exchange, "prefetch", c.cfg.Prefetch)

	// sessionCtx ends when the connection is lost or the consumer stops:
	// messages waiting to be tried again give up their slot then.
	sessionCtx, endSession := context.WithCancel(stopCtx)
	defer endSession()
	var inHand sync.WaitGroup
	h := handler{Consumer: c, replies: replies, deadLetters: deadLetters}
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				endSession()
				inHand.Wait()
				return rabbit.ErrConnectionLost
			}
			inHand.Go(func() { h.handle(sessionCtx, d) })
		case reason := <-lost:
			endSession()
			inHand.Wait()
			return fmt.Errorf("%w: %v", rabbit.ErrConnectionLost, reason)
		case <-stopCtx.Done():
			// No new deliveries; those already sent to this consumer but not
			// started go back to the queue at once.
			if err := consuming.Cancel(tag, false); err != nil {
				c.log.Warn("amqp: cancel the consumer", "error", err)
			}
			for d := range deliveries {
				_ = d.Nack(false, true)
			}
			inHand.Wait()
			return nil
		}
	}
}

func (c *Consumer) setConnection(conn *amqp091.Connection) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn, c.connected = conn, conn != nil
}

// handler handles the deliveries of one session.
type handler struct {
	*Consumer
	replies, deadLetters *amqp091.Channel
}

// handle takes one delivery to its final outcome, or returns it to the
// queue when the session ends first.
func (h handler) handle(ctx context.Context, d amqp091.Delivery) {
	log := h.log.With("command", d.RoutingKey, "message_id", d.MessageId)
	name := d.RoutingKey
	if _, known := h.commands[name]; !known {
		name = "unknown"
	}
	msg, err := decode(h.commands, d, h.cfg.MaxMessageBytes)
	if err != nil {
		h.cfg.Observe(name, h.finish(ctx, log, d, nil, err))
		return
	}
	var (
		resp     proto.Message
		attempts int
		failures int
		wait     = h.cfg.RetryMin
	)
	principal, haveCaller := auth.Principal{}, false
	for {
		attempts++
		if !haveCaller {
			// The token is checked once: a command waiting for the store to
			// come back is not refused because its token expired meanwhile.
			principal, err = auth.AuthenticateHeader(ctx, h.cfg.Authenticator, msg.authorization)
			haveCaller = err == nil
		}
		if haveCaller {
			resp, err = h.execute(ctx, msg, principal)
		}
		switch classify(err) {
		case done, refused:
			h.cfg.Observe(name, h.finish(ctx, log, d, resp, err))
			return
		case failed:
			failures++
			if failures >= h.cfg.FailedAttempts {
				log.Error("amqp: command failed; dead-lettering it", "error", err, "attempts", attempts)
				outcome := h.finish(ctx, log, d, nil, apiserver.Refusal(codes.Internal, ReasonInternal,
					fmt.Sprintf("the command failed %d times: %v", failures, err), nil))
				if outcome == OutcomeRefused {
					outcome = OutcomeFailed
				}
				h.cfg.Observe(name, outcome)
				return
			}
		}
		h.cfg.Observe(name, OutcomeRetried)
		log.Warn("amqp: command not decided; trying again", "error", err, "attempt", attempts, "backoff", wait)
		if !backoff.Sleep(ctx, backoff.Jitter(wait)) {
			// Stopping, or the connection is gone: back to the queue (a lost
			// connection returns it anyway).
			_ = d.Nack(false, true)
			h.cfg.Observe(name, OutcomeRequeued)
			return
		}
		wait = min(2*wait, h.cfg.RetryMax)
	}
}

// execute runs the command through the gRPC service's own handler, as the
// verified caller, with the message's correlation and trace context as the
// gRPC metadata would carry them. One attempt is bounded by CommandTimeout
// and not cut short by a stop: a command being decided is decided.
func (h handler) execute(ctx context.Context, msg decoded, caller auth.Principal) (proto.Message, error) {
	attemptCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.cfg.CommandTimeout)
	defer cancel()
	// A consumer span, continuing the sender's trace when the message
	// carries a traceparent header; the command's events record it.
	attemptCtx, span := tracer.Start(telemetry.ContextWithTraceParent(attemptCtx, msg.traceParent), "amqp "+msg.command.Name,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "rabbitmq"), attribute.String("messaging.operation", "process")))
	defer span.End()
	md := metadata.MD{}
	if msg.correlationID != "" {
		md.Set(HeaderCorrelationID, msg.correlationID)
	}
	attemptCtx = auth.NewContext(metadata.NewIncomingContext(attemptCtx, md), caller)
	out, err := msg.command.method.Handler(h.cfg.Service, attemptCtx, func(in any) error {
		proto.Merge(in.(proto.Message), msg.request)
		return nil
	}, nil)
	if err != nil {
		span.SetStatus(otelcodes.Error, apiserver.Reason(err))
		return nil, err
	}
	return out.(proto.Message), nil
}

// finish answers the message (when it asks for an answer), dead-letters it
// when it was refused, and acknowledges it. When the answer or the dead
// letter cannot be published, the message is not acknowledged: it comes
// back (its command appends nothing the second time).
func (h handler) finish(ctx context.Context, log *slog.Logger, d amqp091.Delivery, resp proto.Message, outcome error) string {
	if d.ReplyTo != "" {
		p, err := reply(d, resp, outcome)
		if err == nil {
			err = h.replies.PublishWithContext(context.WithoutCancel(ctx), "", d.ReplyTo, false, false, p)
		}
		if err != nil {
			log.Warn("amqp: could not answer; the message will be delivered again", "error", err, "reply_to", d.ReplyTo)
			_ = d.Nack(false, true)
			return OutcomeRequeued
		}
	}
	if outcome != nil {
		if err := h.deadLetter(ctx, d.RoutingKey, deadLetter(d, outcome, h.cfg.Name)); err != nil {
			log.Warn("amqp: could not dead-letter; the message will be delivered again", "error", err)
			_ = d.Nack(false, true)
			return OutcomeRequeued
		}
		log.Info("amqp: command refused and dead-lettered", "code", apiserver.CodeName(status.Code(outcome)), "reason", apiserver.Reason(outcome))
	}
	if err := d.Ack(false); err != nil {
		log.Warn("amqp: acknowledge", "error", err)
	}
	if outcome != nil {
		return OutcomeRefused
	}
	return OutcomeDecided
}

// deadLetter publishes a dead letter and waits for the broker's confirm
// (bounded: a broker that does not confirm is treated as gone).
func (h handler) deadLetter(ctx context.Context, key string, p amqp091.Publishing) error {
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	confirm, err := h.deadLetters.PublishWithDeferredConfirmWithContext(pubCtx, h.cfg.Topology.DeadLetterExchange, key, false, false, p)
	if err != nil {
		return err
	}
	ok, err := confirm.WaitContext(pubCtx)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("the broker refused the message (nack)")
	}
	return nil
}
