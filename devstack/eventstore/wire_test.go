package eventstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	"github.com/loanflow/loans/devstack/eventstore/eventlog"
)

// The hand-encoded ReadResp must be exactly what marshalling the message
// built the ordinary way gives.
func TestEncodeReadEvent_MatchesProtobuf(t *testing.T) {
	cases := map[string]eventlog.Event{
		"Typical": {Position: 12345, Stream: "loanRequest-42", Revision: 7, ID: uuid.New(), Type: "LoanRequested",
			ContentType: "application/json", Created: time.Now().UnixNano(), Metadata: []byte(`{"actor":"a"}`), Data: []byte(`{"amount":1000}`)},
		"ZeroRevisionNoMetadataNoData": {Position: 1, Stream: "s", Revision: 0, ID: uuid.New(), Type: "E",
			ContentType: "application/octet-stream", Created: 1},
		"EmptyContentType": {Position: 1 << 40, Stream: "$$s", Revision: 1 << 62, ID: uuid.Nil, Type: "$metadata", Created: time.Now().UnixNano()},
		"LargeData":        {Position: 99, Stream: "big", Revision: 3, ID: uuid.New(), Type: "Big", ContentType: "application/json", Created: 5, Data: bytes.Repeat([]byte("x"), 200_000)},
		"HighBitsInID":     {Position: 2, Stream: "s", ID: uuid.MustParse("ffffffff-ffff-ffff-8000-000000000001"), Type: "E", ContentType: "c", Created: 7},
	}
	for name, e := range cases {
		for _, stringIDs := range []bool{false, true} {
			want := &streams.ReadResp{Content: &streams.ReadResp_Event{Event: &streams.ReadResp_ReadEvent{
				Event:    recordedEvent(&e, stringIDs),
				Position: &streams.ReadResp_ReadEvent_CommitPosition{CommitPosition: e.Position},
			}}}
			encoded := encodeReadEvent(&e, stringIDs)
			got := &streams.ReadResp{}
			if err := proto.Unmarshal(encoded, got); err != nil {
				t.Fatalf("%s (string IDs %v): does not decode: %v", name, stringIDs, err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("%s (string IDs %v): decodes to\n%v\nwant\n%v", name, stringIDs, got, want)
			}
			if marshalled, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(want); len(marshalled) != len(encoded) {
				t.Fatalf("%s (string IDs %v): %d bytes, protobuf marshals %d", name, stringIDs, len(encoded), len(marshalled))
			}
		}
	}
}
