package service_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/loanflow/loans/command-service/internal/app/command"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// Actors of the commands the process managers issue: the services' own
// identities, which no token can carry.
const (
	reviewManager   = "system:process-manager/loanReview"
	contractManager = "system:process-manager/loanContract"
)

// wantMeta is the metadata an event must carry.
type wantMeta struct {
	commandID     string
	correlationID string
	causationID   string
	actor         string
}

// requireEvent checks one stored event: payload, metadata, and an ID derived
// from its command's ID (the first event of a command is its event 0).
func requireEvent(t *testing.T, stream string, got storedEvent, payload proto.Message, want wantMeta, since time.Time) {
	t.Helper()
	if !proto.Equal(got.Payload, payload) {
		t.Errorf("%s@%d %s payload = %v, want %v", stream, got.Revision, got.Type, got.Payload, payload)
	}
	m := got.Meta
	if m.CommandID != want.commandID || m.CorrelationID != want.correlationID || m.CausationID != want.causationID || m.Actor != want.actor {
		t.Errorf("%s@%d %s metadata = command %s, correlation %s, causation %s, actor %q; want command %s, correlation %s, causation %s, actor %q",
			stream, got.Revision, got.Type, m.CommandID, m.CorrelationID, m.CausationID, m.Actor,
			want.commandID, want.correlationID, want.causationID, want.actor)
	}
	if m.SchemaVersion != 1 {
		t.Errorf("%s@%d %s schema_version = %d, want 1", stream, got.Revision, got.Type, m.SchemaVersion)
	}
	if m.OccurredAt.Before(since.Add(-time.Second)) || m.OccurredAt.After(time.Now().Add(time.Second)) {
		t.Errorf("%s@%d %s occurred_at = %v, want between %v and now", stream, got.Revision, got.Type, m.OccurredAt, since)
	}
	if cmdID, err := uuid.Parse(want.commandID); err == nil && got.ID != command.EventID(cmdID, m.CommandDigest, 0) {
		t.Errorf("%s@%d %s has event ID %s, want %s (derived from command %s)", stream, got.Revision, got.Type, got.ID, command.EventID(cmdID, m.CommandDigest, 0), cmdID)
	}
	if len(m.CommandDigest) != 32 || m.CommandType != got.Type && m.CommandType == "" {
		t.Errorf("%s@%d %s command type %q, digest %q; want both recorded", stream, got.Revision, got.Type, m.CommandType, m.CommandDigest)
	}
}

// issuedBy is the ID of the command a process manager issues for an event.
func issuedBy(cause storedEvent, commandName string) string {
	return command.DerivedCommandID(cause.ID, commandName).String()
}

