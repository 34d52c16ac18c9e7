package service_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/proto"

	amqpport "github.com/loanflow/loans/command-service/internal/ports/amqp"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
)

// Every command through RabbitMQ, JSON and binary, each answered with the
// gRPC reply; the events record the verified callers.
func TestAMQP_EveryCommandWithAReply(t *testing.T) {
	b := newBroker(t)
	e := newEnv(t, withBroker(b))

	request := func(id string) {
		t.Helper()
		var resp loansv1.RequestLoanResponse
		requireOK(t, b.reply(b.send(amqpCommand("RequestLoan",
			&loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration}, applicant))), &resp)
		if resp.GetResult().GetStreamRevision() != 0 {
			t.Fatalf("RequestLoan result %v", resp.GetResult())
		}
	}
	submitBinary := func(id string) {
		t.Helper()
		body, _ := proto.Marshal(&loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
		m := message{key: "SubmitLoanRequest", contentType: amqpport.ContentTypeProtobuf, body: body, messageID: uuid.NewString(),
			headers: amqp091.Table{amqpport.HeaderAuthorization: bearer(applicant)}}
		requireOK(t, b.reply(b.send(m)), &loansv1.SubmitLoanRequestResponse{})
		e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	}

	signed, denied, rejected := newID(), newID(), newID()
	for _, id := range []string{signed, denied, rejected} {
		request(id)
		submitBinary(id)
	}
	requireOK(t, b.reply(b.send(amqpCommand("ApproveLoan", &loansv1.ApproveLoanRequest{LoanApplicationUuid: signed}, officer))), &loansv1.ApproveLoanResponse{})
	requireOK(t, b.reply(b.send(amqpCommand("ApproveLoan", &loansv1.ApproveLoanRequest{LoanApplicationUuid: rejected}, officer))), &loansv1.ApproveLoanResponse{})
	requireOK(t, b.reply(b.send(amqpCommand("DenyLoan", &loansv1.DenyLoanRequest{LoanApplicationUuid: denied, Reason: "income"}, officer))), &loansv1.DenyLoanResponse{})
	e.awaitEvent(t, contractStream(signed), loanevents.TypeLoanContractIssued)
	e.awaitEvent(t, contractStream(rejected), loanevents.TypeLoanContractIssued)
	requireOK(t, b.reply(b.send(amqpCommand("SignContract", &loansv1.SignContractRequest{LoanApplicationUuid: signed}, applicant))), &loansv1.SignContractResponse{})
	requireOK(t, b.reply(b.send(amqpCommand("RejectContract", &loansv1.RejectContractRequest{LoanApplicationUuid: rejected, Reason: "rate"}, applicant))), &loansv1.RejectContractResponse{})

	requireTypes(t, requestStream(signed), e.read(t, requestStream(signed)), loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	requireTypes(t, reviewStream(signed), e.read(t, reviewStream(signed)), loanevents.TypeLoanReviewIssued, loanevents.TypeLoanApproved)
	requireTypes(t, reviewStream(denied), e.read(t, reviewStream(denied)), loanevents.TypeLoanReviewIssued, loanevents.TypeLoanDenied)
	requireTypes(t, contractStream(signed), e.read(t, contractStream(signed)), loanevents.TypeLoanContractIssued, loanevents.TypeContractSigned)
	requireTypes(t, contractStream(rejected), e.read(t, contractStream(rejected)), loanevents.TypeLoanContractIssued, loanevents.TypeContractRejected)
	approved := e.read(t, reviewStream(signed))[1]
	if approved.Meta.Actor != officer || !strings.Contains(strings.Join(approved.Meta.ActorRoles, ","), string(auth.RoleLoanOfficer)) ||
		approved.Meta.CommandType != "ApproveLoan" {
		t.Fatalf("LoanApproved metadata %+v", approved.Meta)
	}
	if dead := b.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d commands were dead-lettered", len(dead))
	}
	// A message without reply_to is executed all the same.
	quiet := newID()
	m := amqpCommand("RequestLoan", &loansv1.RequestLoanRequest{LoanApplicationUuid: quiet, Amount: anyAmount, Duration: anyDuration}, applicant)
	m.noReply = true
	b.send(m)
	e.awaitEvent(t, requestStream(quiet), loanevents.TypeLoanRequested)
}

