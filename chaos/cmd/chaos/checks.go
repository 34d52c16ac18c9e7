package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/metadata"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/readmodel"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
)

// storedEvent is a loan event as the event store holds it.
type storedEvent struct {
	ID, Type, Stream string
	App              string // the application, from the stream name
	Revision         uint64
	Position         uint64 // commit position in $all
	Meta             loanevents.Metadata
}

func (e *storedEvent) String() string {
	return fmt.Sprintf("%s %s@%d (position %d, command %s by %s)", e.Type, e.Stream, e.Revision, e.Position, e.Meta.CommandID, e.Meta.Actor)
}

// storeView is $all read once, from the start, through the official client.
type storeView struct {
	events    []*storedEvent            // loan events, in $all order
	byCommand map[string][]*storedEvent // by metadata command_id
	byApp     map[string][]*storedEvent
	apps      []string            // in order of first event
	parked    map[string][]string // process managers' parked streams: stream → its events
	undecoded []string            // loan events whose metadata does not decode
	total     int                 // every event, system ones included
	lastLoan  uint64              // position of the last loan event
	minDay    string              // first and last UTC day of the loan events
	maxDay    string
}

// loanStreamPrefixes are the loan aggregates' streams: <prefix><uuid>.
var loanStreamPrefixes = []string{"loanRequest-", "loanReview-", "loanContract-"}

// dialEventStore opens the official client. Discovery is told to keep trying
// (the default gives up after ten attempts and leaves the client dead).
func dialEventStore(addr string) (*esdb.Client, error) {
	cfg, err := esdb.ParseConnectionString("esdb://" + addr + "?tls=false&maxDiscoverAttempts=1000")
	if err != nil {
		return nil, err
	}
	cfg.Logger = esdb.NoopLogging()
	return esdb.NewClient(cfg)
}

// bounded runs fn until it returns or ctx ends: the official client may
// block a call without looking at its context while it rediscovers the
// server (see command-service/internal/adapters/eventstore/bounded.go).
func bounded[T any](ctx context.Context, fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := fn()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// readStore reads all of $all.
func readStore(ctx context.Context, client *esdb.Client) (*storeView, error) {
	return bounded(ctx, func() (*storeView, error) {
		deadline := 2 * time.Minute
		rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Forwards, Deadline: &deadline}, math.MaxInt64)
		if err != nil {
			return nil, fmt.Errorf("read $all: %w", err)
		}
		defer rs.Close()
		v := &storeView{byCommand: map[string][]*storedEvent{}, byApp: map[string][]*storedEvent{}, parked: map[string][]string{}}
		for {
			re, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return v, nil
			}
			if err != nil {
				return nil, fmt.Errorf("read $all after %d events: %w", v.total, err)
			}
			v.add(re.Event)
		}
	})
}

func (v *storeView) add(re *esdb.RecordedEvent) {
	v.total++
	if strings.HasPrefix(re.StreamID, "processManager-") && strings.HasSuffix(re.StreamID, "-parked") {
		v.parked[re.StreamID] = append(v.parked[re.StreamID], fmt.Sprintf("%s at position %d: %.300s", re.EventType, re.Position.Commit, re.UserMetadata))
		return
	}
	if !loanevents.IsKnown(re.EventType) {
		return
	}
	e := &storedEvent{ID: re.EventID.String(), Type: re.EventType, Stream: re.StreamID, Revision: re.EventNumber, Position: re.Position.Commit}
	for _, p := range loanStreamPrefixes {
		if app, ok := strings.CutPrefix(re.StreamID, p); ok {
			e.App = app
		}
	}
	md, err := loanevents.UnmarshalMetadata(re.UserMetadata)
	if err != nil {
		v.undecoded = append(v.undecoded, fmt.Sprintf("%s: %v", e, err))
	}
	e.Meta = md
	v.events = append(v.events, e)
	v.byCommand[md.CommandID] = append(v.byCommand[md.CommandID], e)
	if _, seen := v.byApp[e.App]; !seen {
		v.apps = append(v.apps, e.App)
	}
	v.byApp[e.App] = append(v.byApp[e.App], e)
	v.lastLoan = e.Position
	if !md.OccurredAt.IsZero() {
		day := md.OccurredAt.UTC().Format("2006-01-02")
		if v.minDay == "" || day < v.minDay {
			v.minDay = day
		}
		if day > v.maxDay {
			v.maxDay = day
		}
	}
}

