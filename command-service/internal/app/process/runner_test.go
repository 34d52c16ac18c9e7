package process_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/loanflow/loans/command-service/internal/app/command"
	"github.com/loanflow/loans/command-service/internal/app/process"
	"github.com/loanflow/loans/command-service/internal/domain"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// fakeLog delivers a fixed list of events and records checkpoints and
// parked events; parkErr makes Park fail.
type fakeLog struct {
	events []process.Recorded

	mu         sync.Mutex
	checkpoint process.Position
	parked     []process.Parked
	parkErr    error
	parkCalls  int
}

type fakeSub struct {
	ctx    context.Context
	events []process.Recorded
}

func (s *fakeSub) Next() (process.Delivery, error) {
	if len(s.events) == 0 {
		<-s.ctx.Done() // live: nothing more comes
		return process.Delivery{}, s.ctx.Err()
	}
	e := s.events[0]
	s.events = s.events[1:]
	return process.Delivery{Event: &e, Position: e.Position}, nil
}

func (s *fakeSub) Close() {}

func (l *fakeLog) Subscribe(ctx context.Context, from process.Position, _ []string) (process.Subscription, error) {
	var after []process.Recorded
	for _, e := range l.events {
		if e.Position.Commit > from.Commit {
			after = append(after, e)
		}
	}
	return &fakeSub{ctx: ctx, events: after}, nil
}

func (l *fakeLog) Checkpoint(context.Context, string) (process.Position, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpoint, nil
}

func (l *fakeLog) SaveCheckpoint(_ context.Context, _ string, at process.Position) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checkpoint = at
	return nil
}

func (l *fakeLog) Park(_ context.Context, p process.Parked) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.parkCalls++
	if l.parkErr != nil {
		return false, l.parkErr
	}
	l.parked = append(l.parked, p)
	return true, nil
}

func (l *fakeLog) Parked(context.Context, string) ([]process.Parked, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.parked), nil
}

func (l *fakeLog) Resolve(context.Context, process.Parked) error { return nil }

func (l *fakeLog) Read(context.Context, string, uint64) (process.Recorded, error) {
	return process.Recorded{}, errors.New("not here")
}

func (l *fakeLog) state() (process.Position, []process.Parked, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkpoint, slices.Clone(l.parked), l.parkCalls
}

// submitted is a stored LoanRequestSubmitted at a position.
func submitted(position uint64) process.Recorded {
	data, _ := protojson.Marshal(&loansv1.LoanRequestSubmitted{LoanApplicationUuid: uuid.NewString(), Amount: 1000, Duration: 12, Applicant: "a"})
	return process.Recorded{ID: uuid.New(), Type: loanevents.TypeLoanRequestSubmitted, Stream: "loanRequest-x", Revision: 1,
		Position: process.Position{Commit: position, Prepare: position}, Data: data}
}

// handled records the events a manager handled.
type handled struct {
	mu  sync.Mutex
	ids []uuid.UUID
}

func (h *handled) add(id uuid.UUID) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids = append(h.ids, id)
}

func (h *handled) has(id uuid.UUID) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.ids, id)
}

// run runs a runner until done holds (or 10 s pass), then stops it and
// waits for it.
func run(t *testing.T, log process.Log, m process.Manager, done func() (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = process.NewRunner(log, m, slog.New(slog.NewTextHandler(io.Discard, nil))).Run(ctx)
	}()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, why := done()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			<-stopped
			t.Fatalf("after 10 s: %s", why)
		}
		<-tick.C
	}
	cancel()
	<-stopped
}

func TestRunner_FailuresOfTheMoment_RetriedNeverParked(t *testing.T) {
	first, second := submitted(10), submitted(20)
	log := &fakeLog{events: []process.Recorded{first, second}}
	var h handled
	failures := 0
	m := process.Manager{Name: "test", EventTypes: []string{loanevents.TypeLoanRequestSubmitted},
		Handle: func(_ context.Context, e process.Event) error {
			if e.ID == first.ID && failures < 3 {
				failures++
				return fmt.Errorf("issue: %w", command.ErrStoreUnavailable)
			}
			h.add(e.ID)
			return nil
		}}
	run(t, log, m, func() (bool, string) { return h.has(second.ID), "the second event was never handled" })
	cp, parked, _ := log.state()
	if len(parked) != 0 || failures != 3 || !h.has(first.ID) {
		t.Fatalf("parked %v after %d failures (first handled: %v); want the first event retried until handled, nothing parked", parked, failures, h.has(first.ID))
	}
	if cp != second.Position {
		t.Fatalf("checkpoint at %v; want %v (the last event)", cp, second.Position)
	}
}

func TestRunner_WhatCannotBeHandled_IsParked_AndTheManagerGoesOn(t *testing.T) {
	undecodable := submitted(10)
	undecodable.Data = []byte(`{"loanApplicationUuid": 12`)
	refused, failing, fine := submitted(20), submitted(30), submitted(40)
	log := &fakeLog{events: []process.Recorded{undecodable, refused, failing, fine}}
	var h handled
	m := process.Manager{Name: "test", EventTypes: []string{loanevents.TypeLoanRequestSubmitted},
		Handle: func(_ context.Context, e process.Event) error {
			switch e.ID {
			case refused.ID:
				return &domain.Error{Kind: domain.KindAlreadyExists, Reason: domain.ReasonLoanReviewAlreadyIssued, Message: "issued already"}
			case failing.ID:
				return errors.New("a bug")
			}
			h.add(e.ID)
			return nil
		}}
	run(t, log, m, func() (bool, string) { return h.has(fine.ID), "the last event was never handled" })
	cp, parked, _ := log.state()
	var ids []uuid.UUID
	for _, p := range parked {
		ids = append(ids, p.EventID)
		if p.Manager != "test" || p.EventType != loanevents.TypeLoanRequestSubmitted || p.Stream != "loanRequest-x" || p.Error == "" || p.ParkedAt.IsZero() {
			t.Errorf("parked record %+v lacks what operators need", p)
		}
	}
	if !slices.Equal(ids, []uuid.UUID{undecodable.ID, refused.ID, failing.ID}) {
		t.Fatalf("parked %v; want the undecodable, the refused and the failing events, in order", ids)
	}
	if cp != fine.Position {
		t.Fatalf("checkpoint at %v; want %v", cp, fine.Position)
	}
}

// While an event can be neither handled nor parked (the store is away), the
// checkpoint does not move past it: a restart delivers it again.
func TestRunner_CheckpointWaitsForTheParking(t *testing.T) {
	before, poison := submitted(10), submitted(20)
	poison.Data = []byte(`not json`)
	log := &fakeLog{events: []process.Recorded{before, poison}, parkErr: command.ErrStoreUnavailable}
	m := process.Manager{Name: "test", EventTypes: []string{loanevents.TypeLoanRequestSubmitted},
		Handle: func(context.Context, process.Event) error { return nil }}
	run(t, log, m, func() (bool, string) {
		_, _, calls := log.state()
		return calls >= 2, "Park was not tried again"
	})
	cp, parked, _ := log.state()
	if len(parked) != 0 || cp != before.Position {
		t.Fatalf("checkpoint at %v with %d parked; want %v (before the event that could not be parked)", cp, len(parked), before.Position)
	}
}
