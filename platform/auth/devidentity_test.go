package auth_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/identity"
	"github.com/loanflow/loans/platform/auth"
)

// The verifier accepts the tokens of devstack's identity provider, the
// issuer of development and `make run`, as it does Keycloak's.
func TestVerifier_AcceptsDevIdentityTokens(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	idp, err := identity.Start(lis, identity.Config{}) // embedded users, key in memory
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := idp.Shutdown(ctx); err != nil {
			t.Errorf("shut down the identity provider: %v", err)
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	form := url.Values{"grant_type": {"password"}, "client_id": {"loans-cli"}, "username": {"max"}, "password": {"max"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, idp.Issuer()+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("password grant for max: status %d, %v", resp.StatusCode, err)
	}

	v, err := auth.NewVerifier(auth.Config{IssuerURL: idp.Issuer(), Audience: "loans-api"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := v.Authenticate(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("the verifier refused the dev provider's token: %v", err)
	}
	if p.Subject != "max" || p.Issuer != idp.Issuer() || p.ClientID != "loans-cli" {
		t.Errorf("principal %+v, want subject max, issuer %s, client loans-cli", p, idp.Issuer())
	}
	if !slices.Equal(p.Roles, []auth.Role{auth.RoleApplicant, auth.RoleLoanOfficer}) {
		t.Errorf("roles %v, want [applicant loan_officer]", p.Roles)
	}

	other, err := auth.NewVerifier(auth.Config{IssuerURL: idp.Issuer(), Audience: "another-api"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Authenticate(ctx, tok.AccessToken); err == nil {
		t.Error("a verifier for another audience accepted the token")
	}
}