// A message that can never succeed is answered, dead-lettered with the
// reason (and without its token), and appends nothing; the queue goes on.
func TestAMQP_RefusedMessagesAreDeadLettered(t *testing.T) {
	b := newBroker(t)
	e := newEnv(t, withBroker(b))
	id := newID()
	e.requestLoan(callCtx(t), t, id)
	before := e.read(t, requestStream(id))

	expired := issuer.Claims(applicant, auth.RoleApplicant)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	valid := func(user string) message {
		return amqpCommand("SubmitLoanRequest", &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id}, user)
	}
	with := func(m message, change func(*message)) message { change(&m); return m }
	cases := []struct {
		name         string
		m            message
		viaQueue     bool // published to the queue directly (a routing key the exchange does not route)
		code, reason string
	}{
		{"UnknownCommand", valid(applicant), true, "INVALID_ARGUMENT", amqpport.ReasonUnknownCommand},
		{"NotJSON", with(valid(applicant), func(m *message) { m.body = []byte("{") }), false, "INVALID_ARGUMENT", amqpport.ReasonMessageUndecodable},
		{"XML", with(valid(applicant), func(m *message) { m.contentType = "application/xml" }), false, "INVALID_ARGUMENT", amqpport.ReasonUnsupportedContentType},
		{"NoMessageID", with(valid(applicant), func(m *message) { m.messageID = "" }), false, "INVALID_ARGUMENT", amqpport.ReasonMessageIDRequired},
		{"TooLarge", with(valid(applicant), func(m *message) {
			m.body = []byte(`{"loan_application_uuid":"` + id + `","x":"` + strings.Repeat("x", 2<<20) + `"}`)
		}), false, "INVALID_ARGUMENT", amqpport.ReasonMessageTooLarge},
		{"NoToken", with(valid(applicant), func(m *message) { m.headers = nil }), false, "UNAUTHENTICATED", auth.ReasonTokenMissing},
		{"ExpiredToken", with(valid(applicant), func(m *message) {
			m.headers = amqp091.Table{amqpport.HeaderAuthorization: "Bearer " + issuer.Sign(t, expired)}
		}), false, "UNAUTHENTICATED", auth.ReasonTokenExpired},
		{"AmountTooLow", amqpCommand("RequestLoan", &loansv1.RequestLoanRequest{LoanApplicationUuid: newID(), Amount: 100, Duration: anyDuration}, applicant),
			false, "INVALID_ARGUMENT", "AMOUNT_IS_TOO_LOW"},
		{"ApplicantApproving", amqpCommand("ApproveLoan", &loansv1.ApproveLoanRequest{LoanApplicationUuid: id}, applicant),
			false, "PERMISSION_DENIED", "ROLE_REQUIRED"},
		{"NoContractYet", amqpCommand("SignContract", &loansv1.SignContractRequest{LoanApplicationUuid: id}, applicant),
			false, "NOT_FOUND", "LOAN_CONTRACT_NOT_FOUND"},
		{"AlreadyRequested", amqpCommand("RequestLoan", &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration}, applicant),
			false, "ALREADY_EXISTS", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var corr string
			if c.viaQueue {
				corr = b.publish("", b.topology.Queue, c.m)
			} else {
				corr = b.send(c.m)
			}
			r := b.reply(corr)
			if c.reason == "" {
				c.reason, _ = r.Headers[amqpport.HeaderErrorReason].(string)
			}
			requireError(t, r, c.code, c.reason)
			dead := b.awaitDeadLetters(1)
			if len(dead) != 1 {
				t.Fatalf("%d dead letters, want 1", len(dead))
			}
			d := dead[0]
			if d.Headers[amqpport.HeaderErrorReason] != c.reason || d.Headers[amqpport.HeaderErrorCode] != c.code ||
				d.MessageId != c.m.messageID || string(d.Body) != string(c.m.body) {
				t.Fatalf("dead letter %v %q", d.Headers, d.MessageId)
			}
			if _, ok := d.Headers[amqpport.HeaderAuthorization]; ok {
				t.Fatal("the dead letter kept the bearer token")
			}
		})
	}
	e.requireUnchanged(t, requestStream(id), before)
	if n := b.queued(); n != 0 {
		t.Fatalf("%d messages still queued", n)
	}
}

// The same message delivered or sent again appends nothing new and gets
// the same answer; another command under a used ID is refused.
func TestAMQP_DuplicatesAppendNothing(t *testing.T) {
	b := newBroker(t)
	e := newEnv(t, withBroker(b))
	id := newID()
	m := amqpCommand("RequestLoan", &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration}, applicant)
	var first, again loansv1.RequestLoanResponse
	requireOK(t, b.reply(b.send(m)), &first)
	for range 3 {
		requireOK(t, b.reply(b.send(m)), &again)
		if !proto.Equal(&first, &again) {
			t.Fatalf("repeat answered %v, first %v", &again, &first)
		}
	}
	if got := e.read(t, requestStream(id)); len(got) != 1 {
		t.Fatalf("%d events after the same message 4 times", len(got))
	}
	other := amqpCommand("RequestLoan", &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: 2 * anyAmount, Duration: anyDuration}, applicant)
	other.messageID = m.messageID
	requireError(t, b.reply(b.send(other)), "FAILED_PRECONDITION", "COMMAND_ID_REUSED")
	b.awaitDeadLetters(1)
}

// sendStream publishes n RequestLoan commands for new applications, one
// at a time from its own goroutine, and returns their IDs at once; wait for
// the goroutine with the returned function.
func (b *broker) sendStream(n int, pace func(i int)) (ids []string, wait func()) {
	ids = make([]string, n)
	for i := range ids {
		ids[i] = newID()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, id := range ids {
			if pace != nil {
				pace(i)
			}
			b.send(amqpCommand("RequestLoan", &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration}, applicant))
		}
	})
	return ids, wg.Wait
}

