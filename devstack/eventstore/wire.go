package eventstore

import (
	"strconv"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/loanflow/loans/devstack/eventstore/eventlog"
)

// Reads and subscriptions send one ReadResp per event, and building each as a
// protobuf message (with its map of system metadata) and marshalling it by
// reflection costs more CPU than the store's own work. So events go out
// already encoded: appendReadEvent writes the exact bytes that marshalling
// ReadResp{event: ReadEvent{event: RecordedEvent, commit_position}} would
// produce, and the server codec passes such bytes through unchanged. Every
// other message goes through the standard protobuf codec. A test checks the
// bytes decode to the message built the ordinary way (recordedEvent).

// encodedMessage is a message already in protobuf wire format.
type encodedMessage []byte

// passThroughCodec is gRPC's protobuf codec, except that it sends an
// encodedMessage as it is.
type passThroughCodec struct{ proto encoding.CodecV2 }

func newPassThroughCodec() encoding.CodecV2 {
	return passThroughCodec{proto: encoding.GetCodecV2(grpcproto.Name)}
}

func (c passThroughCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(encodedMessage); ok {
		// gRPC may still be writing these bytes after SendMsg returns: each
		// message gets a buffer of its own, never reused.
		return mem.BufferSlice{mem.SliceBuffer(m)}, nil
	}
	return c.proto.Marshal(v)
}

func (c passThroughCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return c.proto.Unmarshal(data, v)
}

func (passThroughCodec) Name() string { return grpcproto.Name }

// Field numbers, from the client's streams.proto and shared.proto.
const (
	fieldReadRespEvent                  = 1 // ReadResp.event
	fieldReadEventEvent                 = 1 // ReadResp.ReadEvent.event
	fieldReadEventCommitPosition        = 3 // ReadResp.ReadEvent.commit_position
	fieldRecordedID                     = 1
	fieldRecordedStreamIdentifier       = 2
	fieldRecordedStreamRevision         = 3
	fieldRecordedPreparePosition        = 4
	fieldRecordedCommitPosition         = 5
	fieldRecordedMetadata               = 6
	fieldRecordedCustomMetadata         = 7
	fieldRecordedData                   = 8
	fieldUUIDStructured                 = 1
	fieldUUIDString                     = 2
	fieldStructuredMost                 = 1
	fieldStructuredLeast                = 2
	fieldStreamIdentifierName           = 3
	fieldMapKey, fieldMapValue          = 1, 2
	metadataKeyType                     = "type"
	metadataKeyContentType              = "content-type"
	metadataKeyCreated                  = "created"
	nanosecondsPerTick            int64 = 100 // nanoseconds per .NET tick
)

