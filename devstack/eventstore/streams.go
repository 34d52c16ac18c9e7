package eventstore

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/loanflow/loans/devstack/eventstore/eventlog"
)

// readChunk is how many events a read takes from the log at a time.
const readChunk = 512

type streamsService struct {
	streams.UnimplementedStreamsServer
	log           *eventlog.Log
	logger        *slog.Logger
	maxAppendSize int
}

// ---- Append ----

func (s *streamsService) Append(stream streams.Streams_AppendServer) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "an append must start with a message carrying its options")
	}
	if err != nil {
		return err
	}
	opts := first.GetOptions()
	if opts == nil {
		return status.Error(codes.InvalidArgument, "the first append message must carry the options")
	}
	name := string(opts.GetStreamIdentifier().GetStreamName())
	expected, err := expectedFromAppend(opts)
	if err != nil {
		return err
	}
	var events []eventlog.ProposedEvent
	size := 0
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		msg := req.GetProposedMessage()
		if msg == nil {
			return status.Error(codes.InvalidArgument, "append messages after the first must carry events")
		}
		size += proto.Size(msg)
		if size > s.maxAppendSize {
			return s.appendTooLarge(stream)
		}
		e, err := proposedEvent(msg.GetId(), msg.GetMetadata(), msg.GetCustomMetadata(), msg.GetData())
		if err != nil {
			return err
		}
		events = append(events, e)
	}
	res, err := s.log.Append(stream.Context(), name, expected, events)
	var wrong *eventlog.WrongExpectedVersionError
	if errors.As(err, &wrong) {
		return stream.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{WrongExpectedVersion: wrongExpectedVersion(wrong)}})
	}
	if err != nil {
		return s.storeError(stream, err)
	}
	success := &streams.AppendResp_Success{}
	if res.LastRevision < 0 {
		success.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		success.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.LastRevision)}
	}
	if res.Position == 0 {
		success.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		success.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{CommitPosition: res.Position, PreparePosition: res.Position}}
	}
	return stream.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: success}})
}

