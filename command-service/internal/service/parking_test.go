package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/adapters/eventstore"
	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/command-service/internal/service"
	devstore "github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// appendRaw appends one event as another writer might, bypassing the
// command service, and returns it as stored.
func appendRaw(t *testing.T, es *esdb.Client, stream, eventType string, data []byte, md loanevents.Metadata) storedEvent {
	t.Helper()
	meta, err := loanevents.MarshalMetadata(md)
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	res, err := es.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}},
		esdb.EventData{EventID: id, EventType: eventType, ContentType: esdb.ContentTypeJson, Data: data, Metadata: meta})
	if err != nil {
		t.Fatalf("append %s to %s: %v", eventType, stream, err)
	}
	return storedEvent{ID: id, Type: eventType, Revision: res.NextExpectedVersion, Position: res.CommitPosition}
}

func opsConfig(t *testing.T, connectionString string) service.Config {
	return service.Config{EventStore: connectionString, Logger: testLogger(t)}
}

// parkedOf lists a manager's unresolved parked events as operators see them.
func parkedOf(t *testing.T, connectionString, manager string) []process.Parked {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	list, err := service.ListParked(ctx, opsConfig(t, connectionString), manager)
	if err != nil {
		t.Fatalf("ListParked: %v", err)
	}
	return list
}

// awaitParked waits until a manager has parked the events (and no other).
func awaitParked(t *testing.T, connectionString, manager string, ids ...uuid.UUID) []process.Parked {
	t.Helper()
	var list []process.Parked
	eventually(t, asyncTimeout, func() (bool, string) {
		list = parkedOf(t, connectionString, manager)
		var got []uuid.UUID
		for _, p := range list {
			got = append(got, p.EventID)
		}
		return slices.Equal(got, ids), fmt.Sprintf("%s has parked %v; want %v", manager, got, ids)
	})
	return list
}

// recordsIn counts the events of a type in a stream.
func recordsIn(t *testing.T, es *esdb.Client, stream, eventType string) int {
	t.Helper()
	return count(readStream(t, es, stream), eventType)
}

// Events the review manager cannot handle (a payload that does not decode,
// an application UUID that is not one) are parked, logged with their IDs,
// and the manager goes on; a restart that delivers them again parks nothing
// twice.
func TestProcessManagers_PoisonEvents_AreParkedOnce(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	es := store.Client(t)
	logs, logger := newLogRecorder(t)
	svc := startService(t, store.ConnectionString, withLogger(logger))
	client := loansv1.NewLoanCommandServiceClient(dial(t, svc.GRPCAddr()))
	ctx := callCtx(t)

	undecodableStream, invalidStream := requestStream(newID()), requestStream(newID())
	undecodable := appendRaw(t, es, undecodableStream, loanevents.TypeLoanRequestSubmitted, []byte(`{"loanApplicationUuid": 12`), loanevents.Metadata{})
	invalid := appendRaw(t, es, invalidStream, loanevents.TypeLoanRequestSubmitted,
		[]byte(`{"loanApplicationUuid":"not-a-uuid","amount":"1000","duration":12,"applicant":"x"}`), loanevents.Metadata{CorrelationID: "c-1"})
	good := newID()
	if _, err := client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: good, Amount: anyAmount, Duration: anyDuration}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: good}); err != nil {
		t.Fatal(err)
	}
	awaitEventIn(t, es, reviewStream(good), loanevents.TypeLoanReviewIssued) // the manager went on

	parked := awaitParked(t, store.ConnectionString, "loanReview", undecodable.ID, invalid.ID)
	t.Run("the parked list says what and why", func(t *testing.T) {
		for i, want := range []struct {
			ev     storedEvent
			stream string
			why    string
		}{{undecodable, undecodableStream, "decode"}, {invalid, invalidStream, "no valid application"}} {
			p := parked[i]
			if p.Manager != "loanReview" || p.EventType != loanevents.TypeLoanRequestSubmitted || p.Stream != want.stream ||
				p.Revision != want.ev.Revision || p.Position.Commit != want.ev.Position || !strings.Contains(p.Error, want.why) ||
				time.Since(p.ParkedAt) > time.Minute {
				t.Errorf("parked %+v; want %s@%d at %d, error about %q", p, want.stream, want.ev.Revision, want.ev.Position, want.why)
			}
		}
	})
	t.Run("the parked stream is readable with any client", func(t *testing.T) {
		records := readStream(t, es, eventstore.ParkedStream("loanReview"))
		if len(records) != 2 || records[0].Type != eventstore.ParkedEventType {
			t.Fatalf("%s holds %v; want two %s", eventstore.ParkedStream("loanReview"), types(records), eventstore.ParkedEventType)
		}
	})
	t.Run("each parking is logged with the event's ID", func(t *testing.T) {
		for _, id := range []uuid.UUID{undecodable.ID, invalid.ID} {
			if !slices.ContainsFunc(logs.errors(), func(l string) bool { return strings.Contains(l, id.String()) && strings.Contains(l, "parked") }) {
				t.Errorf("no error logged for parking %s; errors: %v", id, logs.errors())
			}
		}
	})
	if got := parkedOf(t, store.ConnectionString, "loanContract"); len(got) != 0 {
		t.Fatalf("the contract manager parked %v", got)
	}

	// A restart from a checkpoint before the poison events (a crash before
	// it was saved) delivers them again.
	if err := svc.stop(10 * time.Second); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	appendRaw(t, es, eventstore.CheckpointStream("loanReview"), eventstore.CheckpointEventType, []byte(`{"commit":0,"prepare":0}`), loanevents.Metadata{})
	againLogs, againLogger := newLogRecorder(t)
	again := startService(t, store.ConnectionString, withLogger(againLogger))
	againClient := loansv1.NewLoanCommandServiceClient(dial(t, again.GRPCAddr()))
	barrier := newID()
	if _, err := againClient.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: barrier, Amount: anyAmount, Duration: anyDuration}); err != nil {
		t.Fatal(err)
	}
	if _, err := againClient.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: barrier}); err != nil {
		t.Fatal(err)
	}
	// Events are delivered in order: once the barrier is reviewed, the
	// poison events have been delivered again.
	awaitEventIn(t, es, reviewStream(barrier), loanevents.TypeLoanReviewIssued)
	if n := recordsIn(t, es, eventstore.ParkedStream("loanReview"), eventstore.ParkedEventType); n != 2 {
		t.Fatalf("after the restart %s holds %d parked records; want the same 2", eventstore.ParkedStream("loanReview"), n)
	}
	if errs := againLogs.errors(); len(errs) > 0 {
		t.Fatalf("the restarted service logged errors for events parked already:\n%s", strings.Join(errs, "\n"))
	}
	requireTypes(t, reviewStream(good), readStream(t, es, reviewStream(good)), loanevents.TypeLoanReviewIssued)
}

