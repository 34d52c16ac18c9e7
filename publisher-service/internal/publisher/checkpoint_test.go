package publisher_test

import (
	"encoding/json"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
)

// A save given up by the publisher (its call timed out) may still be
// written after a later one: the checkpoint read is the furthest of those
// kept, not merely the last written (a test run ended so once: the
// checkpoint after a clean stop was behind what the stop had saved).
func TestReadCheckpoint_TheFurthestOfTheLastFewWins(t *testing.T) {
	es := eventstoretest.Start(t, eventstore.Config{})
	conn := esdbconntest.Dial(t, es.ConnectionString)
	stream := publisher.CheckpointStream("checkpoint-test")

	if _, ok, err := publisher.ReadCheckpoint(t.Context(), conn, stream); err != nil || ok {
		t.Fatalf("ReadCheckpoint of no stream: found %v, %v; want none", ok, err)
	}
	for _, commit := range []uint64{100, 120, 151, 148} { // 148: a stale save written last
		data, err := json.Marshal(publisher.Position{Commit: commit, Prepare: commit})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Append(t.Context(), stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}},
			esdb.EventData{EventType: publisher.CheckpointEventType, ContentType: esdb.ContentTypeJson, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	pos, ok, err := publisher.ReadCheckpoint(t.Context(), conn, stream)
	if err != nil || !ok || pos.Commit != 151 {
		t.Errorf("ReadCheckpoint = %+v (found %v, %v); want commit 151, the furthest", pos, ok, err)
	}
}
