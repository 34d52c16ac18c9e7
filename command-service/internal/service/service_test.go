package service_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/loanflow/loans/command-service/internal/service"
	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

func TestSmokeLifecycle(t *testing.T) {
	es := eventstoretest.Start(t, eventstore.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := service.Start(ctx, service.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", EventStore: es.ConnectionString,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ProcessManagers: true})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Shutdown(context.Background())
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := loansv1.NewLoanCommandServiceClient(conn)
	id := uuid.NewString()
	r, err := c.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: 1000, Duration: 12})
	t.Logf("request: %v %v", r, err)
	s, err := c.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
	t.Logf("submit: %v %v", s, err)
	for i := 0; i < 100; i++ {
		a, err := c.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id})
		if err == nil {
			t.Logf("approve: %v", a)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 0; i < 100; i++ {
		a, err := c.SignContract(ctx, &loansv1.SignContractRequest{LoanApplicationUuid: id})
		if err == nil {
			t.Logf("sign: %v", a)
			break
		}
		if i == 99 {
			t.Fatalf("sign: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = c.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: uuid.NewString(), Amount: 10, Duration: 12})
	t.Logf("low: %v", err)
}
