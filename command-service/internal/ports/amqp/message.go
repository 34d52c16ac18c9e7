package amqp

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	amqp091 "github.com/rabbitmq/amqp091-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
)

// Content types a command may come in, and the one replies go out in.
const (
	ContentTypeJSON     = "application/json"
	ContentTypeProtobuf = "application/x-protobuf"
)

// Headers the consumer reads on a command and writes on its answers.
const (
	// HeaderAuthorization carries "Bearer <access token>", as on gRPC.
	HeaderAuthorization = "authorization"
	// HeaderCorrelationID is read as the gRPC metadata of the same name,
	// HeaderTraceParent as the W3C trace context. (The message's
	// correlation_id property is the reply's, as AMQP's request/reply
	// pattern has it.)
	HeaderCorrelationID = "x-correlation-id"
	HeaderTraceParent   = "traceparent"

	// HeaderOutcome says what a reply's body is: OutcomeOK (the gRPC reply)
	// or OutcomeError (a google.rpc.Status, as the REST gateway answers).
	HeaderOutcome = "x-outcome"
	OutcomeOK     = "ok"
	OutcomeError  = "error"

	// The error's code (its gRPC name, INVALID_ARGUMENT say), stable reason
	// (AMOUNT_IS_TOO_LOW say) and message, on error replies and on dead
	// letters.
	HeaderErrorCode    = "x-error-code"
	HeaderErrorReason  = "x-error-reason"
	HeaderErrorMessage = "x-error-message"
	// Where a dead letter first came in, when and by whom it was dead-lettered.
	HeaderOriginalExchange   = "x-original-exchange"
	HeaderOriginalRoutingKey = "x-original-routing-key"
	HeaderDeadLetteredAt     = "x-dead-lettered-at"
	HeaderDeadLetteredBy     = "x-dead-lettered-by"
)

// Reasons the consumer itself refuses a message for (ErrorInfo reasons, as
// the gRPC port's).
const (
	ReasonUnknownCommand         = "UNKNOWN_COMMAND"
	ReasonUnsupportedContentType = "UNSUPPORTED_CONTENT_TYPE"
	ReasonMessageUndecodable     = "MESSAGE_UNDECODABLE"
	ReasonMessageTooLarge        = "MESSAGE_TOO_LARGE"
	ReasonMessageIDRequired      = "MESSAGE_ID_REQUIRED"
	ReasonMessageIDInvalid       = "MESSAGE_ID_INVALID"
	ReasonCommandIDMismatch      = "COMMAND_ID_MISMATCH"
	ReasonHeaderNotAString       = "HEADER_NOT_A_STRING"
	ReasonInternal               = "INTERNAL"
)

// Command is one of the gRPC service's methods, as a message names it.
type Command struct {
	Name    string
	method  grpc.MethodDesc
	request protoreflect.MessageType
}

// NewRequest is an empty request message of the command.
func (c Command) NewRequest() proto.Message { return c.request.New().Interface() }

// Commands are the gRPC service's methods by name (the routing keys): the
// consumer serves exactly what the gRPC service serves.
func Commands() (map[string]Command, error) {
	desc := loansv1.LoanCommandService_ServiceDesc
	sd, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(desc.ServiceName))
	if err != nil {
		return nil, fmt.Errorf("amqp: the command service's descriptor: %w", err)
	}
	service := sd.(protoreflect.ServiceDescriptor)
	commands := make(map[string]Command, len(desc.Methods))
	for _, m := range desc.Methods {
		md := service.Methods().ByName(protoreflect.Name(m.MethodName))
		if md == nil {
			return nil, fmt.Errorf("amqp: %s has no method %s", desc.ServiceName, m.MethodName)
		}
		mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
		if err != nil {
			return nil, fmt.Errorf("amqp: request of %s: %w", m.MethodName, err)
		}
		commands[m.MethodName] = Command{Name: m.MethodName, method: m, request: mt}
	}
	return commands, nil
}

