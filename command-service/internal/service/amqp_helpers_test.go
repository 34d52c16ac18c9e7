package service_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	amqpport "github.com/loanflow/loans/command-service/internal/ports/amqp"
	"github.com/loanflow/loans/command-service/internal/service"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
)

// broker is the machine's RabbitMQ with a command topology of the test's
// own, and a sender: a channel that publishes commands (confirmed) and a
// reply queue whose answers it collects by correlation ID.
type broker struct {
	t        *testing.T
	url      string
	topology amqpport.Topology
	// consumerName names the service's connection (to have the broker
	// close it).
	consumerName string
	sender       *amqp091.Channel
	replyQueue   string
	// prefetch is the consumer's (32 unless a test sets it).
	prefetch int

	mu      sync.Mutex
	replies map[string][]amqp091.Delivery // by correlation ID
}

// newBroker skips the test loudly when no broker answers.
func newBroker(t *testing.T) *broker {
	t.Helper()
	url := rabbittest.URL(t)
	base := rabbittest.Name("test.loans.commands")
	b := &broker{t: t, url: url, prefetch: 32, consumerName: rabbittest.Name("command-service-test"), replies: map[string][]amqp091.Delivery{},
		topology: amqpport.Topology{Exchange: base, Queue: base, DeadLetterExchange: base + ".dlx", DeadLetterQueue: base + ".dead"}}
	rabbittest.DeleteAtEnd(t, url, []string{b.topology.Queue, b.topology.DeadLetterQueue},
		[]string{b.topology.Exchange, b.topology.DeadLetterExchange})
	b.sender = rabbittest.Channel(t, url)
	// A sending system may declare the topology itself: declaring is
	// idempotent, so it does not matter who is first.
	commands, err := amqpport.Commands()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.topology.Declare(b.sender, amqpport.Names(commands)); err != nil {
		t.Fatalf("declare: %v", err)
	}
	if err := b.sender.Confirm(false); err != nil {
		t.Fatal(err)
	}
	q, err := b.sender.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatalf("declare the reply queue: %v", err)
	}
	b.replyQueue = q.Name
	replies, err := b.sender.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for d := range replies {
			b.mu.Lock()
			b.replies[d.CorrelationId] = append(b.replies[d.CorrelationId], d)
			b.mu.Unlock()
		}
	}()
	return b
}

// withBroker has the service consume the broker's command queue, trying
// again quickly after a passing failure.
func withBroker(b *broker) option {
	return func(c *service.Config) {
		c.AMQP = amqpport.Config{URL: b.url, Name: b.consumerName, Topology: b.topology, Prefetch: b.prefetch,
			RetryMin: 20 * time.Millisecond, RetryMax: 300 * time.Millisecond}
	}
}

// message is a command as a sending system publishes it.
type message struct {
	key         string
	contentType string
	body        []byte
	messageID   string
	headers     amqp091.Table
	// noReply leaves reply_to empty.
	noReply bool
}

// amqpCommand is a JSON command with a new message ID, sent as user.
func amqpCommand(key string, req proto.Message, user string) message {
	body, err := protojson.Marshal(req)
	if err != nil {
		panic(err)
	}
	return message{key: key, contentType: amqpport.ContentTypeJSON, body: body, messageID: uuid.NewString(),
		headers: amqp091.Table{amqpport.HeaderAuthorization: bearer(user)}}
}

// send publishes m to the command exchange (confirmed) and returns the
// correlation ID its reply will carry.
func (b *broker) send(m message) string {
	b.t.Helper()
	return b.publish(b.topology.Exchange, m.key, m)
}

