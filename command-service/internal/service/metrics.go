package service

import (
	"context"
	"slices"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/loanflow/loans/command-service/internal/adapters/eventstore"
	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/command-service/internal/ports"
	amqpport "github.com/loanflow/loans/command-service/internal/ports/amqp"
	"github.com/loanflow/loans/platform/esdbconn"
	"github.com/loanflow/loans/platform/telemetry"
)

// metrics are the command service's own (deploy/monitoring lists them):
// besides them the process exports the gRPC server's, the event store
// connection's, readiness and the Go runtime's.
type metrics struct {
	commands *prometheus.CounterVec
	duration *prometheus.HistogramVec
	retries  prometheus.Counter
	amqp     *prometheus.CounterVec
	parked   *prometheus.GaugeVec
	pmLag    *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, processManagers bool) (*metrics, error) {
	m := &metrics{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "commands_total",
			Help: "Commands decided, by command, outcome (ok; refused: by the rules, the caller's rights or input; error: ours or a dependency's) and stable reason (empty when ok)."},
			[]string{"command", "outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: telemetry.Namespace, Name: "command_duration_seconds",
			Help: "Time to decide a command (load, decide, append, retries included), in seconds.", Buckets: telemetry.LatencyBuckets},
			[]string{"command"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "command_retries_total",
			Help: "Command attempts that met a concurrent change of the same stream and were decided again."}),
		amqp: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: telemetry.Namespace, Name: "amqp_messages_total",
			Help: "RabbitMQ command messages by command (unknown: a routing key that names none) and outcome (ok, refused and failed: dead-lettered, retried: an attempt to try again, requeued: given back to the queue)."},
			[]string{"command", "outcome"}),
		parked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Name: "parked_events",
			Help: "Events parked and not resolved, by component (a process manager's name): each needs an operator (command-service replay-parked)."},
			[]string{"component"}),
		pmLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: telemetry.Namespace, Name: "process_manager_lag_events",
			Help: "Events of a process manager's types recorded after the last one it handled (counted up to 10,000)."},
			[]string{"manager"}),
	}
	for _, c := range []prometheus.Collector{m.commands, m.duration, m.retries, m.amqp, m.parked, m.pmLag} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Series that exist from the start, at zero, so that dashboards and
	// alerts (and rate()) see them before the first command.
	for _, a := range []command.Action{command.ActionRequestLoan, command.ActionSubmitLoanRequest, command.ActionApproveLoan,
		command.ActionDenyLoan, command.ActionSignContract, command.ActionRejectContract, command.ActionIssueLoanReview,
		command.ActionIssueLoanContract} {
		m.commands.WithLabelValues(string(a), ports.OutcomeOK, "")
		m.duration.WithLabelValues(string(a))
	}
	names := []string{"unknown"}
	if commands, err := amqpport.Commands(); err == nil {
		names = append(names, amqpport.Names(commands)...)
	}
	for _, c := range names {
		for _, o := range []string{amqpport.OutcomeDecided, amqpport.OutcomeRefused, amqpport.OutcomeFailed, amqpport.OutcomeRetried, amqpport.OutcomeRequeued} {
			m.amqp.WithLabelValues(c, o)
		}
	}
	if processManagers {
		for _, name := range ManagerNames() {
			m.parked.WithLabelValues(name)
			m.pmLag.WithLabelValues(name)
		}
	}
	for _, c := range esdbconn.Collectors() {
		if err := reg.Register(c); err != nil {
			if _, already := err.(prometheus.AlreadyRegisteredError); !already {
				return nil, err
			}
		}
	}
	return m, nil
}

// Decided counts a command (command.Observer).
func (m *metrics) Decided(action command.Action, elapsed time.Duration, err error) {
	outcome, reason := ports.Outcome(err)
	m.commands.WithLabelValues(string(action), outcome, reason).Inc()
	m.duration.WithLabelValues(string(action)).Observe(elapsed.Seconds())
}

// Retried counts a retry (command.Observer).
func (m *metrics) Retried(command.Action) { m.retries.Inc() }

// amqpObserved counts a RabbitMQ message's outcome.
func (m *metrics) amqpObserved(command, outcome string) {
	m.amqp.WithLabelValues(command, outcome).Inc()
}

// lagScanLimit bounds the events read to measure a process manager's lag.
const lagScanLimit = 10_000

// watchProcessManagers measures, every interval until ctx ends, how far
// behind each manager is and how many events it has parked.
func (m *metrics) watchProcessManagers(ctx context.Context, conn *esdbconn.Conn, runners []*process.Runner, interval time.Duration) {
	log := eventstore.NewProcessLog(conn)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		for _, r := range runners {
			if lag, ok := processManagerLag(ctx, conn, r); ok {
				m.pmLag.WithLabelValues(r.Name()).Set(float64(lag))
			}
			if parked, err := log.Parked(ctx, r.Name()); err == nil {
				m.parked.WithLabelValues(r.Name()).Set(float64(len(parked)))
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// processManagerLag counts the events of r's types in $all after r's
// position (up to lagScanLimit); ok is false when it cannot be told.
func processManagerLag(ctx context.Context, conn *esdbconn.Conn, r *process.Runner) (int, bool) {
	pos, ok := r.Position()
	if !ok {
		return 0, false
	}
	var from esdb.AllPosition = esdb.Start{}
	if pos != (process.Position{}) {
		from = esdb.Position{Commit: pos.Commit, Prepare: pos.Prepare}
	}
	readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	events, err := conn.ReadAll(readCtx, esdb.ReadAllOptions{From: from, Direction: esdb.Forwards}, lagScanLimit)
	if err != nil {
		return 0, false
	}
	types := r.EventTypes()
	n := 0
	for _, e := range events {
		rec := e.OriginalEvent()
		if rec == nil || !slices.Contains(types, rec.EventType) {
			continue
		}
		if rec.Position.Commit > pos.Commit || (rec.Position.Commit == pos.Commit && rec.Position.Prepare > pos.Prepare) {
			n++
		}
	}
	return n, true
}
