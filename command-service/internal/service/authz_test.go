package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/auth/authtest"
	"github.com/loanflow/loans/platform/loanevents"
)

// withToken sends the calls made with ctx with this bearer token.
func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, auth.HeaderAuthorization, "Bearer "+token)
}

// Every call but health needs a valid token; a refused call appends nothing.
func TestCommands_Authentication(t *testing.T) {
	e := newEnv(t, withoutProcessManagers())
	ctx := callCtx(t)
	id := newID()
	request := &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration}
	expired := issuer.Claims(applicant, auth.RoleApplicant)
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	notYet := issuer.Claims(applicant, auth.RoleApplicant)
	notYet["nbf"] = time.Now().Add(time.Hour).Unix()
	wrongAudience := issuer.Claims(applicant, auth.RoleApplicant)
	wrongAudience["aud"] = "another-api"
	reserved := issuer.Claims("system:process-manager/loanReview", auth.RoleSystem)
	tampered := issuer.Token(t, applicant, auth.RoleApplicant)
	parts := strings.Split(tampered, ".")
	parts[1] = strings.TrimRight(parts[1], "=") + "x" // the payload no longer matches its signature
	otherIssuer := authtest.Start(t)
	// A connection that adds no token of its own (see dial).
	bare, err := grpc.NewClient(e.svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bare.Close() })
	client := loansv1.NewLoanCommandServiceClient(bare)

	for _, c := range []struct {
		rule   string
		ctx    context.Context
		code   codes.Code
		reason string
	}{
		{"no token", ctx, codes.Unauthenticated, auth.ReasonTokenMissing},
		{"not a bearer token", metadata.AppendToOutgoingContext(ctx, "authorization", "Basic YWRhOmFkYQ=="), codes.Unauthenticated, auth.ReasonTokenMissing},
		{"expired", withToken(ctx, issuer.Sign(t, expired)), codes.Unauthenticated, auth.ReasonTokenExpired},
		{"not yet valid", withToken(ctx, issuer.Sign(t, notYet)), codes.Unauthenticated, auth.ReasonTokenNotYetValid},
		{"meant for another audience", withToken(ctx, issuer.Sign(t, wrongAudience)), codes.Unauthenticated, auth.ReasonTokenInvalid},
		{"issued by another issuer", withToken(ctx, otherIssuer.Token(t, applicant, auth.RoleApplicant)), codes.Unauthenticated, auth.ReasonTokenInvalid},
		{"signed by a key the issuer does not publish", withToken(ctx, authtest.SignWith(t, authtest.NewKey(t, "stolen"), issuer.Claims(applicant, auth.RoleApplicant))), codes.Unauthenticated, auth.ReasonTokenInvalid},
		{"altered after signing", withToken(ctx, strings.Join(parts, ".")), codes.Unauthenticated, auth.ReasonTokenInvalid},
		{"unsigned (alg none)", withToken(ctx, authtest.UnsignedToken(t, issuer.Claims(applicant, auth.RoleApplicant))), codes.Unauthenticated, auth.ReasonTokenInvalid},
		{"HMAC-signed with the issuer's public key", withToken(ctx, authtest.HMACToken(t, "key-1", issuer.PublicKeyJSON(t), issuer.Claims(applicant, auth.RoleApplicant))), codes.Unauthenticated, auth.ReasonTokenInvalid},
		{"claiming a service's identity", withToken(ctx, issuer.Sign(t, reserved)), codes.Unauthenticated, auth.ReasonSubjectReserved},
	} {
		t.Run(c.rule, func(t *testing.T) {
			_, err := client.RequestLoan(c.ctx, request)
			requireRefusal(t, err, c.code, c.reason)
		})
	}
	t.Run("refused calls appended nothing", func(t *testing.T) {
		requireTypes(t, requestStream(id), e.read(t, requestStream(id)))
	})
	t.Run("REST answers 401 without a token", func(t *testing.T) {
		r := e.rest().post(t, "/v1/loan-applications", `{"loanApplicationUuid":"`+id+`","amount":1500,"duration":12}`, "Authorization", "")
		r.requireRefusal(t, http.StatusUnauthorized, codes.Unauthenticated, auth.ReasonTokenMissing)
		requireTypes(t, requestStream(id), e.read(t, requestStream(id)))
	})
	t.Run("health answers without a token", func(t *testing.T) {
		resp, err := healthpb.NewHealthClient(bare).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("health: %v, %v", resp, err)
		}
	})
}

