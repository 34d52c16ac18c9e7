package main

import (
	"strings"
	"testing"
	"time"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/readmodel"
)

// given builds a store view from events, as readStore would.
func given(evs ...*storedEvent) *storeView {
	v := &storeView{byCommand: map[string][]*storedEvent{}, byApp: map[string][]*storedEvent{}, parked: map[string][]string{}}
	for i, e := range evs {
		e.Position = uint64(i + 1)
		v.events = append(v.events, e)
		v.byCommand[e.Meta.CommandID] = append(v.byCommand[e.Meta.CommandID], e)
		if _, ok := v.byApp[e.App]; !ok {
			v.apps = append(v.apps, e.App)
		}
		v.byApp[e.App] = append(v.byApp[e.App], e)
	}
	return v
}

func ev(app, typ, stream, command string, revision uint64) *storedEvent {
	return &storedEvent{Type: typ, Stream: stream + app, App: app, Revision: revision, Meta: loanevents.Metadata{CommandID: command}}
}

func acked(id, app, stream string, revision, position uint64) *commandRecord {
	return &commandRecord{ID: id, Type: "RequestLoan", App: app, User: "ada", Attempts: 2, Outcome: acknowledged,
		Result: &loansv1.CommandResult{Stream: stream + app, StreamRevision: revision, CommitPosition: position}}
}

func TestCheckCommands(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		v := given(ev("a", loanevents.TypeLoanRequested, "loanRequest-", "c1", 0))
		f, tl := &findings{}, &tally{}
		checkCommands(&ledger{commands: []*commandRecord{acked("c1", "a", "loanRequest-", 0, 1)}}, v, f, tl)
		if f.failed() || tl.acknowledged != 1 || tl.lost != 0 || tl.duplicated != 0 {
			t.Fatalf("got %+v, %+v", tl, f.details)
		}
	})
	t.Run("Lost", func(t *testing.T) {
		f, tl := &findings{}, &tally{}
		checkCommands(&ledger{commands: []*commandRecord{acked("c1", "a", "loanRequest-", 0, 7)}}, given(), f, tl)
		if tl.lost != 1 || !strings.Contains(strings.Join(f.details[f.order[0]], ""), "c1") {
			t.Fatalf("got %+v, %+v", tl, f.details)
		}
	})
	t.Run("Duplicated", func(t *testing.T) {
		v := given(ev("a", loanevents.TypeLoanRequested, "loanRequest-", "c1", 0), ev("a", loanevents.TypeLoanRequested, "loanRequest-", "c1", 1))
		f, tl := &findings{}, &tally{}
		checkCommands(&ledger{commands: []*commandRecord{acked("c1", "a", "loanRequest-", 1, 2)}}, v, f, tl)
		if tl.duplicated != 1 {
			t.Fatalf("got %+v, %+v", tl, f.details)
		}
	})
	t.Run("ReplyElsewhere", func(t *testing.T) {
		v := given(ev("a", loanevents.TypeLoanRequested, "loanRequest-", "c1", 0))
		f, tl := &findings{}, &tally{}
		checkCommands(&ledger{commands: []*commandRecord{acked("c1", "a", "loanRequest-", 0, 9)}}, v, f, tl)
		if !f.failed() || tl.lost != 0 {
			t.Fatalf("a reply naming another position must fail: %+v, %+v", tl, f.details)
		}
	})
	t.Run("RefusedYetApplied", func(t *testing.T) {
		v := given(ev("a", loanevents.TypeLoanRequested, "loanRequest-", "c1", 0))
		f, tl := &findings{}, &tally{}
		rec := &commandRecord{ID: "c1", Type: "RequestLoan", App: "a", Attempts: 1, Outcome: refused, Reason: "AMOUNT_IS_TOO_LOW"}
		checkCommands(&ledger{commands: []*commandRecord{rec}}, v, f, tl)
		if !f.failed() || tl.acknowledged != 0 {
			t.Fatalf("a refusal at the first attempt with events must fail: %+v, %+v", tl, f.details)
		}
	})
	t.Run("RefusedAfterRetryIsANote", func(t *testing.T) {
		v := given(ev("a", loanevents.TypeLoanRequested, "loanRequest-", "c1", 0))
		f, tl := &findings{}, &tally{}
		rec := &commandRecord{ID: "c1", Type: "RequestLoan", App: "a", Attempts: 2, Retries: []string{"Unavailable "}, Outcome: refused}
		checkCommands(&ledger{commands: []*commandRecord{rec}}, v, f, tl)
		if f.failed() || len(f.notes) != 1 {
			t.Fatalf("got %+v, notes %v", f.details, f.notes)
		}
	})
}