// appendTooLarge refuses an append over the maximum size as EventStoreDB
// does. The rest of the append is read and dropped (never held), so that the
// client, which sends every event before asking for the outcome, gets this
// answer rather than a broken stream.
func (s *streamsService) appendTooLarge(stream streams.Streams_AppendServer) error {
	for drained := 0; drained < maxDrainedAppendMessages; drained++ {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	stream.SetTrailer(metadata.Pairs("exception", "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(s.maxAppendSize)))
	return status.Errorf(codes.InvalidArgument, "maximum append size of %d bytes exceeded", s.maxAppendSize)
}

// maxDrainedAppendMessages bounds how long a refused append is read on.
const maxDrainedAppendMessages = 100_000

func expectedFromAppend(opts *streams.AppendReq_Options) (eventlog.Expected, error) {
	switch v := opts.GetExpectedStreamRevision().(type) {
	case *streams.AppendReq_Options_Revision:
		return eventlog.Expected{Kind: eventlog.ExpectRevision, Revision: v.Revision}, nil
	case *streams.AppendReq_Options_NoStream:
		return eventlog.Expected{Kind: eventlog.ExpectNoStream}, nil
	case *streams.AppendReq_Options_StreamExists:
		return eventlog.Expected{Kind: eventlog.ExpectStreamExists}, nil
	case *streams.AppendReq_Options_Any, nil:
		return eventlog.Expected{Kind: eventlog.ExpectAny}, nil
	}
	return eventlog.Expected{}, status.Error(codes.InvalidArgument, "unknown expected stream revision")
}

// expectedFromDelete reads the expectation of a delete or tombstone, whose
// options share the same shape.
func expectedFromDelete(rev any) eventlog.Expected {
	switch v := rev.(type) {
	case *streams.DeleteReq_Options_Revision:
		return eventlog.Expected{Kind: eventlog.ExpectRevision, Revision: v.Revision}
	case *streams.TombstoneReq_Options_Revision:
		return eventlog.Expected{Kind: eventlog.ExpectRevision, Revision: v.Revision}
	case *streams.DeleteReq_Options_NoStream, *streams.TombstoneReq_Options_NoStream:
		return eventlog.Expected{Kind: eventlog.ExpectNoStream}
	case *streams.DeleteReq_Options_StreamExists, *streams.TombstoneReq_Options_StreamExists:
		return eventlog.Expected{Kind: eventlog.ExpectStreamExists}
	}
	return eventlog.Expected{Kind: eventlog.ExpectAny}
}

func proposedEvent(id *shared.UUID, meta map[string]string, custom, data []byte) (eventlog.ProposedEvent, error) {
	eventID, err := uuidFromProto(id)
	if err != nil {
		return eventlog.ProposedEvent{}, err
	}
	eventType, ok := meta["type"]
	if !ok || eventType == "" {
		return eventlog.ProposedEvent{}, status.Error(codes.InvalidArgument, "required metadata property missing: type")
	}
	contentType, ok := meta["content-type"]
	if !ok {
		return eventlog.ProposedEvent{}, status.Error(codes.InvalidArgument, "required metadata property missing: content-type")
	}
	return eventlog.ProposedEvent{ID: eventID, Type: eventType, ContentType: contentType, Metadata: custom, Data: data}, nil
}

func uuidFromProto(id *shared.UUID) (uuid.UUID, error) {
	switch v := id.GetValue().(type) {
	case *shared.UUID_Structured_:
		var u uuid.UUID
		putInt64(u[:8], v.Structured.GetMostSignificantBits())
		putInt64(u[8:], v.Structured.GetLeastSignificantBits())
		return u, nil
	case *shared.UUID_String_:
		u, err := uuid.Parse(v.String_)
		if err != nil {
			return uuid.UUID{}, status.Errorf(codes.InvalidArgument, "invalid event id %q: %v", v.String_, err)
		}
		return u, nil
	}
	return uuid.UUID{}, status.Error(codes.InvalidArgument, "an event id is required")
}

func putInt64(b []byte, v int64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func getInt64(b []byte) int64 {
	var v int64
	for _, c := range b[:8] {
		v = v<<8 | int64(c)
	}
	return v
}

func wrongExpectedVersion(w *eventlog.WrongExpectedVersionError) *streams.AppendResp_WrongExpectedVersion {
	r := &streams.AppendResp_WrongExpectedVersion{}
	if w.Current < 0 {
		r.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		r.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		r.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(w.Current)}
		r.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(w.Current)}
	}
	switch w.Expected.Kind {
	case eventlog.ExpectRevision:
		r.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: w.Expected.Revision}
		r.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: w.Expected.Revision}
	case eventlog.ExpectNoStream:
		r.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
	case eventlog.ExpectStreamExists:
		r.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		r.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		r.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		r.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	return r
}

// ---- Delete and Tombstone ----

func (s *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	opts := req.GetOptions()
	pos, err := s.log.Delete(ctx, string(opts.GetStreamIdentifier().GetStreamName()), expectedFromDelete(opts.GetExpectedStreamRevision()))
	if err != nil {
		return nil, s.storeError(ctxTrailer{ctx}, err)
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{Position: &streams.DeleteResp_Position{CommitPosition: pos, PreparePosition: pos}}}, nil
}

func (s *streamsService) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	opts := req.GetOptions()
	pos, err := s.log.Tombstone(ctx, string(opts.GetStreamIdentifier().GetStreamName()), expectedFromDelete(opts.GetExpectedStreamRevision()))
	if err != nil {
		return nil, s.storeError(ctxTrailer{ctx}, err)
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{Position: &streams.TombstoneResp_Position{CommitPosition: pos, PreparePosition: pos}}}, nil
}

// ---- errors ----

type trailerSetter interface{ SetTrailer(metadata.MD) }

// ctxTrailer sets trailers on a unary call.
type ctxTrailer struct{ ctx context.Context }

func (c ctxTrailer) SetTrailer(md metadata.MD) { _ = grpc.SetTrailer(c.ctx, md) }