// The policy, through the API: who may do what, and what the events record.
func TestCommands_Authorization(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	ada := withToken(ctx, issuer.Token(t, "ada", auth.RoleApplicant))
	bo := withToken(ctx, issuer.Token(t, "bo", auth.RoleApplicant))
	lena := withToken(ctx, issuer.Token(t, "lena", auth.RoleLoanOfficer))
	max := withToken(ctx, issuer.Token(t, "max", auth.RoleLoanOfficer, auth.RoleApplicant))
	omar := withToken(ctx, issuer.Token(t, "omar", auth.RoleOps))
	ana := withToken(ctx, issuer.Token(t, "ana", auth.RoleAnalyst))

	request := func(who context.Context, id string) error {
		_, err := e.client.RequestLoan(who, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration})
		return err
	}
	submit := func(who context.Context, id string) error {
		_, err := e.client.SubmitLoanRequest(who, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
		return err
	}
	approve := func(who context.Context, id string) error {
		_, err := e.client.ApproveLoan(who, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id})
		return err
	}
	deny := func(who context.Context, id string) error {
		_, err := e.client.DenyLoan(who, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, Reason: "no income"})
		return err
	}
	sign := func(who context.Context, id string) error {
		_, err := e.client.SignContract(who, &loansv1.SignContractRequest{LoanApplicationUuid: id})
		return err
	}
	reject := func(who context.Context, id string) error {
		_, err := e.client.RejectContract(who, &loansv1.RejectContractRequest{LoanApplicationUuid: id})
		return err
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// reviewed brings who's new application to a pending review.
	reviewed := func(t *testing.T, who context.Context) string {
		id := newID()
		must(t, request(who, id))
		must(t, submit(who, id))
		e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
		return id
	}

	t.Run("a spoofed x-actor header is ignored: the actor is the token's subject", func(t *testing.T) {
		id := newID()
		must(t, request(metadata.AppendToOutgoingContext(ada, "x-actor", "lena"), id))
		got := e.read(t, requestStream(id))
		requireTypes(t, requestStream(id), got, loanevents.TypeLoanRequested)
		m := got[0].Meta
		if m.Actor != "ada" || strings.Join(m.ActorRoles, ",") != "applicant" || m.ActorIssuer != issuer.URL {
			t.Fatalf("actor %q with roles %v from %q; want ada with [applicant] from %s", m.Actor, m.ActorRoles, m.ActorIssuer, issuer.URL)
		}
		if p := got[0].Payload.(*loansv1.LoanRequested); p.GetApplicant() != "ada" {
			t.Fatalf("applicant %q; want ada", p.GetApplicant())
		}
	})
	t.Run("an applicant requests for themselves only", func(t *testing.T) {
		id := newID()
		_, err := e.client.RequestLoan(ada, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: anyAmount, Duration: anyDuration, Applicant: "bo"})
		requireRefusal(t, err, codes.PermissionDenied, "APPLICANT_IS_NOT_CALLER")
		requireTypes(t, requestStream(id), e.read(t, requestStream(id)))
	})
	t.Run("staff without the applicant role request nothing", func(t *testing.T) {
		for _, who := range []context.Context{lena, omar, ana} {
			requireRefusal(t, request(who, newID()), codes.PermissionDenied, "ROLE_REQUIRED")
		}
	})
	t.Run("another applicant's application is answered as if it did not exist", func(t *testing.T) {
		id := newID()
		must(t, request(ada, id))
		before := e.read(t, requestStream(id))
		err := submit(bo, id)
		requireRefusal(t, err, codes.NotFound, "LOAN_REQUEST_NOT_FOUND")
		missing := newID()
		errMissing := submit(bo, missing)
		if strings.ReplaceAll(errorMessage(err), id, "ID") != strings.ReplaceAll(errorMessage(errMissing), missing, "ID") {
			t.Errorf("another's application: %q; a missing one: %q; want the same answer", errorMessage(err), errorMessage(errMissing))
		}
		e.requireUnchanged(t, requestStream(id), before)
	})
	t.Run("an applicant may not decide", func(t *testing.T) {
		id := reviewed(t, ada)
		before := e.read(t, reviewStream(id))
		requireRefusal(t, approve(ada, id), codes.PermissionDenied, "ROLE_REQUIRED")
		requireRefusal(t, deny(bo, id), codes.PermissionDenied, "ROLE_REQUIRED")
		requireRefusal(t, approve(omar, id), codes.PermissionDenied, "ROLE_REQUIRED")
		e.requireUnchanged(t, reviewStream(id), before)
	})
	t.Run("four eyes: a loan officer never decides their own application", func(t *testing.T) {
		id := reviewed(t, max)
		before := e.read(t, reviewStream(id))
		requireRefusal(t, approve(max, id), codes.PermissionDenied, "SELF_APPROVAL")
		requireRefusal(t, deny(max, id), codes.PermissionDenied, "SELF_APPROVAL")
		e.requireUnchanged(t, reviewStream(id), before)
		must(t, approve(lena, id))
		rev := e.read(t, reviewStream(id))
		requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued, loanevents.TypeLoanApproved)
		if m := rev[1].Meta; m.Actor != "lena" || strings.Join(m.ActorRoles, ",") != "loan_officer" {
			t.Fatalf("approved by %q with roles %v; want lena, [loan_officer]", m.Actor, m.ActorRoles)
		}
		if m := rev[0].Meta; m.Actor != reviewManager || strings.Join(m.ActorRoles, ",") != "system" || m.ActorIssuer != auth.InternalIssuer {
			t.Fatalf("review issued by %q with roles %v from %q; want %s, [system], %s", m.Actor, m.ActorRoles, m.ActorIssuer, reviewManager, auth.InternalIssuer)
		}
	})
	t.Run("a loan officer who applies decides others' applications", func(t *testing.T) {
		must(t, deny(max, reviewed(t, ada)))
	})
	t.Run("only the applicant signs or rejects their contract", func(t *testing.T) {
		id := reviewed(t, ada)
		must(t, approve(lena, id))
		e.awaitEvent(t, contractStream(id), loanevents.TypeLoanContractIssued)
		before := e.read(t, contractStream(id))
		requireRefusal(t, sign(bo, id), codes.NotFound, "LOAN_CONTRACT_NOT_FOUND")
		requireRefusal(t, reject(bo, id), codes.NotFound, "LOAN_CONTRACT_NOT_FOUND")
		requireRefusal(t, sign(max, id), codes.NotFound, "LOAN_CONTRACT_NOT_FOUND")
		requireRefusal(t, sign(lena, id), codes.PermissionDenied, "ROLE_REQUIRED")
		e.requireUnchanged(t, contractStream(id), before)
		must(t, sign(ada, id))
	})
	t.Run("REST answers 403 for a refused role", func(t *testing.T) {
		id := reviewed(t, ada)
		e.rest().post(t, "/v1/loan-applications/"+id+":approve", "{}", "Authorization", "Bearer "+issuer.Token(t, "ada", auth.RoleApplicant)).
			requireRefusal(t, http.StatusForbidden, codes.PermissionDenied, "ROLE_REQUIRED")
		e.rest().post(t, "/v1/loan-applications/"+id+":approve", "{}", "Authorization", "Bearer "+issuer.Token(t, "ada", auth.RoleLoanOfficer)).
			requireRefusal(t, http.StatusForbidden, codes.PermissionDenied, "SELF_APPROVAL")
	})
}