func TestCheckFollowUps(t *testing.T) {
	t.Run("MissingReviewIsLost", func(t *testing.T) {
		v := given(ev("a", loanevents.TypeLoanRequested, "loanRequest-", "c1", 0), ev("a", loanevents.TypeLoanRequestSubmitted, "loanRequest-", "c2", 1))
		f, tl := &findings{}, &tally{}
		checkFollowUps(v, f, tl)
		if tl.lost != 1 || !strings.Contains(f.details[f.order[0]][0], "no LoanReviewIssued in loanReview-a") {
			t.Fatalf("got %+v, %+v", tl, f.details)
		}
	})
	t.Run("SecondContractIsDuplicated", func(t *testing.T) {
		v := given(ev("a", loanevents.TypeLoanApproved, "loanReview-", "c1", 1),
			ev("a", loanevents.TypeLoanContractIssued, "loanContract-", "p1", 0), ev("a", loanevents.TypeLoanContractIssued, "loanContract-", "p2", 1))
		f, tl := &findings{}, &tally{}
		checkFollowUps(v, f, tl)
		if tl.duplicated != 1 || tl.lost != 0 {
			t.Fatalf("got %+v, %+v", tl, f.details)
		}
	})
	t.Run("Complete", func(t *testing.T) {
		v := given(ev("a", loanevents.TypeLoanRequestSubmitted, "loanRequest-", "c1", 1), ev("a", loanevents.TypeLoanReviewIssued, "loanReview-", "p1", 0))
		f, tl := &findings{}, &tally{}
		checkFollowUps(v, f, tl)
		if f.failed() || v.followUpsPending() != 0 {
			t.Fatalf("got %+v", f.details)
		}
	})
}

func TestCheckDuplicates_ProcessManagerCommandTwice(t *testing.T) {
	v := given(ev("a", loanevents.TypeLoanReviewIssued, "loanReview-", "p1", 0), ev("a", loanevents.TypeLoanReviewIssued, "loanReview-", "p1", 1))
	f, tl := &findings{}, &tally{}
	checkDuplicates(&ledger{}, v, f, tl)
	if tl.duplicated != 1 {
		t.Fatalf("got %+v, %+v", tl, f.details)
	}
}

func TestDiffFields(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := readmodel.DailyStats{Day: "2026-12-01", DecisionSecondsTotal: 0.1 + 0.2}
	b := readmodel.DailyStats{Day: "2026-12-01", DecisionSecondsTotal: 0.3}
	if d := diffFields("stats", "live", "replay", a, b); len(d) != 0 {
		t.Fatalf("sums equal but for rounding must match: %v", d)
	}
	b.DeniedCount = 1
	if d := diffFields("stats", "live", "replay", a, b); len(d) != 1 || !strings.Contains(d[0], "DeniedCount live 0, replay 1") {
		t.Fatalf("got %v", d)
	}
	x := readmodel.Application{ID: "a", UpdatedAt: at}
	y := readmodel.Application{ID: "a", UpdatedAt: at.In(time.FixedZone("x", 3600))}
	if d := diffFields("application", "live", "replay", x, y); len(d) != 0 {
		t.Fatalf("the same instant must match: %v", d)
	}
}

func TestCheckReads(t *testing.T) {
	f := &findings{}
	checkReads(&ledger{reads: []readRecord{
		{App: "a", Want: "LOAN_STATUS_SIGNED", Got: "LOAN_STATUS_SIGNED", Token: 5},
		{App: "b", Want: "LOAN_STATUS_SIGNED", Got: "LOAN_STATUS_PENDING_SIGNATURE", Token: 6},
		{App: "c", Want: "LOAN_STATUS_DENIED", Err: "Unavailable READ_MODEL_BEHIND: behind", Token: 7},
		{App: "d", Want: "LOAN_STATUS_DENIED", Err: "Unavailable READ_MODEL_BEHIND: behind", Token: 8, TimedOut: true},
	}}, f)
	if len(f.order) != 2 || !strings.Contains(f.details[f.order[0]][0], "application b") ||
		!strings.Contains(f.details[f.order[1]][0], "application d") || len(f.notes) != 1 {
		t.Fatalf("got %+v, notes %v", f.details, f.notes)
	}
}