// Names are the command names, sorted.
func Names(commands map[string]Command) []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// decoded is a message read as a command.
type decoded struct {
	command       Command
	request       proto.Message
	authorization string
	correlationID string
	traceParent   string
}

// unmarshalJSON reads request JSON as the REST gateway does (fields it does
// not know are ignored, so that a newer sender still reaches an older
// consumer); marshalJSON writes replies as the gateway does.
var (
	unmarshalJSON = protojson.UnmarshalOptions{DiscardUnknown: true}
	marshalJSON   = protojson.MarshalOptions{EmitUnpopulated: true}
)

// decode reads a delivery as a command, or says why it never can be one
// (a refusal status: the message is answered and dead-lettered).
func decode(commands map[string]Command, d amqp091.Delivery, maxBytes int) (decoded, error) {
	if len(d.Body) > maxBytes {
		return decoded{}, apiserver.Refusal(codes.InvalidArgument, ReasonMessageTooLarge,
			fmt.Sprintf("the message body has %d bytes; at most %d are accepted", len(d.Body), maxBytes), nil)
	}
	c, ok := commands[d.RoutingKey]
	if !ok {
		return decoded{}, apiserver.Refusal(codes.InvalidArgument, ReasonUnknownCommand,
			fmt.Sprintf("routing key %q names no command; it must be one of %s", clip(d.RoutingKey), strings.Join(Names(commands), ", ")), nil)
	}
	req := c.NewRequest()
	contentType, _, _ := strings.Cut(d.ContentType, ";")
	switch strings.ToLower(strings.TrimSpace(contentType)) {
	case ContentTypeJSON:
		if err := unmarshalJSON.Unmarshal(d.Body, req); err != nil {
			return decoded{}, apiserver.Refusal(codes.InvalidArgument, ReasonMessageUndecodable,
				fmt.Sprintf("the body is not a %s in protobuf JSON: %v", req.ProtoReflect().Descriptor().FullName(), err), nil)
		}
	case ContentTypeProtobuf, "application/protobuf":
		if err := proto.Unmarshal(d.Body, req); err != nil {
			return decoded{}, apiserver.Refusal(codes.InvalidArgument, ReasonMessageUndecodable,
				fmt.Sprintf("the body is not a %s in protobuf: %v", req.ProtoReflect().Descriptor().FullName(), err), nil)
		}
	default:
		return decoded{}, apiserver.Refusal(codes.InvalidArgument, ReasonUnsupportedContentType,
			fmt.Sprintf("content_type %q is not supported: send %s or %s", clip(d.ContentType), ContentTypeJSON, ContentTypeProtobuf), nil)
	}
	if err := bindCommandID(req, d.MessageId); err != nil {
		return decoded{}, err
	}
	out := decoded{command: c, request: req}
	var err error
	if out.authorization, err = stringHeader(d.Headers, HeaderAuthorization); err != nil {
		return decoded{}, err
	}
	if out.correlationID, err = stringHeader(d.Headers, HeaderCorrelationID); err != nil {
		return decoded{}, err
	}
	if out.traceParent, err = stringHeader(d.Headers, HeaderTraceParent); err != nil {
		return decoded{}, err
	}
	return out, nil
}

// bindCommandID makes the message's ID the command's ID, so that a message
// delivered again, or sent again by its sender, appends nothing new. A
// message without an ID could not be told apart from a new command when
// redelivered: it is refused.
func bindCommandID(req proto.Message, messageID string) error {
	field := req.ProtoReflect().Descriptor().Fields().ByName("command_id")
	if field == nil {
		return nil
	}
	inBody := req.ProtoReflect().Get(field).String()
	if messageID == "" {
		if inBody == "" {
			return apiserver.Refusal(codes.InvalidArgument, ReasonMessageIDRequired,
				"the message needs a message_id: the command's UUID, the same each time it is sent", nil)
		}
		messageID = inBody
	}
	id, err := uuid.Parse(messageID)
	if err != nil || id == uuid.Nil {
		return apiserver.Refusal(codes.InvalidArgument, ReasonMessageIDInvalid,
			fmt.Sprintf("message_id must be a UUID (the command's ID), got %q", clip(messageID)), nil)
	}
	if inBody != "" && inBody != messageID {
		if other, err := uuid.Parse(inBody); err != nil || other != id {
			return apiserver.Refusal(codes.InvalidArgument, ReasonCommandIDMismatch,
				fmt.Sprintf("the body's command_id %q differs from the message_id %q", clip(inBody), messageID), nil)
		}
	}
	req.ProtoReflect().Set(field, protoreflect.ValueOfString(id.String()))
	return nil
}