// publish publishes m to any exchange under any routing key.
func (b *broker) publish(exchange, key string, m message) string {
	b.t.Helper()
	corr := uuid.NewString()
	p := amqp091.Publishing{ContentType: m.contentType, Body: m.body, MessageId: m.messageID, Headers: m.headers,
		CorrelationId: corr, DeliveryMode: amqp091.Persistent}
	if !m.noReply {
		p.ReplyTo = b.replyQueue
	}
	ctx, cancel := context.WithTimeout(b.t.Context(), 10*time.Second)
	defer cancel()
	confirm, err := b.sender.PublishWithDeferredConfirmWithContext(ctx, exchange, key, true, false, p)
	if err != nil {
		b.t.Fatalf("publish %s: %v", key, err)
	}
	if ok, err := confirm.WaitContext(ctx); !ok || err != nil {
		b.t.Fatalf("publish %s: not confirmed (%v)", key, err)
	}
	return corr
}

// reply waits for the answer to the message sent with corr.
func (b *broker) reply(corr string) amqp091.Delivery {
	b.t.Helper()
	var got []amqp091.Delivery
	eventually(b.t, asyncTimeout, func() (bool, string) {
		got = b.repliesTo(corr)
		return len(got) > 0, "no reply to " + corr
	})
	return got[0]
}

func (b *broker) repliesTo(corr string) []amqp091.Delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]amqp091.Delivery(nil), b.replies[corr]...)
}

// replyCount is how many replies arrived, in all.
func (b *broker) replyCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, r := range b.replies {
		n += len(r)
	}
	return n
}

// requireOK fails unless the reply is a success, and decodes it into resp.
func requireOK(t *testing.T, d amqp091.Delivery, resp proto.Message) {
	t.Helper()
	if d.Headers[amqpport.HeaderOutcome] != amqpport.OutcomeOK {
		t.Fatalf("reply %v: %s", d.Headers, d.Body)
	}
	if err := protojson.Unmarshal(d.Body, resp); err != nil {
		t.Fatalf("reply body %s: %v", d.Body, err)
	}
}

// requireError fails unless the reply is an error with this code and reason.
func requireError(t *testing.T, d amqp091.Delivery, code, reason string) {
	t.Helper()
	if d.Headers[amqpport.HeaderOutcome] != amqpport.OutcomeError || d.Headers[amqpport.HeaderErrorCode] != code ||
		d.Headers[amqpport.HeaderErrorReason] != reason {
		t.Fatalf("reply %v: %s; want error %s %s", d.Headers, d.Body, code, reason)
	}
}

// deadLetters takes every message out of the dead-letter queue.
func (b *broker) deadLetters() []amqp091.Delivery {
	b.t.Helper()
	var out []amqp091.Delivery
	for range 10_000 {
		d, ok, err := b.sender.Get(b.topology.DeadLetterQueue, true)
		if err != nil {
			b.t.Fatalf("get from %s: %v", b.topology.DeadLetterQueue, err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
	b.t.Fatal("the dead-letter queue does not empty")
	return nil
}

// awaitDeadLetters waits until the dead-letter queue holds n messages and
// takes them.
func (b *broker) awaitDeadLetters(n int) []amqp091.Delivery {
	b.t.Helper()
	eventually(b.t, asyncTimeout, func() (bool, string) {
		q, err := b.sender.QueueDeclarePassive(b.topology.DeadLetterQueue, true, false, false, false,
			amqp091.Table{amqp091.QueueTypeArg: amqp091.QueueTypeQuorum})
		if err != nil {
			b.t.Fatalf("inspect %s: %v", b.topology.DeadLetterQueue, err)
		}
		return q.Messages >= n, fmt.Sprintf("%d dead letters, want %d", q.Messages, n)
	})
	return b.deadLetters()
}

// queued is how many messages wait in the command queue (not those a
// consumer holds).
func (b *broker) queued() int {
	b.t.Helper()
	q, err := b.sender.QueueDeclarePassive(b.topology.Queue, true, false, false, false, nil)
	if err != nil {
		b.t.Fatalf("inspect %s: %v", b.topology.Queue, err)
	}
	return q.Messages
}