func TestLifecycle_EndsSigned(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	since := time.Now()
	id, correlation := newID(), newID()
	byApplicant, byOfficer := as(ctx, applicant, correlation), as(ctx, officer, correlation)
	requestCmd, submitCmd, approveCmd, signCmd := newID(), newID(), newID(), newID()

	requested, err := e.client.RequestLoan(byApplicant, &loansv1.RequestLoanRequest{CommandId: requestCmd, LoanApplicationUuid: id,
		Amount: 25_000, Duration: 48, Applicant: applicant})
	if err != nil {
		t.Fatalf("RequestLoan: %v", err)
	}
	submitted, err := e.client.SubmitLoanRequest(byApplicant, &loansv1.SubmitLoanRequestRequest{CommandId: submitCmd, LoanApplicationUuid: id})
	if err != nil {
		t.Fatalf("SubmitLoanRequest: %v", err)
	}
	e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	approved, err := e.client.ApproveLoan(byOfficer, &loansv1.ApproveLoanRequest{CommandId: approveCmd, LoanApplicationUuid: id})
	if err != nil {
		t.Fatalf("ApproveLoan: %v", err)
	}
	e.awaitEvent(t, contractStream(id), loanevents.TypeLoanContractIssued)
	signed, err := e.client.SignContract(byApplicant, &loansv1.SignContractRequest{CommandId: signCmd, LoanApplicationUuid: id})
	if err != nil {
		t.Fatalf("SignContract: %v", err)
	}

	req := e.read(t, requestStream(id))
	requireTypes(t, requestStream(id), req, loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	requireEvent(t, requestStream(id), req[0], &loansv1.LoanRequested{LoanApplicationUuid: id, Amount: 25_000, Duration: 48, Applicant: applicant},
		wantMeta{commandID: requestCmd, correlationID: correlation, causationID: requestCmd, actor: applicant}, since)
	requireEvent(t, requestStream(id), req[1], &loansv1.LoanRequestSubmitted{LoanApplicationUuid: id, Amount: 25_000, Duration: 48, Applicant: applicant},
		wantMeta{commandID: submitCmd, correlationID: correlation, causationID: submitCmd, actor: applicant}, since)

	rev := e.read(t, reviewStream(id))
	requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued, loanevents.TypeLoanApproved)
	requireEvent(t, reviewStream(id), rev[0], &loansv1.LoanReviewIssued{LoanApplicationUuid: id, Amount: 25_000, Duration: 48, Applicant: applicant},
		wantMeta{commandID: issuedBy(req[1], "IssueLoanReview"), correlationID: correlation, causationID: req[1].ID.String(), actor: reviewManager}, since)
	requireEvent(t, reviewStream(id), rev[1], &loansv1.LoanApproved{LoanApplicationUuid: id, Amount: 25_000, Duration: 48, Applicant: applicant},
		wantMeta{commandID: approveCmd, correlationID: correlation, causationID: approveCmd, actor: officer}, since)

	con := e.read(t, contractStream(id))
	requireTypes(t, contractStream(id), con, loanevents.TypeLoanContractIssued, loanevents.TypeContractSigned)
	requireEvent(t, contractStream(id), con[0], &loansv1.LoanContractIssued{LoanApplicationUuid: id, Amount: 25_000, Duration: 48, Applicant: applicant},
		wantMeta{commandID: issuedBy(rev[1], "IssueLoanContract"), correlationID: correlation, causationID: rev[1].ID.String(), actor: contractManager}, since)
	requireEvent(t, contractStream(id), con[1], &loansv1.ContractSigned{LoanApplicationUuid: id},
		wantMeta{commandID: signCmd, correlationID: correlation, causationID: signCmd, actor: applicant}, since)

	t.Run("each reply names the stream, revision and $all position of the command's event", func(t *testing.T) {
		requireResult(t, e.es, requested.GetResult(), id, requestStream(id), req[0])
		requireResult(t, e.es, submitted.GetResult(), id, requestStream(id), req[1])
		requireResult(t, e.es, approved.GetResult(), id, reviewStream(id), rev[1])
		requireResult(t, e.es, signed.GetResult(), id, contractStream(id), con[1])
	})
	t.Run("each reply carries the command ID the client chose", func(t *testing.T) {
		for _, c := range []struct {
			r    *loansv1.CommandResult
			want string
		}{{requested.GetResult(), requestCmd}, {submitted.GetResult(), submitCmd}, {approved.GetResult(), approveCmd}, {signed.GetResult(), signCmd}} {
			if c.r.GetCommandId() != c.want {
				t.Errorf("reply for %s carries command ID %s", c.want, c.r.GetCommandId())
			}
		}
	})
	t.Run("a concluded contract takes no other conclusion", func(t *testing.T) {
		_, err := e.client.RejectContract(byApplicant, &loansv1.RejectContractRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "CONTRACT_ALREADY_CONCLUDED")
	})
}

func TestLifecycle_EndsDenied(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	since := time.Now()
	id, correlation := newID(), newID()
	byApplicant, byOfficer := as(ctx, applicant, correlation), as(ctx, officer, correlation)
	requestCmd, submitCmd, denyCmd := newID(), newID(), newID()

	// No applicant in the request: the actor applies.
	if _, err := e.client.RequestLoan(byApplicant, &loansv1.RequestLoanRequest{CommandId: requestCmd, LoanApplicationUuid: id, Amount: 900, Duration: 6}); err != nil {
		t.Fatalf("RequestLoan: %v", err)
	}
	if _, err := e.client.SubmitLoanRequest(byApplicant, &loansv1.SubmitLoanRequestRequest{CommandId: submitCmd, LoanApplicationUuid: id}); err != nil {
		t.Fatalf("SubmitLoanRequest: %v", err)
	}
	e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	denied, err := e.client.DenyLoan(byOfficer, &loansv1.DenyLoanRequest{CommandId: denyCmd, LoanApplicationUuid: id, Reason: "debt ratio above 40%"})
	if err != nil {
		t.Fatalf("DenyLoan: %v", err)
	}

	req := e.read(t, requestStream(id))
	requireTypes(t, requestStream(id), req, loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	requireEvent(t, requestStream(id), req[0], &loansv1.LoanRequested{LoanApplicationUuid: id, Amount: 900, Duration: 6, Applicant: applicant},
		wantMeta{commandID: requestCmd, correlationID: correlation, causationID: requestCmd, actor: applicant}, since)
	requireEvent(t, requestStream(id), req[1], &loansv1.LoanRequestSubmitted{LoanApplicationUuid: id, Amount: 900, Duration: 6, Applicant: applicant},
		wantMeta{commandID: submitCmd, correlationID: correlation, causationID: submitCmd, actor: applicant}, since)

	rev := e.read(t, reviewStream(id))
	requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued, loanevents.TypeLoanDenied)
	requireEvent(t, reviewStream(id), rev[0], &loansv1.LoanReviewIssued{LoanApplicationUuid: id, Amount: 900, Duration: 6, Applicant: applicant},
		wantMeta{commandID: issuedBy(req[1], "IssueLoanReview"), correlationID: correlation, causationID: req[1].ID.String(), actor: reviewManager}, since)
	requireEvent(t, reviewStream(id), rev[1], &loansv1.LoanDenied{LoanApplicationUuid: id, Reason: "debt ratio above 40%"},
		wantMeta{commandID: denyCmd, correlationID: correlation, causationID: denyCmd, actor: officer}, since)
	requireResult(t, e.es, denied.GetResult(), id, reviewStream(id), rev[1])

	t.Run("no contract is ever issued for a denied loan", func(t *testing.T) {
		// The contract manager handles events in $all order: once it has
		// issued the contract of a loan approved after the denial, it has
		// seen the denial.
		later := e.pendingReview(ctx, t)
		e.approve(ctx, t, later)
		e.awaitEvent(t, contractStream(later), loanevents.TypeLoanContractIssued)
		if got := e.read(t, contractStream(id)); len(got) != 0 {
			t.Fatalf("%s holds %v, want no stream", contractStream(id), types(got))
		}
		_, err := e.client.SignContract(byApplicant, &loansv1.SignContractRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.NotFound, "LOAN_CONTRACT_NOT_FOUND")
	})
	t.Run("a denied loan cannot be approved", func(t *testing.T) {
		_, err := e.client.ApproveLoan(byOfficer, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "LOAN_ALREADY_DECIDED")
	})
}

