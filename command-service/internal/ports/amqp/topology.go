package amqp

import (
	"fmt"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Topology names what the consumer declares on the broker. The defaults are
// the contract other systems send to; tests give names of their own.
type Topology struct {
	// Exchange is the durable direct exchange commands are sent to, with
	// the command's name as the routing key.
	Exchange string
	// Queue is the durable quorum queue the consumer reads, bound to
	// Exchange with each command name.
	Queue string
	// DeadLetterExchange and DeadLetterQueue keep the messages that can
	// never succeed, with the reason in their headers.
	DeadLetterExchange, DeadLetterQueue string
}

// DefaultTopology is the contract: loans.commands, loans.commands.dlx and
// loans.commands.dead.
func DefaultTopology() Topology {
	return Topology{
		Exchange:           "loans.commands",
		Queue:              "loans.commands",
		DeadLetterExchange: "loans.commands.dlx",
		DeadLetterQueue:    "loans.commands.dead",
	}
}

// WithDefaults fills the names left empty.
func (t Topology) WithDefaults() Topology {
	d := DefaultTopology()
	if t.Exchange == "" {
		t.Exchange = d.Exchange
	}
	if t.Queue == "" {
		t.Queue = d.Queue
	}
	if t.DeadLetterExchange == "" {
		t.DeadLetterExchange = d.DeadLetterExchange
	}
	if t.DeadLetterQueue == "" {
		t.DeadLetterQueue = d.DeadLetterQueue
	}
	return t
}

// Declare declares the topology; declaring it again with the same
// arguments changes nothing, so every consumer does it on every connection.
// The dead-letter exchange is a fanout: whatever reaches it, under any
// routing key, lands in the dead-letter queue. The command queue also names
// it as its broker-side dead-letter exchange, so that a message the broker
// itself rejects (a policy's length limit or TTL, say) is kept too.
func (t Topology) Declare(ch *amqp091.Channel, commands []string) error {
	if err := ch.ExchangeDeclare(t.DeadLetterExchange, amqp091.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.DeadLetterExchange, err)
	}
	if _, err := ch.QueueDeclare(t.DeadLetterQueue, true, false, false, false,
		amqp091.Table{amqp091.QueueTypeArg: amqp091.QueueTypeQuorum}); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.DeadLetterQueue, err)
	}
	if err := ch.QueueBind(t.DeadLetterQueue, "", t.DeadLetterExchange, false, nil); err != nil {
		return fmt.Errorf("bind %s to %s: %w", t.DeadLetterQueue, t.DeadLetterExchange, err)
	}
	if err := ch.ExchangeDeclare(t.Exchange, amqp091.ExchangeDirect, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.Exchange, err)
	}
	if _, err := ch.QueueDeclare(t.Queue, true, false, false, false, amqp091.Table{
		amqp091.QueueTypeArg:     amqp091.QueueTypeQuorum,
		"x-dead-letter-exchange": t.DeadLetterExchange,
	}); err != nil {
		return fmt.Errorf("declare queue %s: %w", t.Queue, err)
	}
	for _, c := range commands {
		if err := ch.QueueBind(t.Queue, c, t.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind %s to %s with %s: %w", t.Queue, t.Exchange, c, err)
		}
	}
	return nil
}