// stringHeader reads a header that must be text (AMQP long strings arrive as
// strings, some clients send them as bytes).
func stringHeader(h amqp091.Table, key string) (string, error) {
	switch v := h[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", apiserver.Refusal(codes.InvalidArgument, ReasonHeaderNotAString,
		fmt.Sprintf("header %s must be a string", key), nil)
}

// outcome is what becomes of a message after an attempt.
type outcome int

const (
	// done: the command was decided (appended, or an answer such as a
	// repeat); reply and acknowledge.
	done outcome = iota
	// refused: it can never succeed as sent; reply, dead-letter, acknowledge.
	refused
	// transient: the store (or the identity provider) is away, or the
	// command collided with a concurrent one; try again later, never
	// dead-letter.
	transient
	// failed: an unexpected error; tried a few times, then dead-lettered.
	failed
)

// classify sorts a use case's error by what to do with the message.
func classify(err error) outcome {
	if err == nil {
		return done
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted, codes.Canceled:
		return transient
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return failed
	}
	return refused
}

// reply is the answer to a command: its gRPC reply in protobuf JSON, or the
// error as the REST gateway writes it (a google.rpc.Status with its
// ErrorInfo), with x-outcome saying which.
func reply(d amqp091.Delivery, resp proto.Message, err error) (amqp091.Publishing, error) {
	p := amqp091.Publishing{
		ContentType:   ContentTypeJSON,
		CorrelationId: d.CorrelationId,
		MessageId:     d.MessageId,
		Timestamp:     time.Now().UTC(),
		Headers:       amqp091.Table{HeaderOutcome: OutcomeOK},
	}
	var body []byte
	if err != nil {
		st := status.Convert(err)
		p.Headers[HeaderOutcome] = OutcomeError
		setErrorHeaders(p.Headers, st)
		body, err = marshalJSON.Marshal(st.Proto())
	} else {
		body, err = marshalJSON.Marshal(resp)
	}
	p.Body = body
	return p, err
}

// deadLetter is the message as the dead-letter queue keeps it: body and
// properties as received, the reason added, and the bearer token removed (a
// dead-letter queue is read by operators; a credential has no place there:
// re-send with a fresh token).
func deadLetter(d amqp091.Delivery, err error, by string) amqp091.Publishing {
	headers := amqp091.Table{}
	for k, v := range d.Headers {
		if !strings.EqualFold(k, HeaderAuthorization) {
			headers[k] = v
		}
	}
	setErrorHeaders(headers, status.Convert(err))
	headers[HeaderOriginalExchange] = d.Exchange
	headers[HeaderOriginalRoutingKey] = d.RoutingKey
	headers[HeaderDeadLetteredAt] = time.Now().UTC().Format(time.RFC3339Nano)
	headers[HeaderDeadLetteredBy] = by
	return amqp091.Publishing{
		Headers:         headers,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp091.Persistent,
		CorrelationId:   d.CorrelationId,
		ReplyTo:         d.ReplyTo,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		UserId:          d.UserId,
		AppId:           d.AppId,
		Body:            d.Body,
	}
}

func setErrorHeaders(h amqp091.Table, st *status.Status) {
	h[HeaderErrorCode] = apiserver.CodeName(st.Code())
	h[HeaderErrorReason] = apiserver.Reason(st.Err())
	h[HeaderErrorMessage] = st.Message()
}

// clip bounds what a message quotes back of the sender's input.
func clip(s string) string {
	const most = 200
	if len(s) > most {
		return s[:most] + "…"
	}
	return s
}