// count is how many events of a type an application has.
func (v *storeView) count(app, typ string) (n int, first *storedEvent) {
	for _, e := range v.byApp[app] {
		if e.Type == typ {
			if n == 0 {
				first = e
			}
			n++
		}
	}
	return n, first
}

// followUpsPending counts the submissions without a review and approvals
// without a contract: the process managers' work not done (yet).
func (v *storeView) followUpsPending() int {
	n := 0
	for _, app := range v.apps {
		if s, _ := v.count(app, loanevents.TypeLoanRequestSubmitted); s > 0 {
			if r, _ := v.count(app, loanevents.TypeLoanReviewIssued); r == 0 {
				n++
			}
		}
		if a, _ := v.count(app, loanevents.TypeLoanApproved); a > 0 {
			if c, _ := v.count(app, loanevents.TypeLoanContractIssued); c == 0 {
				n++
			}
		}
	}
	return n
}

// lastLoanPosition reads $all backwards to its last loan event.
func lastLoanPosition(ctx context.Context, client *esdb.Client) (head, lastLoan uint64, err error) {
	type pair struct{ head, last uint64 }
	p, err := bounded(ctx, func() (pair, error) {
		deadline := 10 * time.Second
		rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.End{}, Direction: esdb.Backwards, Deadline: &deadline}, 1000)
		if err != nil {
			return pair{}, err
		}
		defer rs.Close()
		var p pair
		for {
			re, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return p, nil
			}
			if err != nil {
				return p, err
			}
			if p.head == 0 {
				p.head = re.Event.Position.Commit
			}
			if loanevents.IsKnown(re.Event.EventType) {
				p.last = re.Event.Position.Commit
				return p, nil
			}
		}
	})
	return p.head, p.last, err
}

// settle waits, within timeout, for the system to come to rest once the
// load has stopped: the head of $all unchanged for a few seconds (the
// process managers done), every submission reviewed and every approval
// contracted, and the read model's checkpoint at the last loan event. It
// returns the final view of the store and, if it did not settle, why.
func settle(ctx context.Context, client *esdb.Client, live readmodel.Reader, timeout time.Duration) (*storeView, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	const quiet = 3 * time.Second
	var (
		lastHead   uint64
		headSince  time.Time
		why        string
		tick       = time.NewTicker(500 * time.Millisecond)
		fullReadAt uint64 // the head the last full read saw: read again only after a change
		view       *storeView
	)
	defer tick.Stop()
	for {
		head, lastLoan, err := lastLoanPosition(ctx, client)
		switch {
		case err != nil && ctx.Err() != nil:
			// The deadline ended this call: keep the reason seen before.
		case err != nil:
			why = fmt.Sprintf("cannot read the head of $all: %v", err)
		case head != lastHead || headSince.IsZero():
			lastHead, headSince = head, time.Now()
			why = "the head of $all is still moving"
		case time.Since(headSince) < quiet:
			why = "the head of $all is still moving"
		default:
			pos, err := live.Position(ctx)
			if err != nil && ctx.Err() != nil {
				break
			}
			if err != nil {
				why = fmt.Sprintf("cannot read the read model's position: %v", err)
				break
			}
			if pos < lastLoan {
				why = fmt.Sprintf("the read model's checkpoint is at %d, the last loan event at %d", pos, lastLoan)
				break
			}
			if view == nil || fullReadAt != head {
				if view, err = readStore(ctx, client); err != nil {
					why = err.Error()
					break
				}
				fullReadAt = head
			}
			if n := view.followUpsPending(); n > 0 {
				why = fmt.Sprintf("%d submissions or approvals still lack their review or contract", n)
				break
			}
			return view, "", nil
		}
		select {
		case <-ctx.Done():
			// Not settled: check what is there, with a fresh context.
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer rcancel()
			view, err := readStore(rctx, client)
			return view, fmt.Sprintf("did not settle within %v: %s", timeout, why), err
		case <-tick.C:
		}
	}
}

