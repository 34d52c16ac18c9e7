package service_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/loanflow/loans/command-service/internal/service"
	"github.com/loanflow/loans/devstack/identity"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/loanevents"
)

// The lifecycle of the README, with the development identity provider that
// `make run` starts: tokens from its password grant, verified through its
// discovery document and keys.
func TestLifecycle_DevelopmentIdentityProvider(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	idp, err := identity.Start(lis, identity.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = idp.Shutdown(context.Background()) })
	verifier, err := auth.NewVerifier(auth.Config{IssuerURL: idp.Issuer(), Audience: idp.Audience()})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *service.Config) { c.Authenticator = verifier })
	ctx := callCtx(t)
	token := func(user string) context.Context {
		t.Helper()
		resp, err := http.PostForm(idp.Issuer()+"/token", url.Values{
			"grant_type": {"password"}, "client_id": {"loans-cli"}, "username": {user}, "password": {user},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("token for %s: HTTP %d, %v", user, resp.StatusCode, err)
		}
		return withToken(ctx, body.AccessToken)
	}
	ada, lena, maxi := token("ada"), token("lena"), token("max")

	id := newID()
	if _, err := e.client.RequestLoan(ada, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: 1200, Duration: 24}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.SubmitLoanRequest(ada, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatal(err)
	}
	e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	_, err = e.client.ApproveLoan(ada, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id})
	requireRefusal(t, err, codes.PermissionDenied, "ROLE_REQUIRED")
	if _, err := e.client.ApproveLoan(lena, &loansv1.ApproveLoanRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatal(err)
	}
	e.awaitEvent(t, contractStream(id), loanevents.TypeLoanContractIssued)
	if _, err := e.client.SignContract(ada, &loansv1.SignContractRequest{LoanApplicationUuid: id}); err != nil {
		t.Fatal(err)
	}

	actors := map[string]string{}
	for _, s := range []string{requestStream(id), reviewStream(id), contractStream(id)} {
		for _, ev := range e.read(t, s) {
			actors[ev.Type] = ev.Meta.Actor
			if ev.Meta.ActorIssuer != idp.Issuer() && ev.Meta.ActorIssuer != auth.InternalIssuer {
				t.Errorf("%s vouched for by %q; want %s", ev.Type, ev.Meta.ActorIssuer, idp.Issuer())
			}
		}
	}
	want := map[string]string{
		loanevents.TypeLoanRequested: "ada", loanevents.TypeLoanRequestSubmitted: "ada", loanevents.TypeLoanReviewIssued: reviewManager,
		loanevents.TypeLoanApproved: "lena", loanevents.TypeLoanContractIssued: contractManager, loanevents.TypeContractSigned: "ada",
	}
	for typ, actor := range want {
		if actors[typ] != actor {
			t.Errorf("%s by %q; want %q", typ, actors[typ], actor)
		}
	}

	t.Run("max, officer and applicant, may not approve his own application", func(t *testing.T) {
		own := newID()
		if _, err := e.client.RequestLoan(maxi, &loansv1.RequestLoanRequest{LoanApplicationUuid: own, Amount: 900, Duration: 6}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.client.SubmitLoanRequest(maxi, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: own}); err != nil {
			t.Fatal(err)
		}
		e.awaitEvent(t, reviewStream(own), loanevents.TypeLoanReviewIssued)
		_, err := e.client.ApproveLoan(maxi, &loansv1.ApproveLoanRequest{LoanApplicationUuid: own})
		requireRefusal(t, err, codes.PermissionDenied, "SELF_APPROVAL")
	})
}
