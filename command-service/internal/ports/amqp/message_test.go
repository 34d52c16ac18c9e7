package amqp

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
)

func commands(t *testing.T) map[string]Command {
	t.Helper()
	c, err := Commands()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCommands_AreTheGRPCMethods(t *testing.T) {
	got := strings.Join(Names(commands(t)), ",")
	want := "ApproveLoan,DenyLoan,RejectContract,RequestLoan,SignContract,SubmitLoanRequest"
	if got != want {
		t.Fatalf("commands = %s, want %s", got, want)
	}
}

func reasonOfStatus(err error) string { return apiserver.Reason(err) }

func TestDecode(t *testing.T) {
	cs := commands(t)
	app, cmd := uuid.NewString(), uuid.NewString()
	binary, _ := proto.Marshal(&loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: app})
	ok := func(key, contentType, body, messageID string) amqp091.Delivery {
		return amqp091.Delivery{RoutingKey: key, ContentType: contentType, Body: []byte(body), MessageId: messageID,
			Headers: amqp091.Table{"authorization": "Bearer t", "x-correlation-id": "corr", "traceparent": []byte("00-abc")}}
	}

	t.Run("JSON", func(t *testing.T) {
		m, err := decode(cs, ok("RequestLoan", "application/json; charset=utf-8",
			`{"loanApplicationUuid":"`+app+`","amount":"1000","duration":12,"someFutureField":1}`, cmd), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		req := m.request.(*loansv1.RequestLoanRequest)
		if req.GetAmount() != 1000 || req.GetCommandId() != cmd || m.authorization != "Bearer t" ||
			m.correlationID != "corr" || m.traceParent != "00-abc" {
			t.Fatalf("decoded %+v %v", m, req)
		}
	})
	t.Run("Protobuf", func(t *testing.T) {
		m, err := decode(cs, ok("SubmitLoanRequest", "application/x-protobuf", string(binary), cmd), 1<<20)
		if err != nil || m.request.(*loansv1.SubmitLoanRequestRequest).GetLoanApplicationUuid() != app {
			t.Fatalf("decoded %+v, %v", m, err)
		}
	})
	t.Run("CommandIDInTheBodyOnly", func(t *testing.T) {
		m, err := decode(cs, ok("ApproveLoan", "application/json", `{"loan_application_uuid":"`+app+`","command_id":"`+cmd+`"}`, ""), 1<<20)
		if err != nil || m.request.(*loansv1.ApproveLoanRequest).GetCommandId() != cmd {
			t.Fatalf("decoded %+v, %v", m, err)
		}
	})
	t.Run("SameCommandIDInBoth", func(t *testing.T) {
		_, err := decode(cs, ok("ApproveLoan", "application/json", `{"command_id":"`+strings.ToUpper(cmd)+`"}`, cmd), 1<<20)
		if err != nil {
			t.Fatal(err)
		}
	})

	for _, c := range []struct {
		name   string
		d      amqp091.Delivery
		reason string
	}{
		{"UnknownRoutingKey", ok("loans.commands", "application/json", `{}`, cmd), ReasonUnknownCommand},
		{"LowercaseName", ok("requestloan", "application/json", `{}`, cmd), ReasonUnknownCommand},
		{"NoContentType", ok("RequestLoan", "", `{}`, cmd), ReasonUnsupportedContentType},
		{"XML", ok("RequestLoan", "application/xml", `<x/>`, cmd), ReasonUnsupportedContentType},
		{"NotJSON", ok("RequestLoan", "application/json", `{"amount":`, cmd), ReasonMessageUndecodable},
		{"WrongJSONType", ok("RequestLoan", "application/json", `{"duration":"twelve"}`, cmd), ReasonMessageUndecodable},
		{"NotProtobuf", ok("RequestLoan", "application/x-protobuf", "\xff\xff\xff", cmd), ReasonMessageUndecodable},
		{"NoMessageID", ok("RequestLoan", "application/json", `{}`, ""), ReasonMessageIDRequired},
		{"MessageIDNotAUUID", ok("RequestLoan", "application/json", `{}`, "42"), ReasonMessageIDInvalid},
		{"NilMessageID", ok("RequestLoan", "application/json", `{}`, uuid.Nil.String()), ReasonMessageIDInvalid},
		{"CommandIDMismatch", ok("RequestLoan", "application/json", `{"command_id":"`+uuid.NewString()+`"}`, cmd), ReasonCommandIDMismatch},
		{"TooLarge", ok("RequestLoan", "application/json", `{"reason":"`+strings.Repeat("x", 100)+`"}`, cmd), ReasonMessageTooLarge},
		{"HeaderNotAString", amqp091.Delivery{RoutingKey: "RequestLoan", ContentType: "application/json", Body: []byte(`{}`),
			MessageId: cmd, Headers: amqp091.Table{"authorization": int32(7)}}, ReasonHeaderNotAString},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := decode(cs, c.d, 64)
			if status.Code(err) != codes.InvalidArgument || reasonOfStatus(err) != c.reason {
				t.Fatalf("decode: %v; want INVALID_ARGUMENT %s", err, c.reason)
			}
			if classify(err) != refused {
				t.Fatalf("classify(%v) = %v, want refused", err, classify(err))
			}
		})
	}
}

