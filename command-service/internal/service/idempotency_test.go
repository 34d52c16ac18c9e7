package service_test

import (
	"context"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// call sends one command and returns its reply.
type call func(ctx context.Context) (*loansv1.CommandResult, error)

// repeatIdempotently checks the idempotency rules of one command, sent with
// a fixed command ID: repeated one after the other, and ten copies at once,
// it is answered every time with the first reply, and its stream holds one
// set of its events.
func repeatIdempotently(t *testing.T, e *env, stream string, first *loansv1.CommandResult, send call) {
	t.Helper()
	ctx := callCtx(t)
	before := e.read(t, stream)

	t.Run("repeated, it gets the first reply and appends nothing", func(t *testing.T) {
		for range 3 {
			again, err := send(ctx)
			if err != nil {
				t.Fatalf("repeat refused: %v", err)
			}
			requireSameReply(t, first, again)
		}
		e.requireUnchanged(t, stream, before)
	})
	t.Run("ten copies at once all get the first reply", func(t *testing.T) {
		requireSameReply(t, first, sendAtOnce(t, 10, send))
		e.requireUnchanged(t, stream, before)
	})
	t.Run("its stream holds its event once", func(t *testing.T) {
		n := 0
		for _, ev := range e.read(t, stream) {
			if ev.Meta.CommandID == first.GetCommandId() {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s holds %d events of command %s; want 1", stream, n, first.GetCommandId())
		}
	})
}

// sendAtOnce sends n copies of a command at the same moment; each must be
// accepted with the same reply, which is returned.
func sendAtOnce(t *testing.T, n int, send call) *loansv1.CommandResult {
	t.Helper()
	ctx := callCtx(t)
	var wg sync.WaitGroup
	replies := make([]*loansv1.CommandResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			replies[i], errs[i] = send(ctx)
		})
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("copy %d of %d refused: %v", i, n, errs[i])
		}
		requireSameReply(t, replies[0], replies[i])
	}
	return replies[0]
}

func requireSameReply(t *testing.T, first, again *loansv1.CommandResult) {
	t.Helper()
	if !proto.Equal(first, again) {
		t.Fatalf("a repeated command got %v; want the first reply %v", again, first)
	}
}

// Ten copies of a command sent at once, before any is stored, make one set
// of events and get one reply.
func TestRequestLoan_SameCommandID_AtOnce(t *testing.T) {
	e := newEnv(t, withoutProcessManagers())
	id, cmd := newID(), newID()
	reply := sendAtOnce(t, 10, func(ctx context.Context) (*loansv1.CommandResult, error) {
		r, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{CommandId: cmd, LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration})
		return r.GetResult(), err
	})
	got := e.read(t, requestStream(id))
	requireTypes(t, requestStream(id), got, loanevents.TypeLoanRequested)
	requireResult(t, e.es, reply, id, requestStream(id), got[0])
}

func TestRequestLoan_SameCommandID(t *testing.T) {
	e := newEnv(t, withoutProcessManagers())
	ctx := callCtx(t)
	id, cmd := newID(), newID()
	send := func(ctx context.Context) (*loansv1.CommandResult, error) {
		r, err := e.client.RequestLoan(ctx, &loansv1.RequestLoanRequest{CommandId: cmd, LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration})
		return r.GetResult(), err
	}
	first, err := send(ctx)
	if err != nil {
		t.Fatalf("RequestLoan: %v", err)
	}
	repeatIdempotently(t, e, requestStream(id), first, send)

	t.Run("after the stream moved on, it still gets the first reply", func(t *testing.T) {
		e.submit(ctx, t, id)
		again, err := send(ctx)
		if err != nil {
			t.Fatalf("repeat refused: %v", err)
		}
		requireSameReply(t, first, again)
		requireTypes(t, requestStream(id), e.read(t, requestStream(id)), loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	})
	t.Run("over REST too", func(t *testing.T) {
		again := e.rest().post(t, "/v1/loan-applications",
			`{"commandId":"`+cmd+`","loanApplicationUuid":"`+id+`","amount":12000,"duration":24}`).result(t)
		requireSameReply(t, first, again)
	})
}

func TestSubmitLoanRequest_SameCommandID(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	id, cmd := newID(), newID()
	e.requestLoan(ctx, t, id)
	send := func(ctx context.Context) (*loansv1.CommandResult, error) {
		r, err := e.client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{CommandId: cmd, LoanApplicationUuid: id})
		return r.GetResult(), err
	}
	first, err := send(ctx)
	if err != nil {
		t.Fatalf("SubmitLoanRequest: %v", err)
	}
	repeatIdempotently(t, e, requestStream(id), first, send)

	t.Run("the review is issued once", func(t *testing.T) {
		rev := e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
		requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued)
	})
	t.Run("after the review was issued, it still gets the first reply", func(t *testing.T) {
		again, err := send(ctx)
		if err != nil {
			t.Fatalf("repeat refused: %v", err)
		}
		requireSameReply(t, first, again)
	})
}

func TestApproveLoan_SameCommandID(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	id := e.pendingReview(ctx, t)
	cmd := newID()
	send := func(ctx context.Context) (*loansv1.CommandResult, error) {
		r, err := e.client.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{CommandId: cmd, LoanApplicationUuid: id})
		return r.GetResult(), err
	}
	first, err := send(ctx)
	if err != nil {
		t.Fatalf("ApproveLoan: %v", err)
	}
	repeatIdempotently(t, e, reviewStream(id), first, send)

	t.Run("the contract is issued once", func(t *testing.T) {
		con := e.awaitEvent(t, contractStream(id), loanevents.TypeLoanContractIssued)
		requireTypes(t, contractStream(id), con, loanevents.TypeLoanContractIssued)
	})
	t.Run("after the contract was signed, it still gets the first reply", func(t *testing.T) {
		e.sign(ctx, t, id)
		again, err := send(ctx)
		if err != nil {
			t.Fatalf("repeat refused: %v", err)
		}
		requireSameReply(t, first, again)
	})
}

func TestSubmitLoanRequest_SameCommandID_AtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	id, cmd := newID(), newID()
	e.requestLoan(ctx, t, id)
	reply := sendAtOnce(t, 10, func(ctx context.Context) (*loansv1.CommandResult, error) {
		r, err := e.client.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{CommandId: cmd, LoanApplicationUuid: id})
		return r.GetResult(), err
	})
	req := e.read(t, requestStream(id))
	requireTypes(t, requestStream(id), req, loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	requireResult(t, e.es, reply, id, requestStream(id), req[1])
	rev := e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued)
}

func TestApproveLoan_SameCommandID_AtOnce(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	id := e.pendingReview(ctx, t)
	cmd := newID()
	reply := sendAtOnce(t, 10, func(ctx context.Context) (*loansv1.CommandResult, error) {
		r, err := e.client.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{CommandId: cmd, LoanApplicationUuid: id})
		return r.GetResult(), err
	})
	rev := e.read(t, reviewStream(id))
	requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued, loanevents.TypeLoanApproved)
	requireResult(t, e.es, reply, id, reviewStream(id), rev[1])
}