// A submission whose review is refused (a stray review already sits in its
// stream) is parked; replaying it changes nothing while the cause stays, and
// resolves it once an operator has removed the stray review.
func TestReplayParked_ResolvesOnceTheCauseIsFixed(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	es := store.Client(t)
	svc := startService(t, store.ConnectionString)
	client := loansv1.NewLoanCommandServiceClient(dial(t, svc.GRPCAddr()))
	ctx := callCtx(t)
	id := newID()

	stray, _ := json.Marshal(map[string]any{"loanApplicationUuid": id, "amount": "1", "duration": 3, "applicant": "someone-else"})
	appendRaw(t, es, reviewStream(id), loanevents.TypeLoanReviewIssued, stray, loanevents.Metadata{CommandID: newID(), Actor: "a migration"})
	if _, err := client.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration}); err != nil {
		t.Fatal(err)
	}
	submission, err := client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
	if err != nil {
		t.Fatal(err)
	}
	submitted := readStream(t, es, requestStream(id))[1]
	parked := awaitParked(t, store.ConnectionString, "loanReview", submitted.ID)
	if parked[0].Position.Commit != submission.GetResult().GetCommitPosition() || !strings.Contains(parked[0].Error, "LOAN_REVIEW_ALREADY_ISSUED") {
		t.Fatalf("parked %+v; want the submission at %d, refused LOAN_REVIEW_ALREADY_ISSUED", parked[0], submission.GetResult().GetCommitPosition())
	}

	replay := func() []process.ReplayOutcome {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		outcomes, err := service.ReplayParked(ctx, opsConfig(t, store.ConnectionString), "loanReview")
		if err != nil {
			t.Fatalf("ReplayParked: %v", err)
		}
		return outcomes
	}
	t.Run("while the cause stays, it stays parked", func(t *testing.T) {
		outcomes := replay()
		if len(outcomes) != 1 || outcomes[0].Err == nil || !strings.Contains(outcomes[0].Err.Error(), "LOAN_REVIEW_ALREADY_ISSUED") {
			t.Fatalf("replay: %+v; want the submission still refused", outcomes)
		}
		awaitParked(t, store.ConnectionString, "loanReview", submitted.ID)
	})

	// The operator removes the stray review (a soft delete).
	delCtx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := es.DeleteStream(delCtx, reviewStream(id), esdb.DeleteStreamOptions{ExpectedRevision: esdb.Any{}}); err != nil {
		t.Fatalf("delete the stray review: %v", err)
	}
	outcomes := replay()
	if len(outcomes) != 1 || outcomes[0].Err != nil || outcomes[0].Parked.EventID != submitted.ID {
		t.Fatalf("replay after the fix: %+v; want the submission handled", outcomes)
	}
	if got := parkedOf(t, store.ConnectionString, "loanReview"); len(got) != 0 {
		t.Fatalf("after a successful replay the parked list holds %v", got)
	}
	if n := recordsIn(t, es, eventstore.ParkedStream("loanReview"), eventstore.ResolvedEventType); n != 1 {
		t.Fatalf("%s holds %d resolutions; want 1", eventstore.ParkedStream("loanReview"), n)
	}
	review := readStream(t, es, reviewStream(id))
	if len(review) != 1 || review[0].Type != loanevents.TypeLoanReviewIssued || review[0].Meta.CausationID != submitted.ID.String() || review[0].Meta.Actor != reviewManager {
		t.Fatalf("%s holds %v; want the review issued by the manager for the submission %s", reviewStream(id), review, submitted.ID)
	}
	t.Run("a second replay has nothing to do", func(t *testing.T) {
		if outcomes := replay(); len(outcomes) != 0 {
			t.Fatalf("replay again: %+v; want nothing", outcomes)
		}
	})
}
