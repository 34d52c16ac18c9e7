package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
)

// FuzzAppend sends appends the official client would never build (any
// stream name, expectation, event ID, type, content type, data and metadata,
// messages missing or out of order) straight through the gRPC protocol.
// Whatever the input: the server answers (success, wrong expected version or
// a status error; never Internal or Unknown), stays up, and an append it
// acknowledged reads back exactly as sent.
func FuzzAppend(f *testing.F) {
	srv := eventstoretest.Start(f, eventstore.Config{MaxAppendSize: 4096})
	conn, err := grpc.NewClient(srv.Addr.String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = conn.Close() })
	raw := streams.NewStreamsClient(conn)
	es := srv.Client(f)
	var inputs atomic.Int64

	f.Add("orders-1", uint8(0), uint64(0), "0b6f3a52-6d4e-4c1e-9a8f-2f5d7c9e1a33", "OrderPlaced", "application/json", []byte(`{"a":1}`), []byte(`{}`), uint8(1), false)
	f.Add("", uint8(1), uint64(0), "", "", "", []byte{}, []byte{}, uint8(0), true)
	f.Add("$all", uint8(2), uint64(7), "not-a-uuid", "T", "application/octet-stream", []byte{0xff}, []byte{0}, uint8(3), false)
	f.Add("$$orders-1", uint8(3), uint64(1<<63), "structured", "$metadata", "application/json", []byte(`{"$maxCount":1}`), []byte{}, uint8(2), false)
	f.Add("orders-2", uint8(4), uint64(0), "0b6f3a52-6d4e-4c1e-9a8f-2f5d7c9e1a33", "T", "application/json", make([]byte, 5000), []byte{}, uint8(1), false)
	f.Fuzz(func(t *testing.T, stream string, expectation uint8, revision uint64, id, eventType, contentType string, data, custom []byte, events uint8, noOptions bool) {
		// Each input gets a stream and event IDs of its own, so that what is
		// read back is this input's (the store answers a repeated event ID
		// with the first append's result, as EventStoreDB does).
		seq := inputs.Add(1)
		stream = fmt.Sprintf("%s~%d", stream, seq)
		// Proto3 string fields are UTF-8: a client cannot even send others.
		id, eventType, contentType = strings.ToValidUTF8(id, "?"), strings.ToValidUTF8(eventType, "?"), strings.ToValidUTF8(contentType, "?")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		call, err := raw.Append(ctx)
		if err != nil {
			t.Fatalf("open an append: %v", err)
		}
		if !noOptions {
			opts := &streams.AppendReq_Options{StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(stream)}}
			switch expectation % 5 {
			case 0:
				opts.ExpectedStreamRevision = &streams.AppendReq_Options_Any{Any: &shared.Empty{}}
			case 1:
				opts.ExpectedStreamRevision = &streams.AppendReq_Options_NoStream{NoStream: &shared.Empty{}}
			case 2:
				opts.ExpectedStreamRevision = &streams.AppendReq_Options_StreamExists{StreamExists: &shared.Empty{}}
			case 3:
				opts.ExpectedStreamRevision = &streams.AppendReq_Options_Revision{Revision: revision}
			} // 4: none set
			_ = call.Send(&streams.AppendReq{Content: &streams.AppendReq_Options_{Options: opts}})
		}
		meta := map[string]string{}
		if eventType != "" {
			meta["type"] = eventType
		}
		if contentType != "" {
			meta["content-type"] = contentType
		}
		n := int(events % 4)
		for i := range n {
			msg := &streams.AppendReq_ProposedMessage{Metadata: meta, CustomMetadata: custom, Data: data}
			switch id {
			case "":
			case "structured":
				msg.Id = &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
					MostSignificantBits: int64(seq), LeastSignificantBits: int64(i)}}}
			default:
				s := id
				if u, err := uuid.Parse(id); err == nil {
					s = uuid.NewSHA1(u, fmt.Appendf(nil, "%d/%d", seq, i)).String()
				}
				msg.Id = &shared.UUID{Value: &shared.UUID_String_{String_: s}}
			}
			_ = call.Send(&streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: msg}})
		}
		resp, err := call.CloseAndRecv()
		if err != nil {
			switch status.Code(err) {
			case codes.Internal, codes.Unknown, codes.Unavailable, codes.DeadlineExceeded:
				t.Fatalf("append %q (%d events): %v", stream, n, err)
			}
			return
		}
		if resp.GetSuccess() == nil || n == 0 {
			return
		}
		// Acknowledged: the stream's last events are what was sent.
		rs, err := es.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, uint64(n))
		if err != nil {
			t.Fatalf("read back %q: %v", stream, err)
		}
		defer rs.Close()
		for {
			re, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				// A stream whose metadata limits it ($maxCount, $tb) may hold
				// fewer events than appended; that is not a failure.
				if esErr, ok := esdb.FromError(err); !ok && esErr.Code() == esdb.ErrorCodeResourceNotFound {
					return
				}
				t.Fatalf("read back %q: %v", stream, err)
			}
			ev := re.Event
			if ev == nil {
				continue
			}
			if string(ev.Data) != string(data) || ev.EventType != eventType || ev.ContentType != contentType {
				t.Fatalf("%q: acknowledged %s (%s) %q, read back %s (%s) %q", stream, eventType, contentType, data, ev.EventType, ev.ContentType, ev.Data)
			}
		}
	})
}