// encodeReadEvent encodes the ReadResp carrying one event.
func encodeReadEvent(e *eventlog.Event, stringIDs bool) encodedMessage {
	var scratch [24]byte
	created := strconv.AppendInt(scratch[:0], e.Created/nanosecondsPerTick, 10)

	idLen := 0
	if stringIDs {
		idLen = protowire.SizeTag(fieldUUIDString) + protowire.SizeBytes(36)
	} else {
		most, least := uint64(getInt64(e.ID[:8])), uint64(getInt64(e.ID[8:]))
		structured := sizeUint64Field(fieldStructuredMost, most) + sizeUint64Field(fieldStructuredLeast, least)
		idLen = protowire.SizeTag(fieldUUIDStructured) + protowire.SizeBytes(structured)
	}
	streamIDLen := protowire.SizeTag(fieldStreamIdentifierName) + protowire.SizeBytes(len(e.Stream))
	recLen := protowire.SizeTag(fieldRecordedID) + protowire.SizeBytes(idLen) +
		protowire.SizeTag(fieldRecordedStreamIdentifier) + protowire.SizeBytes(streamIDLen) +
		sizeUint64Field(fieldRecordedStreamRevision, e.Revision) +
		sizeUint64Field(fieldRecordedPreparePosition, e.Position) +
		sizeUint64Field(fieldRecordedCommitPosition, e.Position) +
		sizeMapEntry(metadataKeyType, len(e.Type)) +
		sizeMapEntry(metadataKeyContentType, len(e.ContentType)) +
		sizeMapEntry(metadataKeyCreated, len(created)) +
		sizeBytesField(fieldRecordedCustomMetadata, len(e.Metadata)) +
		sizeBytesField(fieldRecordedData, len(e.Data))
	readEventLen := protowire.SizeTag(fieldReadEventEvent) + protowire.SizeBytes(recLen) +
		protowire.SizeTag(fieldReadEventCommitPosition) + protowire.SizeVarint(e.Position)
	total := protowire.SizeTag(fieldReadRespEvent) + protowire.SizeBytes(readEventLen)

	b := make([]byte, 0, total)
	b = protowire.AppendTag(b, fieldReadRespEvent, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(readEventLen))
	b = protowire.AppendTag(b, fieldReadEventEvent, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(recLen))

	b = protowire.AppendTag(b, fieldRecordedID, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(idLen))
	if stringIDs {
		b = protowire.AppendTag(b, fieldUUIDString, protowire.BytesType)
		b = protowire.AppendString(b, e.ID.String())
	} else {
		most, least := uint64(getInt64(e.ID[:8])), uint64(getInt64(e.ID[8:]))
		b = protowire.AppendTag(b, fieldUUIDStructured, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(sizeUint64Field(fieldStructuredMost, most)+sizeUint64Field(fieldStructuredLeast, least)))
		b = appendUint64Field(b, fieldStructuredMost, most)
		b = appendUint64Field(b, fieldStructuredLeast, least)
	}
	b = protowire.AppendTag(b, fieldRecordedStreamIdentifier, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(streamIDLen))
	b = protowire.AppendTag(b, fieldStreamIdentifierName, protowire.BytesType)
	b = protowire.AppendString(b, e.Stream)
	b = appendUint64Field(b, fieldRecordedStreamRevision, e.Revision)
	b = appendUint64Field(b, fieldRecordedPreparePosition, e.Position)
	b = appendUint64Field(b, fieldRecordedCommitPosition, e.Position)
	b = appendMapEntry(b, metadataKeyType, e.Type)
	b = appendMapEntry(b, metadataKeyContentType, e.ContentType)
	b = appendMapEntry(b, metadataKeyCreated, string(created))
	b = appendBytesField(b, fieldRecordedCustomMetadata, e.Metadata)
	b = appendBytesField(b, fieldRecordedData, e.Data)

	b = protowire.AppendTag(b, fieldReadEventCommitPosition, protowire.VarintType)
	b = protowire.AppendVarint(b, e.Position)
	return b
}

// Proto3 leaves out scalar fields holding their zero value (int64 fields
// are varints of the same bits, so they go through the uint64 helpers).

func sizeUint64Field(num protowire.Number, v uint64) int {
	if v == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeVarint(v)
}

func appendUint64Field(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func sizeBytesField(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

func appendBytesField(b []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// A map<string,string> entry is a message {key = 1; value = 2}; protobuf-go
// writes both fields even when empty.
func mapEntrySize(keyLen, valueLen int) int {
	return protowire.SizeTag(fieldMapKey) + protowire.SizeBytes(keyLen) + protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(valueLen)
}

func sizeMapEntry(key string, valueLen int) int {
	return protowire.SizeTag(fieldRecordedMetadata) + protowire.SizeBytes(mapEntrySize(len(key), valueLen))
}

func appendMapEntry(b []byte, key, value string) []byte {
	b = protowire.AppendTag(b, fieldRecordedMetadata, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(mapEntrySize(len(key), len(value))))
	b = protowire.AppendTag(b, fieldMapKey, protowire.BytesType)
	b = protowire.AppendString(b, key)
	b = protowire.AppendTag(b, fieldMapValue, protowire.BytesType)
	return protowire.AppendString(b, value)
}
