package mongostore_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/loanflow/loans/devstack/docstore/docstoretest"
	"github.com/loanflow/loans/platform/readmodel"
)

// The guide's MongoDB examples, run on the data of analystsBatch: the
// result each must give, as relaxed Extended JSON, keyed by the example's
// first comment line (or its call, where it has none). Only the fields
// named are compared (the collections read on the docstore have more than
// the views); numbers compare by value.
var analystsExpected = map[string]string{
	`db.meta.findOne()`: `[{"_id": "active_generation", "generation": 1}]`,
	"Applications per status, most first.": `[{"_id": "approved", "applications": 2},
		{"_id": "denied", "applications": 1}, {"_id": "submitted", "applications": 1}]`,
	"Amount per status.": `[{"_id": "approved", "amount": 150000},
		{"_id": "denied", "amount": 5000}, {"_id": "submitted", "amount": 8000}]`,
	"Both in one $group.": `[{"_id": "approved", "applications": 2, "amount": 150000},
		{"_id": "denied", "applications": 1, "amount": 5000}, {"_id": "submitted", "applications": 1, "amount": 8000}]`,
	"Applications requested in March 2026, newest first.": `[
		{"_id": "c", "loan_application_uuid": "c", "requested_at": {"$date": "2026-03-03T12:00:00Z"}},
		{"_id": "b", "loan_application_uuid": "b", "status": "denied"},
		{"_id": "6a1d2e1c-4a0e-4c57-9c1e-8a0b7b0e8e11", "amount": 120000, "duration": 36, "applicant": "ada",
		 "decided_at": {"$date": "2026-03-02T11:05:00Z"}, "submitted_at": {"$date": "2026-03-02T09:05:00Z"}}]`,
	"Denials by reason.": `[{"_id": "income too low", "denials": 1}]`,
	"Daily statistics of March 2026.": `[
		{"_id": "2026-03-02", "day": "2026-03-02", "requested_count": 1, "requested_amount": 120000, "submitted_count": 1,
		 "approved_count": 1, "approved_amount": 120000, "decisions": 1, "decision_seconds_total": 7200},
		{"day": "2026-03-03", "requested_count": 2, "requested_amount": 35000, "denied_count": 1, "denied_amount": 5000,
		 "decisions": 1, "decision_seconds_total": 1800},
		{"day": "2026-03-04", "approved_count": 1, "approved_amount": 30000, "decisions": 1, "decision_seconds_total": 86400}]`,
	"Average decision time per day.": `[
		{"day": "2026-03-02", "decisions": 1, "avg_decision_seconds": 7200, "avg_decision_hours": 2},
		{"day": "2026-03-03", "decisions": 1, "avg_decision_seconds": 1800, "avg_decision_hours": 0.5},
		{"day": "2026-03-04", "decisions": 1, "avg_decision_seconds": 86400, "avg_decision_hours": 24}]`,
	"The funnel.": `[{"requested": 4, "submitted": 4, "review_issued": 3, "approved": 2, "denied": 1,
		"contract_issued": 0, "signed": 0, "rejected": 0}]`,
	"One application's history, in order.": `[
		{"_id": 1, "position": 1, "event_type": "LoanRequested", "actor": "ada", "status_after": "pending_submission",
		 "occurred_at": {"$date": "2026-03-02T09:00:00Z"}, "payload": "{\"amount\":\"120000\"}", "stream": "loanRequest-6a1d2e1c-4a0e-4c57-9c1e-8a0b7b0e8e11"},
		{"_id": 2, "position": 2, "event_type": "LoanRequestSubmitted", "revision": 1},
		{"_id": 5, "position": 5, "event_type": "LoanApproved", "actor": "lender-admin", "status_after": "approved",
		 "command_id": "cmd-5", "correlation_id": "corr-1", "causation_id": "cause-5"}]`,
}