func TestLifecycle_EndsRejected(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	since := time.Now()
	id, correlation := newID(), newID()
	byApplicant, byOfficer := as(ctx, applicant, correlation), as(ctx, officer, correlation)
	rejectCmd := newID()

	if _, err := e.client.RequestLoan(byApplicant, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: 1_000_000, Duration: 360}); err != nil {
		t.Fatalf("RequestLoan: %v", err)
	}
	if _, err := e.client.SubmitLoanRequest(byApplicant, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatalf("SubmitLoanRequest: %v", err)
	}
	e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	if _, err := e.client.ApproveLoan(byOfficer, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatalf("ApproveLoan: %v", err)
	}
	e.awaitEvent(t, contractStream(id), loanevents.TypeLoanContractIssued)
	rejected, err := e.client.RejectContract(byApplicant, &loansv1.RejectContractRequest{CommandId: rejectCmd, LoanApplicationUuid: id, Reason: "found a better offer"})
	if err != nil {
		t.Fatalf("RejectContract: %v", err)
	}

	req := e.read(t, requestStream(id))
	requireTypes(t, requestStream(id), req, loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	rev := e.read(t, reviewStream(id))
	requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued, loanevents.TypeLoanApproved)
	con := e.read(t, contractStream(id))
	requireTypes(t, contractStream(id), con, loanevents.TypeLoanContractIssued, loanevents.TypeContractRejected)
	requireEvent(t, contractStream(id), con[0], &loansv1.LoanContractIssued{LoanApplicationUuid: id, Amount: 1_000_000, Duration: 360, Applicant: applicant},
		wantMeta{commandID: issuedBy(rev[1], "IssueLoanContract"), correlationID: correlation, causationID: rev[1].ID.String(), actor: contractManager}, since)
	requireEvent(t, contractStream(id), con[1], &loansv1.ContractRejected{LoanApplicationUuid: id, Reason: "found a better offer"},
		wantMeta{commandID: rejectCmd, correlationID: correlation, causationID: rejectCmd, actor: applicant}, since)
	requireResult(t, e.es, rejected.GetResult(), id, contractStream(id), con[1])

	t.Run("a rejected contract cannot be signed", func(t *testing.T) {
		_, err := e.client.SignContract(byApplicant, &loansv1.SignContractRequest{LoanApplicationUuid: id})
		requireRefusal(t, err, codes.FailedPrecondition, "CONTRACT_ALREADY_CONCLUDED")
	})
}

// Without x-correlation-id, a command correlates by its own ID, and the
// commands the process managers issue inherit the correlation of the event
// that caused them. The actor is always the token's subject.
func TestLifecycle_WithoutHeaders(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	since := time.Now()
	id := newID()
	requested := e.requestLoan(ctx, t, id)
	submitted := e.submit(ctx, t, id)
	rev := e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)

	requestCmd, submitCmd := requested.GetCommandId(), submitted.GetCommandId()
	if _, err := uuid.Parse(requestCmd); err != nil || requestCmd == submitCmd {
		t.Fatalf("the service chose command IDs %q and %q; want two distinct UUIDs", requestCmd, submitCmd)
	}
	req := e.read(t, requestStream(id))
	requireTypes(t, requestStream(id), req, loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	requireEvent(t, requestStream(id), req[0], &loansv1.LoanRequested{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration, Applicant: applicant},
		wantMeta{commandID: requestCmd, correlationID: requestCmd, causationID: requestCmd, actor: applicant}, since)
	requireEvent(t, requestStream(id), req[1], &loansv1.LoanRequestSubmitted{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration, Applicant: applicant},
		wantMeta{commandID: submitCmd, correlationID: submitCmd, causationID: submitCmd, actor: applicant}, since)
	requireEvent(t, reviewStream(id), rev[0], &loansv1.LoanReviewIssued{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration, Applicant: applicant},
		wantMeta{commandID: issuedBy(req[1], "IssueLoanReview"), correlationID: submitCmd, causationID: req[1].ID.String(), actor: reviewManager}, since)
}