// findings are the checks' results: each failed check with its details, in
// the order the checks ran, and notes that fail nothing.
type findings struct {
	order   []string
	details map[string][]string
	notes   []string
}

func (f *findings) fail(check, format string, args ...any) {
	if f.details == nil {
		f.details = map[string][]string{}
	}
	if _, ok := f.details[check]; !ok {
		f.order = append(f.order, check)
	}
	f.details[check] = append(f.details[check], fmt.Sprintf(format, args...))
}

func (f *findings) note(format string, args ...any) {
	f.notes = append(f.notes, fmt.Sprintf(format, args...))
}

func (f *findings) failed() bool { return len(f.order) > 0 }

// tally is what the final line counts.
type tally struct {
	acknowledged, lost, duplicated int
}

// checkCommands holds every command the users sent against the store: an
// acknowledged command's events exist exactly once, where its reply said;
// a refused one appended nothing.
func checkCommands(l *ledger, v *storeView, f *findings, t *tally) {
	var unknowns int
	for _, rec := range l.commands {
		evs := v.byCommand[rec.ID]
		switch rec.Outcome {
		case acknowledged:
			t.acknowledged++
			res := rec.Result
			if len(evs) == 0 {
				t.lost++
				f.fail("lost: acknowledged commands without their events",
					"%s: acknowledged with %s revision %d at position %d; no event in the store carries this command_id", rec, res.GetStream(), res.GetStreamRevision(), res.GetCommitPosition())
				continue
			}
			if dup := repeatedTypes(evs); dup != "" {
				t.duplicated++
				f.fail("duplicated: acknowledged commands whose events are stored twice", "%s: %s: %s", rec, dup, joinEvents(evs))
			}
			last := evs[len(evs)-1]
			if last.Stream != res.GetStream() || last.Revision != res.GetStreamRevision() || last.Position != res.GetCommitPosition() {
				f.fail("replies that do not match the store",
					"%s: the reply said %s@%d position %d; the store has %s", rec, res.GetStream(), res.GetStreamRevision(), res.GetCommitPosition(), joinEvents(evs))
			}
		case refused:
			if len(evs) == 0 {
				continue
			}
			if len(rec.Retries) == 0 {
				f.fail("refused commands that were applied", "%s: refused %v %s (%s), yet the store has %s", rec, rec.Code, rec.Reason, rec.Message, joinEvents(evs))
			} else {
				// The first attempt may have been applied with its reply lost;
				// a retry is then answered with the first reply, so a refusal
				// here means the command ID's repeat was not recognised.
				f.note("%s: refused %v %s after a retry, though an earlier attempt was applied (%s)", rec, rec.Code, rec.Reason, joinEvents(evs))
			}
			if dup := repeatedTypes(evs); dup != "" {
				t.duplicated++
				f.fail("duplicated: commands whose events are stored twice", "%s: %s: %s", rec, dup, joinEvents(evs))
			}
		case unknown:
			unknowns++
			if dup := repeatedTypes(evs); dup != "" {
				t.duplicated++
				f.fail("duplicated: commands whose events are stored twice", "%s (outcome unknown to the client): %s: %s", rec, dup, joinEvents(evs))
			}
		}
	}
	if unknowns > 0 {
		f.note("%d commands gave up retrying (outcome unknown to the client; not counted as acknowledged)", unknowns)
	}
}

