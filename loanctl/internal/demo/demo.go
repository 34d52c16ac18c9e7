// Package demo fills a system with realistic loan applications: the
// development users request, submit, review and sign or reject over the
// public API, so that lists, histories and statistics have something to
// show.
package demo

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// The development users (devstack/identity/users.yaml). Max is an officer
// who also applies: the four-eyes rule keeps him off his own applications.
var (
	Applicants = []string{"ada", "bo", "max"}
	Officers   = []string{"lena", "max"}
)

// Users are every user a demo signs in as.
func Users() []string { return []string{"ada", "bo", "lena", "max"} }

// Outcome is where an application is left.
type Outcome string

const (
	LeftPendingSubmission Outcome = "pending_submission" // requested, never submitted
	LeftPendingReview     Outcome = "pending_review"     // submitted, awaiting an officer
	Denied                Outcome = "denied"
	LeftPendingSignature  Outcome = "pending_signature" // approved, contract not yet signed
	Signed                Outcome = "signed"
	Rejected              Outcome = "rejected"
)

// Outcomes lists every outcome in lifecycle order.
var Outcomes = []Outcome{LeftPendingSubmission, LeftPendingReview, Denied, LeftPendingSignature, Signed, Rejected}

// weights make a believable mix once every outcome has had its turn.
var weights = map[Outcome]int{
	LeftPendingSubmission: 10, LeftPendingReview: 15, Denied: 20, LeftPendingSignature: 10, Signed: 35, Rejected: 10,
}

var (
	durations     = []int32{6, 12, 18, 24, 36, 48, 60, 84, 120}
	denialReasons = []string{
		"Debt-to-income ratio above policy",
		"Insufficient credit history",
		"Income could not be verified",
		"Requested amount exceeds affordability assessment",
	}
	rejectionReasons = []string{
		"Found a lower rate elsewhere",
		"The monthly payment is higher than expected",
		"No longer need the loan",
		"", // a rejection may give no reason
	}
)

// Config is what Run does.
type Config struct {
	Applications int
	Seed         uint64
	// Concurrency bounds the applications in flight (default 4).
	Concurrency int
	Commands    loansv1.LoanCommandServiceClient
	Queries     loansv1.LoanQueryServiceClient
	// Tokens are the access tokens of Users().
	Tokens map[string]string
	// Timeout bounds each step, waits for the process managers included
	// (default 30s).
	Timeout time.Duration
}

// Application is one application the demo made.
type Application struct {
	ID        string  `json:"loan_application_uuid"`
	Applicant string  `json:"applicant"`
	Officer   string  `json:"officer,omitempty"`
	Amount    int64   `json:"amount"`
	Duration  int32   `json:"duration"`
	Outcome   Outcome `json:"outcome"`
	Error     string  `json:"error,omitempty"`
}

// Plan is the applications a seed gives, before anything is sent: the
// first ones take every outcome in turn (in an order the seed shuffles),
// the others are drawn by weight.
func Plan(n int, seed uint64) []Application {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	first := slices.Clone(Outcomes)
	rng.Shuffle(len(first), func(i, j int) { first[i], first[j] = first[j], first[i] })
	total := 0
	for _, w := range weights {
		total += w
	}
	plan := make([]Application, n)
	for i := range plan {
		var o Outcome
		if i < len(first) {
			o = first[i]
		} else {
			r := rng.IntN(total)
			for _, c := range Outcomes {
				if r -= weights[c]; r < 0 {
					o = c
					break
				}
			}
		}
		applicant := Applicants[rng.IntN(len(Applicants))]
		officer := Officers[rng.IntN(len(Officers))]
		if officer == applicant { // four eyes
			officer = "lena"
		}
		if o == LeftPendingSubmission || o == LeftPendingReview {
			officer = ""
		}
		// Amounts spread log-uniformly from 500 to 250 000, rounded to 50.
		amount := int64(math.Round(500*math.Pow(500, rng.Float64())/50) * 50)
		plan[i] = Application{
			ID: uuid.NewString(), Applicant: applicant, Officer: officer,
			Amount: max(amount, 500), Duration: durations[rng.IntN(len(durations))], Outcome: o,
		}
	}
	return plan
}