// requireEachOnce waits until every application holds its one
// LoanRequested event, and fails if any holds more.
func (e *env) requireEachOnce(t *testing.T, ids []string) {
	t.Helper()
	eventually(t, 2*asyncTimeout, func() (bool, string) {
		for _, id := range ids {
			got, err := tryReadStream(e.es, requestStream(id))
			if err != nil {
				return false, err.Error()
			}
			if len(got) > 1 {
				t.Fatalf("%s holds %d events: a command was applied twice", id, len(got))
			}
			if len(got) == 0 {
				return false, "still no event for " + id
			}
		}
		return true, ""
	})
}

// The broker closes the consumer's connection while commands stream in:
// the consumer connects again, and every command is applied exactly once.
func TestAMQP_BrokerClosesTheConnectionMidStream(t *testing.T) {
	b := newBroker(t)
	rabbittest.Rabbitmqctl(t)
	e := newEnv(t, withBroker(b), withoutProcessManagers())
	eventually(t, asyncTimeout, func() (bool, string) { return e.svc.AMQPConnected(), "the consumer is not connected" })

	const n = 300
	closed := 0
	ids, wait := b.sendStream(n, func(i int) {
		if i == n/3 || i == 2*n/3 {
			// Between two messages of the stream, as rabbitmqctl
			// close_all_connections would (only this test's consumer here).
			eventually(t, asyncTimeout, func() (bool, string) {
				c := rabbittest.CloseConnections(t, b.consumerName)
				closed += c
				return c > 0, "the broker lists no consumer connection to close"
			})
		}
	})
	wait()
	e.requireEachOnce(t, ids)
	if closed < 2 {
		t.Fatalf("the broker closed %d connections, want 2", closed)
	}
	eventually(t, asyncTimeout, func() (bool, string) {
		return b.replyCount() >= n, fmt.Sprintf("%d replies to %d commands", b.replyCount(), n)
	})
	if dead := b.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d commands were dead-lettered: %v", len(dead), dead[0].Headers)
	}
}

// The event store stops under a stream of commands: nothing is refused or
// dead-lettered while it is away, the messages wait, and once it is back
// every command is applied exactly once.
func TestAMQP_EventStoreStoppedAndRestarted(t *testing.T) {
	b := newBroker(t)
	b.prefetch = 100 // room for every message of the stream: the test waits until the consumer holds them all
	store := newRestartableStore(t)
	svc := startService(t, store.connectionString(), withBroker(b), withoutProcessManagers())
	conn := dial(t, svc.GRPCAddr())
	e := &env{es: eventstoretest.Connect(t, store.connectionString()), svc: svc, conn: conn, client: loansv1.NewLoanCommandServiceClient(conn)}
	eventually(t, asyncTimeout, func() (bool, string) { return svc.AMQPConnected(), "the consumer is not connected" })

	const n = 60
	ids, wait := b.sendStream(n, func(i int) {
		if i == n/2 {
			store.stop()
		}
	})
	wait()
	// While the store is away, the consumer holds what it took and answers
	// nothing: the commands of the second half are neither answered nor
	// dead-lettered.
	eventually(t, asyncTimeout, func() (bool, string) {
		return b.queued() == 0, fmt.Sprintf("%d messages not yet taken by the consumer", b.queued())
	})
	answeredDuringOutage := b.replyCount()
	if dead := b.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d commands dead-lettered while the store was merely down: %v", len(dead), dead[0].Headers)
	}
	if answeredDuringOutage > n/2 {
		t.Fatalf("%d answers while the store was down, at most %d commands were decided before", answeredDuringOutage, n/2)
	}
	store.start()
	e.requireEachOnce(t, ids)
	eventually(t, asyncTimeout, func() (bool, string) {
		return b.replyCount() >= n, fmt.Sprintf("%d replies to %d commands", b.replyCount(), n)
	})
	if dead := b.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d commands were dead-lettered: %v", len(dead), dead[0].Headers)
	}
}

// A service stopped under a stream of commands finishes or returns what it
// holds; the next one applies the rest, each exactly once.
func TestAMQP_GracefulStopLosesNothing(t *testing.T) {
	b := newBroker(t)
	e := newEnv(t, withBroker(b), withoutProcessManagers())
	eventually(t, asyncTimeout, func() (bool, string) { return e.svc.AMQPConnected(), "the consumer is not connected" })
	const n = 200
	ids, wait := b.sendStream(n, func(i int) {
		if i == n/2 {
			if err := e.svc.stop(10 * time.Second); err != nil {
				t.Errorf("stop: %v", err)
			}
		}
	})
	wait()
	if b.queued() == 0 {
		t.Fatal("nothing left in the queue after the stop: the test proves nothing")
	}
	startService(t, e.store.ConnectionString, withBroker(b), withoutProcessManagers())
	e.requireEachOnce(t, ids)
	if dead := b.deadLetters(); len(dead) != 0 {
		t.Fatalf("%d commands were dead-lettered", len(dead))
	}
}