// storeError turns a log error into the status EventStoreDB answers with,
// including the trailers its clients read.
func (s *streamsService) storeError(t trailerSetter, err error) error {
	var deleted *eventlog.StreamDeletedError
	var wrong *eventlog.WrongExpectedVersionError
	switch {
	case errors.As(err, &deleted):
		t.SetTrailer(metadata.Pairs("exception", "stream-deleted", "stream-name", deleted.Stream))
		return status.Errorf(codes.FailedPrecondition, "event stream '%s' is deleted", deleted.Stream)
	case errors.As(err, &wrong):
		actual := "-1"
		if wrong.Current >= 0 {
			actual = strconv.FormatInt(wrong.Current, 10)
		}
		t.SetTrailer(metadata.Pairs("exception", "wrong-expected-version", "stream-name", wrong.Stream,
			"expected-version", wrong.Expected.String(), "actual-version", actual))
		return status.Error(codes.FailedPrecondition, strings.TrimPrefix(wrong.Error(), "eventlog: "))
	case errors.Is(err, eventlog.ErrInvalidStream):
		return status.Error(codes.InvalidArgument, strings.TrimPrefix(err.Error(), "eventlog: "))
	case errors.Is(err, eventlog.ErrClosed):
		return status.Error(codes.Unavailable, "the event store is shutting down")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "the call was cancelled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "the call's deadline passed")
	}
	s.logger.Error("event store: internal error", "error", err)
	return status.Errorf(codes.Internal, "internal error: %v", err)
}

// ---- Read and subscriptions ----

// readRequest is a parsed ReadReq.
type readRequest struct {
	stream          string // empty for $all
	backwards       bool
	count           uint64
	subscription    bool
	resolveLinks    bool
	stringIDs       bool
	filter          *eventFilter
	checkpointEvery uint64

	// Starting point: for a stream, a revision; for $all, a position.
	fromStart, fromEnd bool
	from               uint64
}

func parseRead(req *streams.ReadReq) (*readRequest, error) {
	o := req.GetOptions()
	if o == nil {
		return nil, status.Error(codes.InvalidArgument, "read options are required")
	}
	r := &readRequest{
		backwards:    o.GetReadDirection() == streams.ReadReq_Options_Backwards,
		resolveLinks: o.GetResolveLinks(),
		stringIDs:    o.GetUuidOption().GetString_() != nil,
	}
	switch c := o.GetCountOption().(type) {
	case *streams.ReadReq_Options_Count:
		r.count = c.Count
	case *streams.ReadReq_Options_Subscription:
		r.subscription = true
		if r.backwards {
			return nil, status.Error(codes.InvalidArgument, "subscriptions read forwards only")
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "a read needs a count or subscription option")
	}
	switch so := o.GetStreamOption().(type) {
	case *streams.ReadReq_Options_Stream:
		r.stream = string(so.Stream.GetStreamIdentifier().GetStreamName())
		if r.stream == "" {
			return nil, status.Error(codes.InvalidArgument, "a stream name is required")
		}
		switch rev := so.Stream.GetRevisionOption().(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			r.from = rev.Revision
		case *streams.ReadReq_Options_StreamOptions_End:
			r.fromEnd = true
		default:
			r.fromStart = true
		}
	case *streams.ReadReq_Options_All:
		switch p := so.All.GetAllOption().(type) {
		case *streams.ReadReq_Options_AllOptions_Position:
			r.from = p.Position.GetCommitPosition()
		case *streams.ReadReq_Options_AllOptions_End:
			r.fromEnd = true
		default:
			r.fromStart = true
		}
	default:
		return nil, status.Error(codes.InvalidArgument, "a read needs a stream or $all")
	}
	if f := o.GetFilter(); f != nil {
		if r.stream != "" {
			return nil, status.Error(codes.InvalidArgument, "filters apply to $all only")
		}
		filter, err := newEventFilter(f)
		if err != nil {
			return nil, err
		}
		r.filter = filter
		window := uint64(f.GetMax())
		if window == 0 {
			window = 32
		}
		multiplier := uint64(f.GetCheckpointIntervalMultiplier())
		if multiplier == 0 {
			multiplier = 1
		}
		r.checkpointEvery = window * multiplier
	}
	return r, nil
}

func (s *streamsService) Read(req *streams.ReadReq, stream streams.Streams_ReadServer) error {
	r, err := parseRead(req)
	if err != nil {
		return err
	}
	if r.subscription {
		return s.subscribe(r, stream)
	}
	if r.stream != "" {
		return s.readStream(r, stream)
	}
	return s.readAll(r, stream)
}