// A command ID names one command: sent again with another command, it is refused.
func TestCommands_CommandIDReuse(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	id := e.pendingReview(ctx, t)
	cmd := newID()
	first, err := e.client.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id, CommandId: cmd})
	if err != nil {
		t.Fatal(err)
	}
	before := e.read(t, reviewStream(id))

	t.Run("a DenyLoan reusing an ApproveLoan's ID is refused", func(t *testing.T) {
		_, err := e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, CommandId: cmd, Reason: "changed my mind"})
		requireRefusal(t, err, codes.FailedPrecondition, "COMMAND_ID_REUSED")
	})
	t.Run("the same command from another caller is another command", func(t *testing.T) {
		_, err := e.client.ApproveLoan(as(ctx, "officer-2", ""), &loansv1.ApproveLoanRequest{LoanApplicationUuid: id, CommandId: cmd})
		requireRefusal(t, err, codes.FailedPrecondition, "COMMAND_ID_REUSED")
	})
	t.Run("over REST: 409", func(t *testing.T) {
		e.rest().post(t, "/v1/loan-applications/"+id+":deny", `{"commandId":"`+cmd+`","reason":"x"}`).
			requireRefusal(t, http.StatusConflict, codes.FailedPrecondition, "COMMAND_ID_REUSED")
	})
	t.Run("the same command again still gets its first reply", func(t *testing.T) {
		again, err := e.client.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id, CommandId: cmd})
		if err != nil {
			t.Fatal(err)
		}
		requireSameReply(t, first.GetResult(), again.GetResult())
	})
	e.requireUnchanged(t, reviewStream(id), before)
}

// Text fields are bounded; what is over the bound is refused whole.
func TestCommands_TextLimits(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	id := e.pendingReview(ctx, t)
	before := e.read(t, reviewStream(id))
	_, err := e.client.DenyLoan(ctx, &loansv1.DenyLoanRequest{LoanApplicationUuid: id, Reason: strings.Repeat("x", 1001)})
	requireRefusal(t, err, codes.InvalidArgument, "REASON_TOO_LONG")
	e.rest().post(t, "/v1/loan-applications/"+id+":deny", `{"reason":"`+strings.Repeat("é", 1001)+`"}`).
		requireRefusal(t, http.StatusBadRequest, codes.InvalidArgument, "REASON_TOO_LONG")
	e.requireUnchanged(t, reviewStream(id), before)
}

func errorMessage(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
