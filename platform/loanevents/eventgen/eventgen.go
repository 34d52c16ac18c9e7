// Package eventgen makes loan events as the command service writes them
// (same streams, types, payload and metadata encoding), for the tests and
// benchmarks of the services that read them (the projector, the event
// publisher): whole application lifecycles with random outcomes,
// reproducible from a seed.
package eventgen

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// Append is one append: events of one stream, written atomically.
type Append struct {
	Stream string
	// Expected is the stream's last revision before the append (-1: the
	// stream does not exist yet).
	Expected int64
	Events   []esdb.EventData
}

// ExpectedRevision is the append's expectation for the official client.
func (a Append) ExpectedRevision() esdb.ExpectedRevision {
	if a.Expected < 0 {
		return esdb.NoStream{}
	}
	return esdb.Revision(uint64(a.Expected))
}

// Generator makes lifecycles. It is not safe for concurrent use.
type Generator struct {
	rng   *rand.Rand
	clock time.Time
	// Step is how far the clock moves between two applications (its
	// events are spread over the following hours), so that a run covers
	// several days.
	Step time.Duration
}

// New returns a generator whose first application is requested at start.
func New(seed uint64, start time.Time) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), clock: start, Step: 7 * time.Minute}
}

// Lifecycle returns the appends of one new application's life, in the
// order they must be appended: its request (often submitted in the same
// append), then its review, then its contract, as far as it gets.
func (g *Generator) Lifecycle() []Append {
	id := g.UUID()
	app := id.String()
	correlation := g.UUID().String()
	amount := int64(1000 + g.rng.IntN(50)*500)
	duration := int32(6 + g.rng.IntN(10)*6)
	applicant := fmt.Sprintf("applicant-%d", g.rng.IntN(500))
	t := g.clock
	g.clock = g.clock.Add(g.Step)
	next := func() time.Time {
		t = t.Add(time.Duration(1+g.rng.IntN(240)) * time.Minute)
		return t
	}
	var cause string
	event := func(msg proto.Message, actor string, at time.Time) esdb.EventData {
		typ, data, err := loanevents.Marshal(msg)
		if err != nil {
			panic(err) // only loan events are made here
		}
		cmd := g.UUID().String()
		if cause == "" {
			cause = cmd
		}
		md, _ := loanevents.MarshalMetadata(loanevents.Metadata{CommandID: cmd, CorrelationID: correlation, CausationID: cause,
			Actor: actor, OccurredAt: at, SchemaVersion: loanevents.SchemaVersion})
		eid := g.UUID()
		cause = eid.String()
		return esdb.EventData{EventID: eid, EventType: typ, ContentType: esdb.ContentTypeJson, Data: data, Metadata: md}
	}

	var out []Append
	req := Append{Stream: "loanRequest-" + app, Expected: -1, Events: []esdb.EventData{
		event(&loansv1.LoanRequested{LoanApplicationUuid: app, Amount: amount, Duration: duration, Applicant: applicant}, applicant, t),
	}}
	if g.rng.IntN(10) == 0 { // abandoned before submission
		return append(out, req)
	}
	submitted := &loansv1.LoanRequestSubmitted{LoanApplicationUuid: app, Amount: amount, Duration: duration, Applicant: applicant}
	if g.rng.IntN(2) == 0 {
		req.Events = append(req.Events, event(submitted, applicant, next()))
		out = append(out, req)
	} else {
		out = append(out, req, Append{Stream: req.Stream, Expected: 0, Events: []esdb.EventData{event(submitted, applicant, next())}})
	}

	a, d, ap := amount, duration, applicant
	review := Append{Stream: "loanReview-" + app, Expected: -1, Events: []esdb.EventData{
		event(&loansv1.LoanReviewIssued{LoanApplicationUuid: app, Amount: a, Duration: d, Applicant: ap}, "process-manager:loanReview", next()),
	}}
	switch g.rng.IntN(10) {
	case 0: // still under review
		return append(out, review)
	case 1, 2, 3:
		review.Events = append(review.Events, event(&loansv1.LoanDenied{LoanApplicationUuid: app, Reason: "debt ratio too high"}, "lender-admin", next()))
		return append(out, review)
	}
	review.Events = append(review.Events, event(&loansv1.LoanApproved{LoanApplicationUuid: app, Amount: a, Duration: d, Applicant: ap}, "lender-admin", next()))
	out = append(out, review)

	contract := Append{Stream: "loanContract-" + app, Expected: -1, Events: []esdb.EventData{
		event(&loansv1.LoanContractIssued{LoanApplicationUuid: app, Amount: a, Duration: d, Applicant: ap}, "process-manager:loanContract", next()),
	}}
	switch g.rng.IntN(10) {
	case 0: // awaiting signature
		return append(out, contract)
	case 1, 2:
		contract.Events = append(contract.Events, event(&loansv1.ContractRejected{LoanApplicationUuid: app, Reason: "found a better offer"}, applicant, next()))
	default:
		contract.Events = append(contract.Events, event(&loansv1.ContractSigned{LoanApplicationUuid: app}, applicant, next()))
	}
	return append(out, contract)
}

// Noise is an append of events of a type the projector does not read (other
// services share the store).
func (g *Generator) Noise(n int) Append {
	a := Append{Stream: "audit-" + g.UUID().String(), Expected: -1}
	for i := range n {
		a.Events = append(a.Events, esdb.EventData{EventID: g.UUID(), EventType: "AuditRecorded", ContentType: esdb.ContentTypeJson,
			Data: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	return a
}

// UUID is a random (version 4) UUID from the generator's seed.
func (g *Generator) UUID() uuid.UUID {
	var u uuid.UUID
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(hi>>(8*i)), byte(lo>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	return u
}
