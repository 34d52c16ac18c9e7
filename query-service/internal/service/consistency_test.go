package service_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

func TestQueryService_ConsistencyToken(t *testing.T) {
	e := newEnv(t)
	id := uuidOf(1)
	e.b.Request(id, 12_000, 24, "ada", at(0))
	e.apply(t)
	reached := e.b.Position()

	t.Run("ReachedAnswersAtOnce", func(t *testing.T) {
		for _, token := range []uint64{1, reached} {
			if _, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: token}); err != nil {
				t.Fatalf("token %d: %v", token, err)
			}
		}
	})
	t.Run("AnsweredOnceTheReadModelCatchesUp", func(t *testing.T) {
		// A command's reply gave the position of a new application; the
		// projector writes it 100 ms later. The query sees it: read your
		// writes.
		late := uuidOf(2)
		e.b.Request(late, 500, 6, "bob", at(time.Hour)).Skip(5)
		batch := e.b.Batch()
		token := batch.History[0].Position
		applied := make(chan error, 1)
		time.AfterFunc(100*time.Millisecond, func() { applied <- e.store.Apply(context.Background(), e.gen, batch) })
		start := time.Now()
		resp, err := e.client.GetLoanApplication(ctx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: late, ConsistencyToken: token})
		waited := time.Since(start)
		if applyErr := <-applied; applyErr != nil {
			t.Fatal(applyErr)
		}
		if err != nil {
			t.Fatalf("after %s: %v", waited, err)
		}
		if resp.GetLoanApplication().GetApplicant() != "bob" {
			t.Errorf("got %v", resp.GetLoanApplication())
		}
		if waited < 100*time.Millisecond || waited > 3*time.Second {
			t.Errorf("answered after %s; want soon after 100ms", waited)
		}
		reached = e.b.Position()
	})
	t.Run("ReadModelBehindWithinTheDeadline", func(t *testing.T) {
		const deadline = time.Second
		c, cancel := context.WithTimeout(t.Context(), deadline)
		defer cancel()
		start := time.Now()
		_, err := e.client.GetLoanApplication(c, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: reached + 1000})
		waited := time.Since(start)
		info := refused(t, err, codes.Unavailable, "READ_MODEL_BEHIND")
		if waited >= deadline || waited < deadline/2 {
			t.Errorf("refused after %s; want close to, and within, the deadline %s", waited, deadline)
		}
		if info.GetMetadata()["consistency_token"] == "" || info.GetMetadata()["position"] == "" {
			t.Errorf("ErrorInfo metadata %v", info.GetMetadata())
		}
		if msg := err.Error(); !strings.Contains(msg, "1000 short of the consistency token") {
			t.Errorf("message %q does not say how far behind", msg)
		}
	})
	t.Run("EveryQueryWaits", func(t *testing.T) {
		for name, call := range map[string]func(context.Context, uint64) error{
			"GetLoanApplication": func(c context.Context, token uint64) error {
				_, err := e.client.GetLoanApplication(c, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: id, ConsistencyToken: token})
				return err
			},
			"ListLoanApplications": func(c context.Context, token uint64) error {
				_, err := e.client.ListLoanApplications(c, &loansv1.ListLoanApplicationsRequest{ConsistencyToken: token})
				return err
			},
			"GetLoanApplicationHistory": func(c context.Context, token uint64) error {
				_, err := e.client.GetLoanApplicationHistory(c, &loansv1.GetLoanApplicationHistoryRequest{LoanApplicationUuid: id, ConsistencyToken: token})
				return err
			},
			"GetLoanApplicationAt": func(c context.Context, token uint64) error {
				_, err := e.client.GetLoanApplicationAt(c, &loansv1.GetLoanApplicationAtRequest{LoanApplicationUuid: id, At: timestamppb.New(at(time.Hour)), ConsistencyToken: token})
				return err
			},
			"GetLoanStatistics": func(c context.Context, token uint64) error {
				_, err := e.client.GetLoanStatistics(c, &loansv1.GetLoanStatisticsRequest{ConsistencyToken: token})
				return err
			},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c, cancel := context.WithTimeout(t.Context(), time.Second)
				defer cancel()
				refused(t, call(c, reached+1), codes.Unavailable, "READ_MODEL_BEHIND")
				if err := call(ctx(t), reached); err != nil {
					t.Fatalf("with the token reached: %v", err)
				}
			})
		}
	})
}

// TestQueryService_DefaultDeadline: a call without a deadline gets the
// service's, which bounds the wait for a consistency token.
func TestQueryService_DefaultDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	e := newEnv(t, withDefaultDeadline(deadline))
	start := time.Now()
	_, err := e.client.ListLoanApplications(t.Context(), &loansv1.ListLoanApplicationsRequest{ConsistencyToken: 1})
	waited := time.Since(start)
	refused(t, err, codes.Unavailable, "READ_MODEL_BEHIND")
	if waited >= 3*time.Second || waited < deadline/2 {
		t.Errorf("refused after %s; want about the default deadline %s", waited, deadline)
	}
}