// checkFollowUps: every submission has exactly one review and every
// approval exactly one contract. A missing one is a process manager's
// command lost; an extra one (under another command ID) a duplicate.
func checkFollowUps(v *storeView, f *findings, t *tally) {
	pairs := []struct{ cause, effect, stream string }{
		{loanevents.TypeLoanRequestSubmitted, loanevents.TypeLoanReviewIssued, "loanReview-"},
		{loanevents.TypeLoanApproved, loanevents.TypeLoanContractIssued, "loanContract-"},
	}
	for _, app := range v.apps {
		for _, p := range pairs {
			causes, cause := v.count(app, p.cause)
			effects, _ := v.count(app, p.effect)
			switch {
			case causes > 0 && effects == 0:
				t.lost++
				f.fail("lost: "+p.cause+" without "+p.effect, "application %s: %s; no %s in %s%s", app, cause, p.effect, p.stream, app)
			case effects > 1:
				var ids []string
				for _, e := range v.byApp[app] {
					if e.Type == p.effect && !slices.Contains(ids, e.Meta.CommandID) {
						ids = append(ids, e.Meta.CommandID)
					}
				}
				t.duplicated += len(ids) - 1 // the same command ID twice is counted by checkDuplicates
				f.fail("duplicated: more than one "+p.effect, "application %s: %d %s events: %s", app, effects, p.effect, joinEvents(v.byApp[app]))
			}
		}
	}
}

// checkDuplicates: no command ID, whoever sent it (process managers
// included), left the same event type twice in a stream. Commands in the
// ledger were counted by checkCommands.
func checkDuplicates(l *ledger, v *storeView, f *findings, t *tally) {
	mine := map[string]bool{}
	for _, rec := range l.commands {
		mine[rec.ID] = true
	}
	for id, evs := range v.byCommand {
		if mine[id] {
			continue
		}
		if dup := repeatedTypes(evs); dup != "" {
			t.duplicated++
			f.fail("duplicated: process manager commands whose events are stored twice", "command %s (%s by %s): %s: %s",
				id, evs[0].Meta.CommandType, evs[0].Meta.Actor, dup, joinEvents(evs))
		}
	}
	for _, u := range v.undecoded {
		f.fail("loan events whose metadata does not decode", "%s", u)
	}
}

// repeatedTypes names an event type a command's events hold twice in one
// stream (every command here appends one event to one stream).
func repeatedTypes(evs []*storedEvent) string {
	seen := map[string]int{}
	for _, e := range evs {
		seen[e.Stream+" "+e.Type]++
	}
	for k, n := range seen {
		if n > 1 {
			return fmt.Sprintf("%s %d times", k, n)
		}
	}
	return ""
}

func joinEvents(evs []*storedEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.String())
	}
	return strings.Join(s, "; ")
}

// checkParked: no event is parked, neither by the projector (in the read
// model) nor by a process manager (processManager-<name>-parked).
func checkParked(ctx context.Context, v *storeView, stores map[string]readmodel.Writer, f *findings) {
	for name, st := range stores {
		parked, err := st.Parked(ctx)
		if err != nil {
			f.fail("parked events", "%s read model: cannot list parked events: %v", name, err)
			continue
		}
		for _, p := range parked {
			f.fail("parked events", "%s read model: position %d %s in %s (event %s) parked at %s: %s",
				name, p.Position, p.EventType, p.Stream, p.EventID, p.ParkedAt.Format(time.RFC3339), p.Error)
		}
	}
	for stream, evs := range v.parked {
		for _, e := range evs {
			f.fail("parked events", "%s: %s", stream, e)
		}
	}
}

