package main

// The bare gRPC figures: a stub Streams service that does no work, reached
// over loopback the way the official client reaches the store, so that they
// show what gRPC itself costs on this machine for an append's and a read's
// shape.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/devstack/eventstore"
)

// stubStreams answers Append with a success and Read with prebuilt events.
type stubStreams struct {
	streams.UnimplementedStreamsServer
	position atomic.Uint64
	events   []*streams.ReadResp
}

// Append reads what a real append carries (the options, then events until the
// client half-closes) and answers Success, as the store does.
func (s *stubStreams) Append(stream streams.Streams_AppendServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if first.GetOptions() == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry the options")
	}
	n := uint64(0)
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if req.GetProposedMessage() == nil {
			return status.Error(codes.InvalidArgument, "append messages after the first must carry events")
		}
		n++
	}
	pos := s.position.Add(n)
	return stream.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
		CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: n - 1},
		PositionOption:        &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{CommitPosition: pos, PreparePosition: pos}},
	}}})
}

// Read sends count prebuilt events, cycling through them.
func (s *stubStreams) Read(req *streams.ReadReq, stream streams.Streams_ReadServer) error {
	n := req.GetOptions().GetCount()
	for i := uint64(0); i < n; i++ {
		if err := stream.Send(s.events[i%uint64(len(s.events))]); err != nil {
			return err
		}
	}
	return nil
}

// stubServer is a running stub on a loopback port.
type stubServer struct {
	grpc *grpc.Server
	lis  net.Listener
	done chan error
}

// startStub serves the stub with the options the store's server uses.
func startStub(svc *stubStreams) (*stubServer, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.MaxRecvMsgSize(eventstore.DefaultMaxAppendSize+64<<10),
	)
	streams.RegisterStreamsServer(g, svc)
	s := &stubServer{grpc: g, lis: lis, done: make(chan error, 1)}
	go func() { s.done <- g.Serve(lis) }()
	return s, nil
}

func (s *stubServer) stop() error {
	s.grpc.Stop()
	return <-s.done
}

// dialLikeESDB opens a connection with the options the official client uses
// (esdb/impl.go createGrpcConnection, with its default keepalive).
func dialLikeESDB(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(17*1024*1024)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 10 * time.Second, PermitWithoutStream: true}),
	)
}

// appendHeader and proposedMessage build the messages as the official client
// does (esdb/protobuf_utils.go toAppendHeader and toProposedMessage).
func appendHeader(stream string) *streams.AppendReq {
	return &streams.AppendReq{Content: &streams.AppendReq_Options_{Options: &streams.AppendReq_Options{
		StreamIdentifier:       &shared.StreamIdentifier{StreamName: []byte(stream)},
		ExpectedStreamRevision: &streams.AppendReq_Options_Any{Any: &shared.Empty{}},
	}}}
}

func proposedMessage(eventType string, data []byte) *streams.AppendReq {
	id := uuid.New()
	return &streams.AppendReq{Content: &streams.AppendReq_ProposedMessage_{ProposedMessage: &streams.AppendReq_ProposedMessage{
		Id: &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits: getInt64(id[:8]), LeastSignificantBits: getInt64(id[8:])}}},
		Metadata:       map[string]string{"content-type": "application/json", "type": eventType},
		CustomMetadata: []byte{},
		Data:           data,
	}}}
}

func getInt64(b []byte) int64 {
	var v int64
	for _, c := range b[:8] {
		v = v<<8 | int64(c)
	}
	return v
}

// bareAppendRun makes append-shaped client-streaming calls from `callers`
// goroutines for d, each call carrying the options and one event, with the
// per-call context and header/trailer options the official client sets.
func bareAppendRun(ctx context.Context, clients []streams.StreamsClient, callers int, d time.Duration, payloadSize int) (loopResult, error) {
	return closedLoop(ctx, callers, d, func(ctx context.Context, worker, seq int) (int, error) {
		c := clients[worker%len(clients)]
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var headers, trailers metadata.MD
		st, err := c.Append(callCtx, grpc.Header(&headers), grpc.Trailer(&trailers))
		if err != nil {
			return 0, err
		}
		if err := st.Send(appendHeader("bare-" + strconv.Itoa(worker))); err != nil {
			return 0, err
		}
		if err := st.Send(proposedMessage(eventType, makePayload(uint64(seq), payloadSize))); err != nil {
			return 0, err
		}
		resp, err := st.CloseAndRecv()
		if err != nil {
			return 0, err
		}
		if resp.GetSuccess() == nil {
			return 0, fmt.Errorf("stub append answered %v", resp)
		}
		return 1, nil
	})
}

// readEvents prebuilds events shaped and sized as the store sends them
// (eventstore/streams.go recordedEvent), with the given payload size.
func readEvents(n, payloadSize int) []*streams.ReadResp {
	out := make([]*streams.ReadResp, n)
	created := time.Now().UnixNano() / 100
	for i := range out {
		id := uuid.New()
		pos := uint64(500_000 + i)
		out[i] = &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
			Event: &streams.ReadResp_ReadEvent_RecordedEvent{
				Id: &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
					MostSignificantBits: getInt64(id[:8]), LeastSignificantBits: getInt64(id[8:])}}},
				StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte("fill-0")},
				StreamRevision:   uint64(100_000 + i),
				PreparePosition:  pos,
				CommitPosition:   pos,
				Metadata: map[string]string{
					"type":         eventType,
					"content-type": "application/json",
					"created":      strconv.FormatInt(created+int64(i), 10),
				},
				CustomMetadata: []byte{},
				Data:           makePayload(pos, payloadSize),
			},
			Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: pos},
		}}}
	}
	return out
}

// bareReadRun receives n events from the stub's server-streaming Read on one
// call, as a raw gRPC client (no conversion into the client's types).
func bareReadRun(ctx context.Context, c streams.StreamsClient, n uint64) (int, time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	rc, err := c.Read(ctx, &streams.ReadReq{Options: &streams.ReadReq_Options{
		StreamOption: &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{
			AllOption: &streams.ReadReq_Options_AllOptions_Start{Start: &shared.Empty{}}}},
		CountOption:  &streams.ReadReq_Options_Count{Count: n},
		FilterOption: &streams.ReadReq_Options_NoFilter{NoFilter: &shared.Empty{}},
		UuidOption:   &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_Structured{Structured: &shared.Empty{}}},
	}})
	if err != nil {
		return 0, 0, err
	}
	got := 0
	for {
		resp, err := rc.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return got, time.Since(start), err
		}
		if resp.GetEvent() == nil {
			return got, time.Since(start), fmt.Errorf("stub read sent %T", resp.GetContent())
		}
		got++
		if uint64(got) > n {
			return got, time.Since(start), fmt.Errorf("stub read sent more than the %d events asked", n)
		}
	}
	elapsed := time.Since(start)
	if uint64(got) != n {
		return got, elapsed, fmt.Errorf("stub read: got %d events, want %d", got, n)
	}
	return got, elapsed, nil
}