// analystsBatch is the data the examples run on: four applications (two
// approved, one denied, one submitted in April), one of them with its
// history, the days of March and April, and the funnel.
func analystsBatch() readmodel.Batch {
	at := func(day, hm string) time.Time {
		t, err := time.Parse(time.RFC3339, "2026-"+day+"T"+hm+":00Z")
		if err != nil {
			panic(err)
		}
		return t
	}
	const a = "6a1d2e1c-4a0e-4c57-9c1e-8a0b7b0e8e11"
	apps := []readmodel.Application{
		{ID: a, Amount: 120000, Duration: 36, Status: readmodel.StatusApproved, Applicant: "ada",
			RequestedAt: at("03-02", "09:00"), SubmittedAt: at("03-02", "09:05"), ReviewIssuedAt: at("03-02", "09:05"),
			DecidedAt: at("03-02", "11:05"), UpdatedAt: at("03-02", "11:05"), LastPosition: 5},
		{ID: "b", Amount: 5000, Duration: 12, Status: readmodel.StatusDenied, Applicant: "bob", DenialReason: "income too low",
			RequestedAt: at("03-03", "10:00"), SubmittedAt: at("03-03", "10:00"), ReviewIssuedAt: at("03-03", "10:00"),
			DecidedAt: at("03-03", "10:30"), UpdatedAt: at("03-03", "10:30"), LastPosition: 6},
		{ID: "c", Amount: 30000, Duration: 24, Status: readmodel.StatusApproved, Applicant: "cy",
			RequestedAt: at("03-03", "12:00"), SubmittedAt: at("03-03", "12:00"), ReviewIssuedAt: at("03-03", "12:00"),
			DecidedAt: at("03-04", "12:00"), UpdatedAt: at("03-04", "12:00"), LastPosition: 7},
		{ID: "d", Amount: 8000, Duration: 6, Status: readmodel.StatusSubmitted, Applicant: "di",
			RequestedAt: at("04-01", "08:00"), SubmittedAt: at("04-01", "08:00"), UpdatedAt: at("04-01", "08:00"), LastPosition: 8},
	}
	history := []readmodel.HistoryEntry{
		{ApplicationID: a, Position: 1, Stream: "loanRequest-" + a, Revision: 0, EventType: "LoanRequested",
			OccurredAt: at("03-02", "09:00"), Actor: "ada", StatusAfter: readmodel.StatusPendingSubmission, Payload: []byte(`{"amount":"120000"}`)},
		{ApplicationID: a, Position: 2, Stream: "loanRequest-" + a, Revision: 1, EventType: "LoanRequestSubmitted",
			OccurredAt: at("03-02", "09:05"), Actor: "ada", StatusAfter: readmodel.StatusSubmitted, Payload: []byte(`{}`)},
		{ApplicationID: a, Position: 5, Stream: "loanReview-" + a, Revision: 1, EventType: "LoanApproved",
			OccurredAt: at("03-02", "11:05"), Actor: "lender-admin", StatusAfter: readmodel.StatusApproved, Payload: []byte(`{}`),
			CommandID: "cmd-5", CorrelationID: "corr-1", CausationID: "cause-5"},
		{ApplicationID: "b", Position: 6, Stream: "loanReview-b", EventType: "LoanDenied",
			OccurredAt: at("03-03", "10:30"), Actor: "lender-admin", StatusAfter: readmodel.StatusDenied, Payload: []byte(`{}`)},
	}
	contributions := []readmodel.Contribution{
		{Position: 1, Daily: readmodel.DailyStats{Day: "2026-03-02", RequestedCount: 1, RequestedAmount: 120000}, Funnel: readmodel.Funnel{Requested: 1}},
		{Position: 2, Daily: readmodel.DailyStats{Day: "2026-03-02", SubmittedCount: 1}, Funnel: readmodel.Funnel{Submitted: 1, ReviewIssued: 1}},
		{Position: 3, Daily: readmodel.DailyStats{Day: "2026-03-03", RequestedCount: 2, RequestedAmount: 35000}, Funnel: readmodel.Funnel{Requested: 2, Submitted: 2, ReviewIssued: 2}},
		{Position: 4, Daily: readmodel.DailyStats{Day: "2026-04-01", RequestedCount: 1, RequestedAmount: 8000}, Funnel: readmodel.Funnel{Requested: 1, Submitted: 1}},
		{Position: 5, Daily: readmodel.DailyStats{Day: "2026-03-02", ApprovedCount: 1, ApprovedAmount: 120000, Decisions: 1, DecisionSecondsTotal: 7200}, Funnel: readmodel.Funnel{Approved: 1}},
		{Position: 6, Daily: readmodel.DailyStats{Day: "2026-03-03", DeniedCount: 1, DeniedAmount: 5000, Decisions: 1, DecisionSecondsTotal: 1800}, Funnel: readmodel.Funnel{Denied: 1}},
		{Position: 7, Daily: readmodel.DailyStats{Day: "2026-03-04", ApprovedCount: 1, ApprovedAmount: 30000, Decisions: 1, DecisionSecondsTotal: 86400}, Funnel: readmodel.Funnel{Approved: 1}},
	}
	return readmodel.Batch{Applications: apps, History: history, Contributions: contributions, Checkpoint: 8}
}

// example is one of the guide's MongoDB examples.
type example struct {
	title, call string
	// mongoOnly: the guide says it holds on MongoDB only, not on the
	// docstore.
	mongoOnly bool
}

