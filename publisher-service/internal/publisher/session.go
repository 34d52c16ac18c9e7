package publisher

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/platform/backoff"
	"github.com/loanflow/loans/platform/rabbit"
)

// saveTimeout bounds one save of the checkpoint while running: a store
// that is away is not waited for (the next save tries again).
const saveTimeout = 5 * time.Second

// errBroker marks what ends a session on the broker's side while the
// connection may still be open: a nack, confirms that never come, a publish
// that failed. The session ends; Reconnect connects again.
var errBroker = errors.New("publisher: broker")

// session publishes on one broker connection until ctx ends (nil, once the
// confirms outstanding are in and the checkpoint saved) or the broker
// fails it (an error: rabbit.Reconnect connects again). The event store
// failing is waited out inside the session: the subscription starts again
// after the last confirmed event.
func (p *Publisher) session(ctx context.Context, conn *amqp.Connection) (err error) {
	p.sessions.Add(1)
	defer func() {
		cause := err
		if cause == nil {
			cause = errors.New("stopping")
		}
		p.setBroker(false, cause)
	}()
	defer p.saveAtStop(ctx)
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open a channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("put the channel in confirm mode: %w", err)
	}
	if err := declareExchange(ch, p.cfg.Exchange); err != nil {
		return fmt.Errorf("declare exchange %q: %w", p.cfg.Exchange, err)
	}

	// sctx ends with ctx or as soon as the connection or the channel
	// closes; lostErr then says why.
	sctx, cancel := context.WithCancel(ctx)
	var (
		lostMu  sync.Mutex
		lostErr error
	)
	connClosed, chClosed := rabbit.Closed(conn), ch.NotifyClose(make(chan *amqp.Error, 1))
	watching := make(chan struct{})
	go func() {
		defer close(watching)
		var reason *amqp.Error
		select {
		case reason = <-connClosed:
		case reason = <-chClosed:
		case <-sctx.Done():
			return
		}
		lostMu.Lock()
		lostErr = fmt.Errorf("%w: %v", rabbit.ErrConnectionLost, reason)
		lostMu.Unlock()
		cancel()
	}()
	defer func() {
		cancel()
		<-watching
	}()
	lost := func() error {
		lostMu.Lock()
		defer lostMu.Unlock()
		return lostErr
	}

	p.setBroker(true, nil)
	p.log.Info("publisher: connected to the broker", "exchange", p.cfg.Exchange, "connection_name", p.cfg.ConnectionName)
	wait := p.cfg.MinBackoff
	for {
		before := p.confirmed
		err := p.load(sctx)
		if err == nil {
			err = p.follow(sctx, ch)
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case lost() != nil:
			return lost()
		case errors.Is(err, errBroker):
			return err
		}
		if p.confirmed != before {
			wait = p.cfg.MinBackoff
		}
		p.setLive(false)
		p.log.Warn("publisher: event store: following $all again after the last confirmed event", "error", err, "backoff", wait.String(),
			"confirmed", p.confirmed.pos)
		if !backoff.Sleep(sctx, backoff.Jitter(wait)) {
			if ctx.Err() != nil {
				return nil
			}
			return lost()
		}
		wait = min(2*wait, p.cfg.MaxBackoff)
	}
}

// follow publishes what one subscription delivers on ch, until ctx ends
// or something fails. Events are published as they come (what is ready,
// up to MaxBatch, between two looks at the confirms), with up to
// MaxInFlight of them unconfirmed; the confirms are taken in publishing
// order, and the position moves up to the last item before the first event
// not confirmed yet.
func (p *Publisher) follow(ctx context.Context, ch *amqp.Channel) error {
	items, stop, err := p.subscribe(ctx, p.confirmed)
	if err != nil {
		return err
	}
	defer stop()
	p.log.Info("publisher: following $all", "after", p.confirmed.pos, "from_start", !p.confirmed.set)
	tick := time.NewTicker(min(p.cfg.CheckpointInterval, time.Second))
	defer tick.Stop()
	w := &window{}
	var dropped error // the subscription ended: finish what is in flight, then say so
	for {
		if err := p.retire(w); err != nil {
			return err
		}
		p.maybeSave(ctx)
		if dropped != nil && w.len() == 0 {
			return fmt.Errorf("subscription dropped: %w", dropped)
		}
		var next <-chan item
		if dropped == nil && w.events < p.cfg.MaxInFlight {
			next = items
		}
		var headDone <-chan struct{}
		if h := w.head(); h != nil {
			headDone = h.dc.Done()
		}
		select {
		case <-ctx.Done():
			p.drain(w)
			return ctx.Err()
		case <-tick.C:
			if h := w.head(); h != nil && time.Since(h.sent) > p.cfg.ConfirmTimeout {
				return fmt.Errorf("%w: no confirm within %v (%d events unconfirmed)", errBroker, p.cfg.ConfirmTimeout, w.events)
			}
		case <-headDone:
		case it := <-next:
			for n := 0; ; n++ {
				if it.kind == kindDropped {
					dropped = it.err
					break
				}
				if err := p.send(ctx, ch, w, it); err != nil {
					return err
				}
				if n+1 >= p.cfg.MaxBatch || w.events >= p.cfg.MaxInFlight {
					break
				}
				select {
				case it = <-items:
					continue
				default:
				}
				break
			}
		}
	}
}