func TestClassify(t *testing.T) {
	for code, want := range map[codes.Code]outcome{
		codes.OK: done, codes.InvalidArgument: refused, codes.FailedPrecondition: refused, codes.NotFound: refused,
		codes.AlreadyExists: refused, codes.PermissionDenied: refused, codes.Unauthenticated: refused,
		codes.Unavailable: transient, codes.DeadlineExceeded: transient, codes.Aborted: transient,
		codes.ResourceExhausted: transient, codes.Internal: failed, codes.Unknown: failed,
	} {
		var err error
		if code != codes.OK {
			err = status.Error(code, "x")
		}
		if got := classify(err); got != want {
			t.Errorf("classify(%v) = %v, want %v", code, got, want)
		}
	}
	if classify(errors.New("plain")) != failed {
		t.Error("a plain error is not an unexpected failure")
	}
}

func TestReply(t *testing.T) {
	d := amqp091.Delivery{CorrelationId: "c-1", MessageId: "m-1"}
	p, err := reply(d, &loansv1.ApproveLoanResponse{Result: &loansv1.CommandResult{StreamRevision: 3}}, nil)
	if err != nil || p.Headers[HeaderOutcome] != OutcomeOK || p.CorrelationId != "c-1" || !strings.Contains(string(p.Body), `"streamRevision":"3"`) {
		t.Fatalf("ok reply %+v %s, %v", p, p.Body, err)
	}
	refusal := apiserver.Refusal(codes.InvalidArgument, "AMOUNT_IS_TOO_LOW", "amount 100 is below 500", map[string]string{"minimum": "500"})
	p, err = reply(d, nil, refusal)
	if err != nil || p.Headers[HeaderOutcome] != OutcomeError || p.Headers[HeaderErrorCode] != "INVALID_ARGUMENT" ||
		p.Headers[HeaderErrorReason] != "AMOUNT_IS_TOO_LOW" {
		t.Fatalf("error reply %+v, %v", p, err)
	}
	// The body is what the REST gateway answers: a google.rpc.Status.
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
	}
	if err := json.Unmarshal(p.Body, &body); err != nil || body.Code != 3 || body.Message != "amount 100 is below 500" ||
		len(body.Details) != 1 || body.Details[0].Reason != "AMOUNT_IS_TOO_LOW" ||
		body.Details[0].Type != "type.googleapis.com/google.rpc.ErrorInfo" {
		t.Fatalf("error body %s (%v)", p.Body, err)
	}
}

func TestDeadLetter_KeepsTheMessageAndDropsTheToken(t *testing.T) {
	d := amqp091.Delivery{Exchange: "loans.commands", RoutingKey: "ApproveLoan", ContentType: "application/json",
		MessageId: "m-1", CorrelationId: "c-1", ReplyTo: "r", Body: []byte(`{"x":1}`),
		Headers: amqp091.Table{"Authorization": "Bearer secret", "x-correlation-id": "corr"}}
	p := deadLetter(d, apiserver.Refusal(codes.PermissionDenied, "SELF_APPROVAL", "no", nil), "command-service")
	if _, ok := p.Headers["Authorization"]; ok {
		t.Fatal("the dead letter kept the bearer token")
	}
	if string(p.Body) != `{"x":1}` || p.MessageId != "m-1" || p.DeliveryMode != amqp091.Persistent ||
		p.Headers["x-correlation-id"] != "corr" || p.Headers[HeaderErrorReason] != "SELF_APPROVAL" ||
		p.Headers[HeaderErrorCode] != "PERMISSION_DENIED" || p.Headers[HeaderOriginalRoutingKey] != "ApproveLoan" ||
		p.Headers[HeaderOriginalExchange] != "loans.commands" || p.Headers[HeaderDeadLetteredBy] != "command-service" {
		t.Fatalf("dead letter %+v", p)
	}
	if err := p.Headers.Validate(); err != nil {
		t.Fatalf("the headers are not a valid AMQP table: %v", err)
	}
}