// guideExamples reads the MongoDB examples of docs/ANALYSTS.md: the
// one-line calls on db in its js blocks, each under its comment.
func guideExamples(t *testing.T) []example {
	t.Helper()
	guide, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "ANALYSTS.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	for _, block := range regexp.MustCompile("(?s)```js\n(.*?)```").FindAllSubmatch(guide, -1) {
		var comment []string
		for line := range strings.Lines(string(block[1])) {
			line = strings.TrimSpace(line)
			switch {
			case strings.HasPrefix(line, "//"):
				comment = append(comment, strings.TrimSpace(strings.TrimPrefix(line, "//")))
			case strings.HasPrefix(line, "db."):
				call, _, _ := strings.Cut(line, "  //") // a trailing comment shows the answer
				call = strings.TrimSpace(call)
				e := example{title: call, call: call}
				if len(comment) > 0 {
					e.title, _, _ = strings.Cut(comment[0], ". ")
					e.title = strings.TrimSuffix(e.title, ".") + "."
					e.mongoOnly = strings.Contains(strings.Join(comment, " "), "MongoDB only")
				}
				out = append(out, e)
				comment = nil
			case line != "":
				t.Fatalf("the guide's js block has a line that is neither a comment nor a call on db: %q", line)
			}
		}
	}
	if len(out) < 8 {
		t.Fatalf("found %d MongoDB examples in the guide, want at least 8", len(out))
	}
	return out
}

// callRE is a call as the guide writes them: a collection's find, findOne
// or aggregate, with arguments, and perhaps a sort.
var callRE = regexp.MustCompile(`^db\.(\w+)\.(find|findOne|aggregate)\((.*?)\)(?:\.sort\((\{.*\})\))?$`)

// isoDateRE is mongosh's ISODate("..."), Extended JSON's {"$date": "..."}.
var isoDateRE = regexp.MustCompile(`ISODate\(("[^"]*")\)`)

// extJSON parses mongosh arguments written as the guide writes them (JSON,
// with ISODate) into values for the driver.
func extJSON(t *testing.T, args string) bson.A {
	t.Helper()
	var d struct {
		Args bson.A `bson:"args"`
	}
	doc := `{"args": [` + isoDateRE.ReplaceAllString(args, `{"$$date": $1}`) + `]}`
	if err := bson.UnmarshalExtJSON([]byte(doc), false, &d); err != nil {
		t.Fatalf("the arguments %s are not Extended JSON: %v", args, err)
	}
	return d.Args
}

// runExample runs a call on db, reading a view's collection of generation
// gen instead where views is false; it returns the documents.
func runExample(ctx context.Context, t *testing.T, db *mongo.Database, e example, views bool, gen int) ([]bson.M, error) {
	t.Helper()
	m := callRE.FindStringSubmatch(e.call)
	if m == nil {
		t.Fatalf("%s: not a call this test can run (db.C.find/findOne/aggregate(...) with perhaps .sort({...})): %s", e.title, e.call)
	}
	coll, method, args := m[1], m[2], extJSON(t, m[3])
	if !views {
		if model, ok := map[string]string{"v_loan_applications": "applications", "v_loan_history": "history",
			"v_daily_stats": "daily_stats", "v_funnel": "funnel"}[coll]; ok {
			coll = fmt.Sprintf("%s_v%d", model, gen)
		}
	}
	c := db.Collection(coll)
	filter := any(bson.D{})
	if len(args) > 0 {
		filter = args[0]
	}
	var cur *mongo.Cursor
	var err error
	switch method {
	case "aggregate":
		if len(args) != 1 || m[4] != "" {
			t.Fatalf("%s: aggregate takes the pipeline alone", e.title)
		}
		cur, err = c.Aggregate(ctx, args[0])
	case "find", "findOne":
		opts := options.Find()
		if len(args) > 1 {
			opts.SetProjection(args[1])
		}
		if m[4] != "" {
			opts.SetSort(extJSON(t, m[4])[0])
		}
		if method == "findOne" {
			opts.SetLimit(1)
		}
		cur, err = c.Find(ctx, filter, opts)
	}
	if err != nil {
		return nil, err
	}
	var docs []bson.M
	err = cur.All(ctx, &docs)
	return docs, err
}

// matches reports how got differs from want (documents in order, the
// fields want names), or "" if it does not.
func matches(got []bson.M, want bson.A) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d documents; want %d", len(got), len(want))
	}
	for i, w := range want {
		wd, ok := w.(bson.D)
		if !ok {
			return fmt.Sprintf("expected document %d is a %T, not a document", i+1, w)
		}
		for _, f := range wd {
			g, ok := got[i][f.Key]
			if !ok {
				return fmt.Sprintf("document %d has no field %s", i+1, f.Key)
			}
			if !sameValue(g, f.Value) {
				return fmt.Sprintf("document %d: %s = %#v; want %#v", i+1, f.Key, g, f.Value)
			}
		}
	}
	return ""
}