// inflight is an item published (or passed over) and not yet retired.
type inflight struct {
	dc   *amqp.DeferredConfirmation // nil: nothing to confirm
	kind itemKind
	pos  Position
	id   string // the message's, for the logs
	sent time.Time
}

// window is the items in flight, oldest first.
type window struct {
	q      []inflight
	first  int // q[first:] are in flight
	events int // of them, events awaiting their confirm
}

func (w *window) len() int { return len(w.q) - w.first }

// head is the oldest event awaiting its confirm, when it is also the
// oldest item (retire passes the others over).
func (w *window) head() *inflight {
	if w.len() == 0 || w.q[w.first].dc == nil {
		return nil
	}
	return &w.q[w.first]
}

func (w *window) push(f inflight) {
	if w.first > 0 && w.first == len(w.q) {
		w.q, w.first = w.q[:0], 0
	} else if w.first >= 4096 && w.first > len(w.q)/2 {
		w.q, w.first = w.q[:copy(w.q, w.q[w.first:])], 0
	}
	w.q = append(w.q, f)
	if f.dc != nil {
		w.events++
	}
}

func (w *window) pop() {
	if w.q[w.first].dc != nil {
		w.events--
	}
	w.q[w.first] = inflight{}
	w.first++
}

// send publishes an item's event (if it has one) and puts the item in the
// window.
func (p *Publisher) send(ctx context.Context, ch *amqp.Channel, w *window, it item) error {
	f := inflight{kind: it.kind, pos: it.pos}
	if it.kind == kindEvent {
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, p.cfg.Exchange, it.msg.RoutingKey, mandatory, immediate, it.msg.Publishing)
		if err != nil {
			if ctx.Err() != nil {
				p.drain(w)
				return ctx.Err()
			}
			return fmt.Errorf("%w: publish: %w", errBroker, err)
		}
		f.dc, f.id, f.sent = dc, it.msg.Publishing.MessageId, time.Now()
	}
	w.push(f)
	return nil
}

// retire takes the items at the window's head whose events are confirmed
// (or that had none), and moves the confirmed position past them. A nack
// (or the channel closing, which nacks what is outstanding) fails it.
func (p *Publisher) retire(w *window) error {
	reached, acked := p.confirmed, 0
	defer func() {
		if reached != p.confirmed || acked > 0 {
			p.confirm(reached, acked)
		}
	}()
	for w.len() > 0 {
		f := &w.q[w.first]
		if f.dc != nil {
			select {
			case <-f.dc.Done():
			default:
				return nil
			}
			if !f.dc.Acked() {
				return fmt.Errorf("%w: event %s nacked, or the channel closed before its confirm", errBroker, f.id)
			}
			acked++
		}
		switch f.kind {
		case kindCaughtUp:
			p.setLive(true)
			p.log.Info("publisher: caught up with $all; live", "position", reached.pos)
		case kindFellBehind:
			p.setLive(false)
			p.log.Info("publisher: fell behind $all; catching up", "position", reached.pos)
		case kindEvent, kindPosition:
			if !reached.set || after(f.pos, reached.pos) {
				reached = cursor{pos: f.pos, set: true}
			}
		}
		w.pop()
	}
	return nil
}

// drain waits, once ctx has ended, for the confirms in flight, up to
// StopTimeout, and retires what they confirm.
func (p *Publisher) drain(w *window) {
	timer := time.NewTimer(p.cfg.StopTimeout)
	defer timer.Stop()
	for {
		if err := p.retire(w); err != nil {
			p.log.Warn("publisher: stopping without every confirm", "error", err, "unconfirmed", w.events)
			return
		}
		if w.len() == 0 {
			return
		}
		select {
		case <-w.head().dc.Done():
		case <-timer.C:
			p.log.Warn("publisher: stopping without every confirm", "unconfirmed", w.events, "waited", p.cfg.StopTimeout.String())
			return
		}
	}
}

// after tells whether a comes after b in $all.
func after(a, b Position) bool {
	if a.Commit != b.Commit {
		return a.Commit > b.Commit
	}
	return a.Prepare > b.Prepare
}