// checkReads: every applicant's read with a consistency token showed the
// status their last command led to, and got an answer in time: a process
// is down for seconds at most, so a read still waiting after readBudget
// means the read model stalled (even if a later restart healed it).
func checkReads(l *ledger, f *findings) {
	var unanswered []readRecord
	for _, r := range l.reads {
		switch {
		case r.TimedOut:
			f.fail(fmt.Sprintf("the read model stalled: reads with a consistency token unanswered after %v", readBudget),
				"application %s: consistency token %d: %s", r.App, r.Token, r.Err)
		case r.Got != "" && r.Got != r.Want:
			f.fail("read-your-writes: a read with a consistency token showed an older state",
				"application %s: consistency token %d answered %s, want %s", r.App, r.Token, r.Got, r.Want)
		case r.Got == "" && strings.HasPrefix(r.Err, "NotFound"):
			f.fail("read-your-writes: a read with a consistency token showed an older state",
				"application %s: consistency token %d answered %s, want %s", r.App, r.Token, r.Err, r.Want)
		case r.Got == "":
			unanswered = append(unanswered, r)
		}
	}
	if len(unanswered) > 0 {
		f.note("%d of %d reads with a consistency token were cut short by the end of the load (first: application %s, token %d: %s)",
			len(unanswered), len(l.reads), unanswered[0].App, unanswered[0].Token, unanswered[0].Err)
	}
}

// statusAfter is the status an application's last event leaves it in.
var statusAfter = map[string]loansv1.LoanStatus{
	loanevents.TypeLoanRequested:        loansv1.LoanStatus_LOAN_STATUS_PENDING_SUBMISSION,
	loanevents.TypeLoanRequestSubmitted: loansv1.LoanStatus_LOAN_STATUS_SUBMITTED,
	loanevents.TypeLoanReviewIssued:     loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW,
	loanevents.TypeLoanApproved:         loansv1.LoanStatus_LOAN_STATUS_APPROVED,
	loanevents.TypeLoanDenied:           loansv1.LoanStatus_LOAN_STATUS_DENIED,
	loanevents.TypeLoanContractIssued:   loansv1.LoanStatus_LOAN_STATUS_PENDING_SIGNATURE,
	loanevents.TypeContractSigned:       loansv1.LoanStatus_LOAN_STATUS_SIGNED,
	loanevents.TypeContractRejected:     loansv1.LoanStatus_LOAN_STATUS_REJECTED,
}