func (s *streamsService) readStream(r *readRequest, stream streams.Streams_ReadServer) error {
	from := r.from
	switch {
	case r.fromStart:
		from = 0 // backwards from the start reads revision 0 alone
	case r.fromEnd:
		from = eventlog.End
	}
	var buf []eventlog.Event
	remaining := r.count
	for remaining > 0 {
		n := int(min(remaining, readChunk))
		var err error
		if r.backwards {
			buf, err = s.log.ReadStreamBackward(r.stream, from, n, buf[:0])
		} else {
			buf, err = s.log.ReadStreamForward(r.stream, from, n, buf[:0])
		}
		if errors.Is(err, eventlog.ErrStreamNotFound) {
			return stream.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{StreamNotFound: &streams.ReadResp_StreamNotFound{
				StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(r.stream)}}}})
		}
		if err != nil {
			return s.storeError(stream, err)
		}
		for i := range buf {
			if err := s.sendEvent(stream, r, &buf[i]); err != nil {
				return err
			}
		}
		remaining -= uint64(len(buf))
		if len(buf) < n {
			return nil
		}
		last := buf[len(buf)-1].Revision
		if r.backwards {
			if last == 0 {
				return nil
			}
			from = last - 1
		} else {
			from = last + 1
		}
	}
	return nil
}

func (s *streamsService) readAll(r *readRequest, stream streams.Streams_ReadServer) error {
	var from uint64
	switch {
	case r.fromStart && !r.backwards:
		from = 1
	case r.fromStart:
		return nil // nothing comes before the start
	case r.fromEnd && r.backwards:
		from = eventlog.End
	case r.fromEnd:
		return nil // nothing comes after the end
	default:
		from = r.from
	}
	var buf []eventlog.Event
	remaining := r.count
	for remaining > 0 {
		var err error
		if r.backwards {
			buf, err = s.log.ReadAllBackward(from, readChunk, buf[:0])
		} else {
			buf, err = s.log.ReadAllForward(from, readChunk, buf[:0])
		}
		if err != nil {
			return s.storeError(stream, err)
		}
		for i := range buf {
			if r.filter != nil && !r.filter.match(&buf[i]) {
				continue
			}
			if err := s.sendEvent(stream, r, &buf[i]); err != nil {
				return err
			}
			if remaining--; remaining == 0 {
				return nil
			}
		}
		if len(buf) < readChunk {
			return nil
		}
		last := buf[len(buf)-1].Position
		if r.backwards {
			from = last
		} else {
			from = last + 1
		}
	}
	return nil
}

func (s *streamsService) subscribe(r *readRequest, stream streams.Streams_ReadServer) error {
	var sub *eventlog.Subscription
	if r.stream == "" {
		after := r.from // a subscription starts after the position it is given
		switch {
		case r.fromStart:
			after = 0
		case r.fromEnd:
			after = eventlog.End
		}
		sub = s.log.SubscribeAll(after)
	} else {
		after := int64(r.from)
		switch {
		case r.fromStart:
			after = -1
		case r.fromEnd:
			after = eventlog.FromNow
		}
		var err error
		if sub, err = s.log.SubscribeStream(r.stream, after); err != nil {
			return s.storeError(stream, err)
		}
	}
	if err := stream.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{Confirmation: &streams.ReadResp_SubscriptionConfirmation{
		SubscriptionId: uuid.NewString()}}}); err != nil {
		return err
	}
	var sinceCheckpoint uint64
	ctx := stream.Context()
	for {
		u, err := sub.Next(ctx)
		if err != nil {
			if errors.Is(err, ctx.Err()) {
				return nil // the client went away
			}
			return s.storeError(stream, err)
		}
		for i := range u.Events {
			e := &u.Events[i]
			if r.filter != nil {
				sinceCheckpoint++
				if !r.filter.match(e) {
					if sinceCheckpoint >= r.checkpointEvery {
						sinceCheckpoint = 0
						if err := sendCheckpoint(stream, e.Position); err != nil {
							return err
						}
					}
					continue
				}
			}
			if err := s.sendEvent(stream, r, e); err != nil {
				return err
			}
			if r.filter != nil && sinceCheckpoint >= r.checkpointEvery {
				sinceCheckpoint = 0
				if err := sendCheckpoint(stream, e.Position); err != nil {
					return err
				}
			}
		}
		switch {
		case u.CaughtUp:
			err = stream.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}})
		case u.FellBehind:
			err = stream.Send(&streams.ReadResp{Content: &streams.ReadResp_FellBehind_{FellBehind: &streams.ReadResp_FellBehind{}}})
		}
		if err != nil {
			return err
		}
	}
}

