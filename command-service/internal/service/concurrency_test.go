package service_test

import (
	"fmt"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	devstore "github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// outcomes counts how concurrent calls ended: "OK" or "<code> <reason>".
type outcomes struct {
	mu sync.Mutex
	n  map[string]int
}

func (o *outcomes) add(err error) {
	key := "OK"
	if err != nil {
		st := status.Convert(err)
		key = st.Code().String() + " " + errorInfo(st).GetReason()
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[key]++
}

// onlyAllowed fails the test for any outcome other than the allowed ones.
func (o *outcomes) onlyAllowed(t *testing.T, allowed ...string) {
	t.Helper()
	ok := map[string]bool{}
	for _, a := range allowed {
		ok[a] = true
	}
	for k, n := range o.n {
		if !ok[k] {
			t.Errorf("%d calls ended with %s; allowed: %v (all outcomes: %v)", n, k, allowed, o.n)
		}
	}
}

// Fifty officers decide the same pending review at once, half approving,
// half denying: the review takes exactly one decision, every other officer
// is told it was decided (or to retry), and what follows is the winner's: a
// contract after an approval, none after a denial.
func TestApproveOrDeny_ConcurrentDecisions_OneWins(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	id := e.pendingReview(ctx, t)

	const officers = 50
	var (
		wg      sync.WaitGroup
		results outcomes
		start   = make(chan struct{})
		mu      sync.Mutex
		won     []string // the event type of each accepted decision
	)
	for i := range officers {
		wg.Go(func() {
			<-start
			byOfficer := as(ctx, fmt.Sprintf("officer-%d", i), "")
			var err error
			decision := loanevents.TypeLoanApproved
			if i%2 == 0 {
				_, err = e.client.ApproveLoan(byOfficer, &loansv1.ApproveLoanRequest{CommandId: newID(), LoanApplicationUuid: id})
			} else {
				decision = loanevents.TypeLoanDenied
				_, err = e.client.DenyLoan(byOfficer, &loansv1.DenyLoanRequest{CommandId: newID(), LoanApplicationUuid: id, Reason: "too risky"})
			}
			results.add(err)
			if err == nil {
				mu.Lock()
				won = append(won, decision)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()

	t.Logf("outcomes: %v; accepted: %v", results.n, won)
	if results.n["OK"] != 1 || len(won) != 1 {
		t.Fatalf("%d decisions accepted; want exactly 1 (outcomes: %v)", results.n["OK"], results.n)
	}
	// The losers: told the application was decided, or (when their attempts
	// kept meeting concurrent changes) to retry; nothing else.
	decided, conflict := codes.FailedPrecondition.String()+" LOAN_ALREADY_DECIDED", codes.Aborted.String()+" CONCURRENCY_CONFLICT"
	results.onlyAllowed(t, "OK", decided, conflict)
	if losers := results.n[decided] + results.n[conflict]; losers != officers-1 {
		t.Errorf("%d officers were refused; want the other %d", losers, officers-1)
	}

	rev := e.read(t, reviewStream(id))
	requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued, won[0])
	switch won[0] {
	case loanevents.TypeLoanApproved:
		con := e.awaitEvent(t, contractStream(id), loanevents.TypeLoanContractIssued)
		requireTypes(t, contractStream(id), con, loanevents.TypeLoanContractIssued)
	case loanevents.TypeLoanDenied:
		// The contract manager follows $all in order: once it has issued
		// the contract of an application approved after this denial, it
		// has passed the denial and issued nothing for it.
		later := e.pendingReview(ctx, t)
		e.approve(ctx, t, later)
		e.awaitEvent(t, contractStream(later), loanevents.TypeLoanContractIssued)
		requireTypes(t, contractStream(id), e.read(t, contractStream(id)))
	}
	// A late officer is told the same, whichever decision won.
	_, err := e.client.ApproveLoan(as(ctx, "officer-late", ""), &loansv1.ApproveLoanRequest{LoanApplicationUuid: id})
	requireRefusal(t, err, codes.FailedPrecondition, "LOAN_ALREADY_DECIDED")
}

// Twenty clients open the same application at once with distinct command
// IDs: one opens it, the others find it already requested.
func TestRequestLoan_ConcurrentRequests_OneWins(t *testing.T) {
	e := newEnv(t, withoutProcessManagers())
	ctx := callCtx(t)
	id := newID()

	const clients = 20
	var (
		wg      sync.WaitGroup
		results outcomes
		start   = make(chan struct{})
	)
	for i := range clients {
		wg.Go(func() {
			<-start
			_, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{CommandId: newID(), LoanApplicationUuid: id, Amount: 1_000 + int64(i), Duration: 12})
			results.add(err)
		})
	}
	close(start)
	wg.Wait()

	t.Logf("outcomes: %v", results.n)
	if results.n["OK"] != 1 {
		t.Errorf("%d requests accepted; want exactly 1 (outcomes: %v)", results.n["OK"], results.n)
	}
	results.onlyAllowed(t, "OK", codes.AlreadyExists.String()+" LOAN_ALREADY_REQUESTED", codes.Aborted.String()+" CONCURRENCY_CONFLICT")
	requireTypes(t, requestStream(id), e.read(t, requestStream(id)), loanevents.TypeLoanRequested)
}

// Two instances of the service on one event store: each decides on the
// stream as stored, never on what it last saw of it, and answers a command
// the other one already took with the other one's reply.
func TestTwoInstances_DecideOnTheStoredState(t *testing.T) {
	store := eventstoretest.Start(t, devstore.Config{})
	es := store.Client(t)
	a := loansv1.NewLoanCommandServiceClient(dial(t, startService(t, store.ConnectionString).GRPCAddr()))
	b := loansv1.NewLoanCommandServiceClient(dial(t, startService(t, store.ConnectionString, withoutProcessManagers()).GRPCAddr()))
	ctx := callCtx(t)
	id, requestCmd, submitCmd, approveCmd := newID(), newID(), newID(), newID()

	requested, err := a.RequestLoan(ctx, &loansv1.RequestLoanRequest{CommandId: requestCmd, LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration})
	if err != nil {
		t.Fatal(err)
	}
	submitted, err := b.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{CommandId: submitCmd, LoanApplicationUuid: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a repeated command gets its first reply from either instance", func(t *testing.T) {
		again, err := a.RequestLoan(ctx, &loansv1.RequestLoanRequest{CommandId: requestCmd, LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration})
		if err != nil {
			t.Fatal(err)
		}
		requireSameReply(t, requested.GetResult(), again.GetResult())
		again2, err := a.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{CommandId: submitCmd, LoanApplicationUuid: id})
		if err != nil {
			t.Fatal(err)
		}
		requireSameReply(t, submitted.GetResult(), again2.GetResult())
	})
	t.Run("a submission taken by the other instance is refused", func(t *testing.T) {
		_, err := a.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "LOAN_REQUEST_ALREADY_SUBMITTED")
	})

	awaitEventIn(t, es, reviewStream(id), loanevents.TypeLoanReviewIssued) // issued by instance a
	approved, err := b.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{CommandId: approveCmd, LoanApplicationUuid: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a decision taken by the other instance is seen", func(t *testing.T) {
		_, err := a.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, Reason: "too late"})
		requireRefusal(t, err, codes.FailedPrecondition, "LOAN_ALREADY_DECIDED")
		again, err := a.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{CommandId: approveCmd, LoanApplicationUuid: id})
		if err != nil {
			t.Fatal(err)
		}
		requireSameReply(t, approved.GetResult(), again.GetResult())
	})

	awaitEventIn(t, es, contractStream(id), loanevents.TypeLoanContractIssued) // issued by instance a
	if _, err := b.SignContract(ctx, &loansv1.SignContractRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatal(err)
	}
	t.Run("a contract concluded by the other instance is seen", func(t *testing.T) {
		_, err := a.RejectContract(ctx, &loansv1.RejectContractRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "CONTRACT_ALREADY_CONCLUDED")
	})

	requireTypes(t, requestStream(id), readStream(t, es, requestStream(id)), loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	requireTypes(t, reviewStream(id), readStream(t, es, reviewStream(id)), loanevents.TypeLoanReviewIssued, loanevents.TypeLoanApproved)
	requireTypes(t, contractStream(id), readStream(t, es, contractStream(id)), loanevents.TypeLoanContractIssued, loanevents.TypeContractSigned)
}