func sameValue(got, want any) bool {
	num := func(v any) (float64, bool) {
		switch n := v.(type) {
		case int32:
			return float64(n), true
		case int64:
			return float64(n), true
		case float64:
			return n, true
		}
		return 0, false
	}
	if g, ok := num(got); ok {
		w, ok := num(want)
		return ok && g == w
	}
	return got == want
}

// TestAnalystsGuide_MongoDBExamples runs every MongoDB example of
// docs/ANALYSTS.md on the docstore, reading the collections of the active
// generation where the guide's examples name views (it has none), and
// checks each result; an example the guide says holds on MongoDB only must
// not give its result there (if it does, the guide's note is out of date).
func TestAnalystsGuide_MongoDBExamples(t *testing.T) {
	uri := docstoretest.Start(t)
	runGuideExamples(t, uri, false)
}

// TestAnalystsGuide_MongoDBExamples_MongoDB runs them on the server at
// MONGODB_URI, through the views where it has them; there every example
// must give its result.
func TestAnalystsGuide_MongoDBExamples_MongoDB(t *testing.T) {
	runGuideExamples(t, mongoURI(t), true)
}

func runGuideExamples(t *testing.T, uri string, dropDB bool) {
	examples := guideExamples(t)
	db := newDatabaseName("analysts")
	st := open(t, uri, db, dropDB)
	ctx := t.Context()
	if err := st.Apply(ctx, 1, analystsBatch()); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	raw := rawDB(t, uri, db)
	for _, e := range examples {
		t.Run(e.title, func(t *testing.T) {
			w, ok := analystsExpected[e.title]
			if !ok {
				t.Fatalf("no expected result for the guide's example %q: add one to analystsExpected", e.title)
			}
			want, ok := extJSON(t, w)[0].(bson.A)
			if !ok {
				t.Fatalf("the expected result of %q is not an array", e.title)
			}
			got, err := runExample(ctx, t, raw, e, st.Views(), 1)
			mismatch := ""
			if err == nil {
				mismatch = matches(got, want)
			}
			switch {
			case e.mongoOnly && !st.Views():
				// The docstore: the guide says it does not hold here.
				if err == nil && mismatch == "" {
					t.Errorf("the guide says this example holds on MongoDB only, but the docstore gives its result: "+
						"drop the note?\n%s", e.call)
				} else {
					t.Logf("not on the docstore, as the guide says: %s", cmp.Or(mismatch, fmt.Sprint(err)))
				}
			case err != nil:
				t.Errorf("%s\n  fails: %v", e.call, err)
			case mismatch != "":
				t.Errorf("%s\n  gives %v\n  %s", e.call, got, mismatch)
			}
		})
	}
}

// TestOpen_MovesLegacyGenerationCounter opens a store made before the
// generation counter left meta: afterwards meta holds the active generation
// alone, and numbers go on from the old counter.
func TestOpen_MovesLegacyGenerationCounter(t *testing.T) {
	uri := docstoretest.Start(t)
	db := newDatabaseName("legacy")
	ctx := t.Context()
	open(t, uri, db, false)
	raw := rawDB(t, uri, db)
	// As the earlier version left it: generation 1 active, 4 handed out.
	if _, err := raw.Collection("counters").DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Collection("meta").InsertOne(ctx, bson.D{{Key: "_id", Value: "generation_counter"}, {Key: "last", Value: 4}}); err != nil {
		t.Fatal(err)
	}

	st := open(t, uri, db, false)
	var metas []bson.M
	cur, err := raw.Collection("meta").Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cur.All(ctx, &metas); err != nil {
		t.Fatal(err)
	}
	if len(metas) != 1 || metas[0]["_id"] != "active_generation" || !sameValue(metas[0]["generation"], int64(1)) {
		t.Errorf("meta after Open = %v; want only {_id: active_generation, generation: 1}", metas)
	}
	if g, err := st.NewGeneration(ctx); err != nil || g != 5 {
		t.Errorf("NewGeneration = %d, %v; want 5 (after the old counter's 4)", g, err)
	}
	if err := st.DropGeneration(ctx, 3); err != nil { // never materialized, but handed out
		t.Errorf("DropGeneration(3): %v", err)
	}
	if err := st.DropGeneration(ctx, 6); err == nil {
		t.Errorf("DropGeneration(6) of a generation never handed out: no error")
	}
	if g, err := open(t, uri, db, false).NewGeneration(ctx); err != nil || g != 6 {
		t.Errorf("NewGeneration after reopening = %d, %v; want 6", g, err)
	}
}
