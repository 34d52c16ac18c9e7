package main

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	amqpport "github.com/loanflow/loans/command-service/internal/ports/amqp"
	"github.com/loanflow/loans/platform/rabbit"
)

// amqpClients are the bench's senders over RabbitMQ: one channel each, as a
// system sending commands would have, answered through RabbitMQ's direct
// reply-to (no reply queue to declare), waiting for each reply before the
// next command (a closed loop, as the gRPC clients).
type amqpClients struct {
	conns    []*amqp091.Connection
	workers  []*amqpWorker
	exchange string
}

type amqpWorker struct {
	ch      *amqp091.Channel
	replies <-chan amqp091.Delivery
}

// newAMQPClients opens n senders, spread over a few connections.
func newAMQPClients(url, exchange string, n int) (*amqpClients, error) {
	c := &amqpClients{exchange: exchange}
	for i := range n {
		if i%16 == 0 {
			conn, err := rabbit.Dial(url, fmt.Sprintf("commands-bench-%d", i/16))
			if err != nil {
				c.close()
				return nil, err
			}
			c.conns = append(c.conns, conn)
		}
		ch, err := c.conns[len(c.conns)-1].Channel()
		if err != nil {
			c.close()
			return nil, err
		}
		replies, err := ch.Consume("amq.rabbitmq.reply-to", "", true, false, false, false, nil)
		if err != nil {
			c.close()
			return nil, err
		}
		c.workers = append(c.workers, &amqpWorker{ch: ch, replies: replies})
	}
	return c, nil
}

func (c *amqpClients) close() {
	for _, conn := range c.conns {
		_ = conn.Close()
	}
}

// call sends one command as worker w and waits for its reply; a refusal is
// an error.
func (c *amqpClients) call(ctx context.Context, w int, key, token string, req proto.Message) error {
	body, err := protojson.Marshal(req)
	if err != nil {
		return err
	}
	worker := c.workers[w]
	corr := uuid.NewString()
	err = worker.ch.PublishWithContext(ctx, c.exchange, key, false, false, amqp091.Publishing{
		ContentType: amqpport.ContentTypeJSON, Body: body, MessageId: uuid.NewString(), CorrelationId: corr,
		ReplyTo: "amq.rabbitmq.reply-to", DeliveryMode: amqp091.Persistent,
		Headers: amqp091.Table{amqpport.HeaderAuthorization: "Bearer " + token},
	})
	if err != nil {
		return err
	}
	timeout := time.NewTimer(30 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case d, ok := <-worker.replies:
			if !ok {
				return fmt.Errorf("%s: the reply channel closed", key)
			}
			if d.CorrelationId != corr {
				continue // a late reply to an earlier call
			}
			if d.Headers[amqpport.HeaderOutcome] != amqpport.OutcomeOK {
				return fmt.Errorf("%s: %v: %s", key, d.Headers[amqpport.HeaderErrorReason], d.Body)
			}
			return nil
		case <-timeout.C:
			return fmt.Errorf("%s: no reply in 30 s", key)
		}
	}
}

// deleteTopology removes the bench's exchange and queues from the broker.
func deleteTopology(url string, t amqpport.Topology) {
	conn, err := rabbit.Dial(url, "commands-bench-cleanup")
	if err != nil {
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return
	}
	_, _ = ch.QueueDelete(t.Queue, false, false, false)
	_, _ = ch.QueueDelete(t.DeadLetterQueue, false, false, false)
	_ = ch.ExchangeDelete(t.Exchange, false, false)
	_ = ch.ExchangeDelete(t.DeadLetterExchange, false, false)
}

// echo is the broker's own ceiling for the bench's pattern: a consumer on a
// quorum queue of the same kind that answers every message at once, with
// no command behind it. The bench's RabbitMQ rate cannot pass it.
type echo struct {
	conn  *amqp091.Connection
	queue string
}

func startEcho(url string, prefetch int) (*echo, error) {
	conn, err := rabbit.Dial(url, "commands-bench-echo")
	if err != nil {
		return nil, err
	}
	e := &echo{conn: conn, queue: fmt.Sprintf("bench.echo-%d", time.Now().UnixNano())}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, err
	}
	if _, err := ch.QueueDeclare(e.queue, true, false, false, false, amqp091.Table{amqp091.QueueTypeArg: amqp091.QueueTypeQuorum}); err != nil {
		conn.Close()
		return nil, err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		conn.Close()
		return nil, err
	}
	deliveries, err := ch.Consume(e.queue, "", false, false, false, false, nil)
	if err != nil {
		conn.Close()
		return nil, err
	}
	replies, err := conn.Channel()
	if err != nil {
		conn.Close()
		return nil, err
	}
	go func() {
		for d := range deliveries {
			go func() {
				_ = replies.PublishWithContext(context.Background(), "", d.ReplyTo, false, false, amqp091.Publishing{
					ContentType: amqpport.ContentTypeJSON, CorrelationId: d.CorrelationId, Body: []byte(`{}`),
					Headers: amqp091.Table{amqpport.HeaderOutcome: amqpport.OutcomeOK}})
				_ = d.Ack(false)
			}()
		}
	}()
	return e, nil
}

func (e *echo) close() {
	if ch, err := e.conn.Channel(); err == nil {
		_, _ = ch.QueueDelete(e.queue, false, false, false)
	}
	_ = e.conn.Close()
}
