package eventstore_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
)

func TestSmoke(t *testing.T) {
	srv := eventstoretest.Start(t, eventstore.Config{})
	c := srv.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{}})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	res, err := c.AppendToStream(ctx, "s-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}},
		esdb.EventData{EventID: uuid.New(), EventType: "A", ContentType: esdb.ContentTypeJson, Data: []byte(`{"a":1}`)},
		esdb.EventData{EventID: uuid.New(), EventType: "B", ContentType: esdb.ContentTypeJson, Data: []byte(`{"b":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("append: %+v", res)
	_, err = c.AppendToStream(ctx, "s-1", esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}},
		esdb.EventData{EventType: "A", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)})
	var esErr *esdb.Error
	if !errors.As(err, &esErr) || esErr.Code() != esdb.ErrorCodeWrongExpectedVersion {
		t.Fatalf("want wrong expected version, got %v", err)
	}
	rs, err := c.ReadStream(ctx, "s-1", esdb.ReadStreamOptions{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("read %s %d %s %v", e.Event.EventType, e.Event.EventNumber, e.Event.CreatedDate, e.Event.Position)
	}
	rs.Close()
	for i := 0; i < 3; i++ {
		ev := sub.Recv()
		switch {
		case ev.EventAppeared != nil:
			t.Logf("sub event %s", ev.EventAppeared.Event.EventType)
		case ev.CaughtUp != nil:
			t.Logf("sub caught up")
		case ev.SubscriptionDropped != nil:
			t.Fatalf("dropped: %v", ev.SubscriptionDropped.Error)
		}
	}
	_, err = c.ReadStream(ctx, "nope", esdb.ReadStreamOptions{}, 10)
	t.Logf("read nope: %v", err)
}
