package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/adapters/eventstore"
	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/command-service/internal/domain"
	devstore "github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/platform/loanevents"
)

// park appends a submission to a stream and a parked record for it, as the
// review manager writes them.
func park(t *testing.T, es *esdb.Client, data string) process.Parked {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream := domain.LoanRequestStream(uuid.New())
	id := uuid.New()
	res, err := es.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{},
		esdb.EventData{EventID: id, EventType: loanevents.TypeLoanRequestSubmitted, ContentType: esdb.ContentTypeJson, Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	p := process.Parked{Manager: "loanReview", EventID: id, EventType: loanevents.TypeLoanRequestSubmitted, Stream: stream,
		Revision: res.NextExpectedVersion, Position: process.Position{Commit: res.CommitPosition, Prepare: res.PreparePosition},
		Error: "the event store was away too long", ParkedAt: time.Now().UTC()}
	record, _ := json.Marshal(p)
	if _, err := es.AppendToStream(ctx, eventstore.ParkedStream("loanReview"), esdb.AppendToStreamOptions{},
		esdb.EventData{EventType: eventstore.ParkedEventType, ContentType: esdb.ContentTypeJson, Data: record}); err != nil {
		t.Fatal(err)
	}
	return p
}

// lines decodes JSON lines.
func lines[T any](t *testing.T, out *bytes.Buffer) []T {
	t.Helper()
	var got []T
	dec := json.NewDecoder(out)
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("output is not JSON lines: %v", err)
		}
		got = append(got, v)
	}
	return got
}

func TestParkedSubcommands(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	es := store.Client(t)
	poison := park(t, es, `{"loanApplicationUuid":"not-a-uuid"}`)
	fixable := park(t, es, `{"loanApplicationUuid":"`+uuid.NewString()+`","amount":"1000","duration":12,"applicant":"ada"}`)
	flags := []string{"-eventstore", store.ConnectionString, "-log-level", "error"}

	t.Run("parked lists them as JSON lines", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(append([]string{"parked"}, flags...), &out); err != nil {
			t.Fatalf("parked: %v", err)
		}
		got := lines[process.Parked](t, &out)
		if len(got) != 2 || got[0].EventID != poison.EventID || got[1].EventID != fixable.EventID ||
			got[0].Stream != poison.Stream || got[0].Position != poison.Position || got[0].Error != poison.Error {
			t.Fatalf("parked printed %+v; want the two parked events in order", got)
		}
	})
	t.Run("-manager picks one manager", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(append([]string{"parked", "-manager", "loanContract"}, flags...), &out); err != nil || out.Len() != 0 {
			t.Fatalf("parked -manager loanContract: %v, %q; want nothing", err, out.String())
		}
		if err := run(append([]string{"parked", "-manager", "loanReviews"}, flags...), &out); err == nil || !strings.Contains(err.Error(), "loanReview") {
			t.Fatalf("parked -manager loanReviews: %v; want an error naming the managers", err)
		}
	})
	t.Run("replay-parked resolves what now succeeds and exits 3 for the rest", func(t *testing.T) {
		var out bytes.Buffer
		err := run(append([]string{"replay-parked", "-manager", "loanReview"}, flags...), &out)
		if !errors.Is(err, errStillParked) {
			t.Fatalf("replay-parked: %v; want errStillParked (exit status 3)", err)
		}
		got := lines[replayOutcome](t, &out)
		if len(got) != 2 || got[0].EventID != poison.EventID.String() || got[0].Resolved || !strings.Contains(got[0].Error, "no valid application") ||
			got[1].EventID != fixable.EventID.String() || !got[1].Resolved || got[1].Error != "" {
			t.Fatalf("replay-parked printed %+v; want the poison event still failing, the other resolved", got)
		}
		out.Reset()
		if err := run(append([]string{"parked"}, flags...), &out); err != nil {
			t.Fatal(err)
		}
		if left := lines[process.Parked](t, &out); len(left) != 1 || left[0].EventID != poison.EventID {
			t.Fatalf("parked after the replay: %+v; want the poison event only", left)
		}
	})
	t.Run("replay-parked with nothing to do exits 0", func(t *testing.T) {
		var out bytes.Buffer
		if err := run(append([]string{"replay-parked", "-manager", "loanContract"}, flags...), &out); err != nil || out.Len() != 0 {
			t.Fatalf("replay-parked -manager loanContract: %v, %q", err, out.String())
		}
	})
}

// The service's own flags stay as they were: a subcommand is only one of
// the names above, and a flag is not taken for one.
func TestServe_RefusesMalformedCacheBytes(t *testing.T) {
	t.Setenv("COMMAND_STREAM_CACHE_BYTES", "lots")
	err := run([]string{"-oidc-issuer-url", "http://127.0.0.1:1", "-oidc-audience", "x"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "COMMAND_STREAM_CACHE_BYTES") {
		t.Fatalf("run with COMMAND_STREAM_CACHE_BYTES=lots: %v; want an error naming it", err)
	}
}