// Run carries out a plan, Concurrency applications at a time. Each
// application's error is kept in it; Run fails only when ctx ends.
func Run(ctx context.Context, cfg Config, plan []Application) ([]Application, error) {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	rng := rand.New(rand.NewPCG(uint64(len(plan)), 7))
	reasons := make([][2]string, len(plan))
	for i := range reasons {
		reasons[i] = [2]string{denialReasons[rng.IntN(len(denialReasons))], rejectionReasons[rng.IntN(len(rejectionReasons))]}
	}
	out := slices.Clone(plan)
	sem := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range out {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return out, context.Cause(ctx)
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := cfg.run(ctx, out[i], reasons[i]); err != nil {
				out[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	return out, ctx.Err()
}

func (cfg Config) as(ctx context.Context, user string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+cfg.Tokens[user])
}

// step runs one call with the step deadline.
func step[Req, Resp any](ctx context.Context, cfg Config, user string, call func(context.Context, Req, ...grpc.CallOption) (Resp, error), req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(cfg.as(ctx, user), cfg.Timeout)
	defer cancel()
	return call(ctx, req)
}

func (cfg Config) run(ctx context.Context, a Application, reasons [2]string) error {
	id := a.ID
	cmd := func() string { return uuid.NewString() }
	if _, err := step(ctx, cfg, a.Applicant, cfg.Commands.RequestLoan, &loansv1.RequestLoanRequest{
		CommandId: cmd(), LoanApplicationUuid: id, Amount: a.Amount, Duration: a.Duration,
	}); err != nil {
		return fmt.Errorf("request: %w", err)
	}
	if a.Outcome == LeftPendingSubmission {
		return nil
	}
	sub, err := step(ctx, cfg, a.Applicant, cfg.Commands.SubmitLoanRequest, &loansv1.SubmitLoanRequestRequest{CommandId: cmd(), LoanApplicationUuid: id})
	if err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	if a.Outcome == LeftPendingReview {
		return nil
	}
	// The review is issued by a process manager after the submission.
	if err := cfg.waitFor(ctx, id, loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW, sub.GetResult().GetCommitPosition()); err != nil {
		return err
	}
	if a.Outcome == Denied {
		if _, err := step(ctx, cfg, a.Officer, cfg.Commands.DenyLoan, &loansv1.DenyLoanRequest{CommandId: cmd(), LoanApplicationUuid: id, Reason: reasons[0]}); err != nil {
			return fmt.Errorf("deny: %w", err)
		}
		return nil
	}
	ok, err := step(ctx, cfg, a.Officer, cfg.Commands.ApproveLoan, &loansv1.ApproveLoanRequest{CommandId: cmd(), LoanApplicationUuid: id})
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	if a.Outcome == LeftPendingSignature {
		return nil
	}
	// And the contract by another, after the approval.
	if err := cfg.waitFor(ctx, id, loansv1.LoanStatus_LOAN_STATUS_PENDING_SIGNATURE, ok.GetResult().GetCommitPosition()); err != nil {
		return err
	}
	if a.Outcome == Signed {
		_, err = step(ctx, cfg, a.Applicant, cfg.Commands.SignContract, &loansv1.SignContractRequest{CommandId: cmd(), LoanApplicationUuid: id})
	} else {
		_, err = step(ctx, cfg, a.Applicant, cfg.Commands.RejectContract, &loansv1.RejectContractRequest{CommandId: cmd(), LoanApplicationUuid: id, Reason: reasons[1]})
	}
	if err != nil {
		return fmt.Errorf("%s: %w", a.Outcome, err)
	}
	return nil
}

// pollInterval spaces the reads of an application awaiting a process
// manager's step.
const pollInterval = 100 * time.Millisecond

// waitFor reads the application (as an officer, who may read any) until
// it has the status, at most Timeout.
func (cfg Config) waitFor(ctx context.Context, id string, want loansv1.LoanStatus, token uint64) error {
	ctx, cancel := context.WithTimeout(cfg.as(ctx, "lena"), cfg.Timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last error
	for {
		resp, err := cfg.Queries.GetLoanApplication(ctx, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: token})
		if err == nil && resp.GetLoanApplication().GetStatus() == want {
			return nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("status %s", resp.GetLoanApplication().GetStatus())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", want, context.Cause(ctx), last)
		case <-tick.C:
		}
	}
}

// Total is the count and amount of one outcome.
type Total struct {
	Outcome Outcome `json:"outcome"`
	Count   int     `json:"count"`
	Amount  int64   `json:"amount"`
}

// Summarize totals the applications by outcome (failed ones as "failed").
func Summarize(apps []Application) []Total {
	by := map[Outcome]*Total{}
	for _, a := range apps {
		o := a.Outcome
		if a.Error != "" {
			o = "failed"
		}
		if by[o] == nil {
			by[o] = &Total{Outcome: o}
		}
		by[o].Count++
		by[o].Amount += a.Amount
	}
	var out []Total
	for _, o := range append(slices.Clone(Outcomes), "failed") {
		if t := by[o]; t != nil {
			out = append(out, *t)
		}
	}
	return out
}