// checkQueryService asks the query service, as ops (who may read
// everything), with the last loan event's position as consistency token,
// for every application and its history and for the statistics, and holds
// the answers against the event store.
func checkQueryService(ctx context.Context, q loansv1.LoanQueryServiceClient, accessToken string, v *storeView, f *findings) {
	const check = "query service answers that differ from the event store"
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+accessToken)
	// One query first: if the read model never reached the store's head,
	// every query with the token waits out its deadline; say it once.
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := q.GetLoanStatistics(pctx, &loansv1.GetLoanStatisticsRequest{FromDay: v.minDay, ToDay: v.maxDay, ConsistencyToken: v.lastLoan})
	cancel()
	if err != nil {
		f.fail(check, "GetLoanStatistics with consistency token %d (the last loan event): %v; per-application queries skipped", v.lastLoan, err)
		return
	}
	funnel := &loansv1.Funnel{}
	for _, app := range v.apps {
		evs := v.byApp[app]
		want := statusAfter[evs[len(evs)-1].Type]
		for _, e := range evs {
			switch e.Type {
			case loanevents.TypeLoanRequested:
				funnel.Requested++
			case loanevents.TypeLoanRequestSubmitted:
				funnel.Submitted++
			case loanevents.TypeLoanReviewIssued:
				funnel.ReviewIssued++
			case loanevents.TypeLoanApproved:
				funnel.Approved++
			case loanevents.TypeLoanDenied:
				funnel.Denied++
			case loanevents.TypeLoanContractIssued:
				funnel.ContractIssued++
			case loanevents.TypeContractSigned:
				funnel.Signed++
			case loanevents.TypeContractRejected:
				funnel.Rejected++
			}
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		got, err := q.GetLoanApplication(qctx, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: app, ConsistencyToken: v.lastLoan})
		cancel()
		switch {
		case err != nil:
			f.fail(check, "application %s: GetLoanApplication: %v (its last event: %s)", app, err, evs[len(evs)-1])
		case got.GetLoanApplication().GetStatus() != want:
			f.fail(check, "application %s: status %v, the store's last event %s says %v", app, got.GetLoanApplication().GetStatus(), evs[len(evs)-1], want)
		case got.GetLoanApplication().GetLastPosition() != evs[len(evs)-1].Position:
			f.fail(check, "application %s: last_position %d, the store's last event is at %d", app, got.GetLoanApplication().GetLastPosition(), evs[len(evs)-1].Position)
		}
		qctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		hist, err := q.GetLoanApplicationHistory(qctx, &loansv1.GetLoanApplicationHistoryRequest{LoanApplicationUuid: app, ConsistencyToken: v.lastLoan})
		cancel()
		if err != nil {
			f.fail(check, "application %s: GetLoanApplicationHistory: %v", app, err)
			continue
		}
		var gotPos, wantPos []uint64
		for _, h := range hist.GetEntries() {
			gotPos = append(gotPos, h.GetPosition())
		}
		for _, e := range evs {
			wantPos = append(wantPos, e.Position)
		}
		slices.Sort(wantPos)
		if !slices.Equal(gotPos, wantPos) {
			f.fail(check, "application %s: history at positions %v, the store has events at %v: %s", app, gotPos, wantPos, joinEvents(evs))
		}
	}
	if v.minDay == "" {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	stats, err := q.GetLoanStatistics(qctx, &loansv1.GetLoanStatisticsRequest{FromDay: v.minDay, ToDay: v.maxDay, ConsistencyToken: v.lastLoan})
	if err != nil {
		f.fail(check, "GetLoanStatistics %s..%s: %v", v.minDay, v.maxDay, err)
		return
	}
	if d := diffFields("funnel", "query service", "event store", stats.GetFunnel(), funnel); len(d) > 0 {
		f.fail(check, "statistics: %s", strings.Join(d, "; "))
	}
}