func sendCheckpoint(stream streams.Streams_ReadServer, pos uint64) error {
	return stream.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: pos, PreparePosition: pos}}})
}

// linkEventType marks an event whose data points at another ("rev@stream").
const linkEventType = "$>"

func (s *streamsService) sendEvent(stream streams.Streams_ReadServer, r *readRequest, e *eventlog.Event) error {
	if r.resolveLinks && e.Type == linkEventType {
		if target, ok := s.resolveLink(e.Data); ok {
			return stream.Send(&streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
				Event:    recordedEvent(&target, r.stringIDs),
				Link:     recordedEvent(e, r.stringIDs),
				Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.Position},
			}}})
		}
	}
	return stream.SendMsg(encodeReadEvent(e, r.stringIDs)) // see wire.go
}

func (s *streamsService) resolveLink(data []byte) (eventlog.Event, bool) {
	revText, name, ok := strings.Cut(string(data), "@")
	if !ok {
		return eventlog.Event{}, false
	}
	rev, err := strconv.ParseUint(revText, 10, 64)
	if err != nil {
		return eventlog.Event{}, false
	}
	events, err := s.log.ReadStreamForward(name, rev, 1, nil)
	if err != nil || len(events) == 0 || events[0].Revision != rev {
		return eventlog.Event{}, false
	}
	return events[0], true
}

func recordedEvent(e *eventlog.Event, stringIDs bool) *streams.ReadResp_ReadEvent_RecordedEvent {
	id := &shared.UUID{}
	if stringIDs {
		id.Value = &shared.UUID_String_{String_: e.ID.String()}
	} else {
		id.Value = &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
			MostSignificantBits: getInt64(e.ID[:8]), LeastSignificantBits: getInt64(e.ID[8:])}}
	}
	return &streams.ReadResp_ReadEvent_RecordedEvent{
		Id:               id,
		StreamIdentifier: &shared.StreamIdentifier{StreamName: []byte(e.Stream)},
		StreamRevision:   e.Revision,
		PreparePosition:  e.Position,
		CommitPosition:   e.Position,
		Metadata: map[string]string{
			metadataKeyType:        e.Type,
			metadataKeyContentType: e.ContentType,
			// .NET ticks (100 ns) since the Unix epoch, in decimal.
			metadataKeyCreated: strconv.FormatInt(e.Created/nanosecondsPerTick, 10),
		},
		CustomMetadata: e.Metadata,
		Data:           e.Data,
	}
}

// ---- filters ----

// eventFilter is a server-side filter on $all, by stream name or event type,
// with prefixes or a regular expression.
type eventFilter struct {
	onStream bool
	prefixes []string
	regex    *regexp.Regexp
}

func newEventFilter(f *streams.ReadReq_Options_FilterOptions) (*eventFilter, error) {
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	filter := &eventFilter{}
	switch v := f.GetFilter().(type) {
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		filter.onStream, expr = true, v.StreamIdentifier
	case *streams.ReadReq_Options_FilterOptions_EventType:
		expr = v.EventType
	default:
		return nil, status.Error(codes.InvalidArgument, "a filter needs a stream or event type expression")
	}
	filter.prefixes = expr.GetPrefix()
	if re := expr.GetRegex(); re != "" {
		compiled, err := regexp.Compile(re)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "invalid filter regular expression %q: %v", re, err)
		}
		filter.regex = compiled
	}
	if len(filter.prefixes) == 0 && filter.regex == nil {
		return nil, status.Error(codes.InvalidArgument, "a filter needs prefixes or a regular expression")
	}
	return filter, nil
}

func (f *eventFilter) match(e *eventlog.Event) bool {
	subject := e.Type
	if f.onStream {
		subject = e.Stream
	}
	if f.regex != nil && f.regex.MatchString(subject) {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(subject, p) {
			return true
		}
	}
	return false
}