// compareReadModels holds the live read model against the fresh replay,
// field by field: every application (those in the store and those either
// read model lists), its history, and the statistics over the run's days.
func compareReadModels(ctx context.Context, live, replay readmodel.Reader, v *storeView) ([]string, error) {
	ids := slices.Clone(v.apps)
	for _, r := range []readmodel.Reader{live, replay} {
		listed, err := listAll(ctx, r)
		if err != nil {
			return nil, err
		}
		for _, id := range listed {
			if _, ok := v.byApp[id]; !ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	var diffs []string
	for _, id := range ids {
		a, errA := live.Get(ctx, id)
		b, errB := replay.Get(ctx, id)
		switch {
		case errA != nil || errB != nil:
			if !errors.Is(errA, readmodel.ErrNotFound) || !errors.Is(errB, readmodel.ErrNotFound) {
				diffs = append(diffs, fmt.Sprintf("application %s: live %v, replay %v", id, errText(errA), errText(errB)))
			}
		default:
			diffs = append(diffs, diffFields("application "+id, "live", "replay", a, b)...)
		}
		ha, err := live.History(ctx, id)
		if err != nil {
			return nil, err
		}
		hb, err := replay.History(ctx, id)
		if err != nil {
			return nil, err
		}
		if len(ha) != len(hb) {
			diffs = append(diffs, fmt.Sprintf("history of %s: live has %d entries %s, replay %d %s", id, len(ha), historyTypes(ha), len(hb), historyTypes(hb)))
			continue
		}
		for i := range ha {
			diffs = append(diffs, diffFields(fmt.Sprintf("history of %s, entry %d", id, i), "live", "replay", ha[i], hb[i])...)
		}
	}
	if v.minDay != "" {
		da, fa, err := live.Stats(ctx, v.minDay, v.maxDay)
		if err != nil {
			return nil, err
		}
		db, fb, err := replay.Stats(ctx, v.minDay, v.maxDay)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, diffFields("funnel", "live", "replay", fa, fb)...)
		if len(da) != len(db) {
			diffs = append(diffs, fmt.Sprintf("statistics: live has %d days, replay %d", len(da), len(db)))
		} else {
			for i := range da {
				diffs = append(diffs, diffFields("statistics of "+da[i].Day, "live", "replay", da[i], db[i])...)
			}
		}
	}
	return diffs, nil
}

func listAll(ctx context.Context, r readmodel.Reader) ([]string, error) {
	var ids []string
	page := readmodel.Page{Order: readmodel.OrderRequestedAtAsc, Size: readmodel.MaxPageSize}
	for range 1_000_000 { // bounded: a cursor that never ends is a bug, not a reason to hang
		items, next, err := r.List(ctx, readmodel.Filter{}, page)
		if err != nil {
			return nil, err
		}
		for _, a := range items {
			ids = append(ids, a.ID)
		}
		if next == "" {
			return ids, nil
		}
		page.Cursor = next
	}
	return nil, errors.New("list: too many pages")
}

func historyTypes(h []readmodel.HistoryEntry) string {
	var s []string
	for _, e := range h {
		s = append(s, fmt.Sprintf("%s@%d", e.EventType, e.Position))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func errText(err error) string {
	if err == nil {
		return "found"
	}
	return err.Error()
}

// diffFields compares two values of one struct type field by field (proto
// messages too, through their exported fields). Times compare as instants;
// floats with a relative tolerance of 1e-9, since a sum of the same numbers
// added in other batches may differ in its last bits.
func diffFields(what, nameA, nameB string, a, b any) []string {
	va, vb := reflect.Indirect(reflect.ValueOf(a)), reflect.Indirect(reflect.ValueOf(b))
	var out []string
	for i := range va.NumField() {
		field := va.Type().Field(i)
		if !field.IsExported() {
			continue
		}
		x, y := va.Field(i).Interface(), vb.Field(i).Interface()
		same := reflect.DeepEqual(x, y)
		switch xv := x.(type) {
		case time.Time:
			same = xv.Equal(y.(time.Time))
		case float64:
			yv := y.(float64)
			same = math.Abs(xv-yv) <= 1e-9*math.Max(math.Abs(xv), math.Abs(yv))
		case []byte:
			x, y = string(xv), string(y.([]byte)) // payloads print as JSON
		}
		if !same {
			out = append(out, fmt.Sprintf("%s: %s %s %s, %s %s", what, field.Name, nameA, show(x), nameB, show(y)))
		}
	}
	return out
}

// show prints a field's value, long texts (payloads) cut.
func show(x any) string {
	s := fmt.Sprint(x)
	if t, ok := x.(time.Time); ok {
		s = t.Format(time.RFC3339Nano)
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	if _, ok := x.(string); ok {
		s = strconv.Quote(s)
	}
	return s
}

// openReadModel opens a SQLite read model through the same adapter the
// services use.
func openReadModel(ctx context.Context, path string) (*sqlitestore.Store, error) {
	return sqlitestore.Open(ctx, path)
}

// positionWatch polls the read model's position, which consistency tokens
// are held against, all through the run: it must never go back (a rebuild
// activated too early, a checkpoint lost in a crash would make it).
type positionWatch struct {
	mu    sync.Mutex
	last  uint64
	backs []string
}

func (w *positionWatch) run(ctx context.Context, r readmodel.Reader, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if pos, err := r.Position(ctx); err == nil {
			w.mu.Lock()
			if pos < w.last {
				w.backs = append(w.backs, fmt.Sprintf("at %s the read model's position went back from %d to %d",
					time.Now().Format("15:04:05.000"), w.last, pos))
			}
			w.last = pos
			w.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *positionWatch) check(f *findings) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.backs {
		f.fail("readers went back in time", "%s", b)
	}
}
