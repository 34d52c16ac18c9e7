package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth/authtest"
	"github.com/loanflow/loans/platform/poll"
)

// TestRun_RefusesWithoutIssuerAndAudience: without them no call could be
// authenticated, so the service stops at once, naming what is missing,
// before it opens the read model or binds a port.
func TestRun_RefusesWithoutIssuerAndAudience(t *testing.T) {
	for name, c := range map[string]struct {
		env     map[string]string
		args    []string
		want    []string
		notWant string
	}{
		"Neither":    {want: []string{"OIDC_ISSUER_URL", "OIDC_AUDIENCE"}},
		"NoAudience": {env: map[string]string{"OIDC_ISSUER_URL": "https://id.example.com"}, want: []string{"OIDC_AUDIENCE"}, notWant: "OIDC_ISSUER_URL"},
		"NoIssuer":   {args: []string{"-oidc-audience", "loans-api"}, want: []string{"OIDC_ISSUER_URL"}, notWant: "OIDC_AUDIENCE"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("OIDC_ISSUER_URL", "")
			t.Setenv("OIDC_AUDIENCE", "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			args := append([]string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
				"-readmodel", "sqlite:" + filepath.Join(dir, "readmodel.db")}, c.args...)
			done := make(chan error, 1)
			go func() { done <- run(t.Context(), args) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the service started")
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if c.notWant != "" && strings.Contains(err.Error(), c.notWant) {
				t.Errorf("error %q names %s, which was given", err, c.notWant)
			}
			if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) > 0 {
				t.Errorf("the read model was opened: %v", matches)
			}
		})
	}
}

func TestRun_HelpExitsZero(t *testing.T) {
	if err := run(t.Context(), []string{"-h"}); err != nil {
		t.Fatalf("-h: %v", err)
	}
}

// freeAddr is a loopback address nothing listens on now (another process
// taking it before run does fails the test loudly).
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// TestRun_AdminAddr: -admin-addr (or QUERY_ADMIN_ADDR) serves the
// metrics, the probes and pprof; the queries are counted there.
func TestRun_AdminAddr(t *testing.T) {
	iss := authtest.Start(t)
	grpcAddr, admin := freeAddr(t), freeAddr(t)
	t.Setenv("QUERY_ADMIN_ADDR", admin)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-grpc-addr", grpcAddr, "-http-addr", "127.0.0.1:0", "-log-level", "warn",
			"-readmodel", "sqlite:" + filepath.Join(t.TempDir(), "readmodel.db"),
			"-oidc-issuer-url", iss.URL, "-oidc-audience", authtest.Audience})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not stop within 10s")
		}
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + admin + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("run ended: %v", err)
		default:
		}
		code, body := get("/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz: %d %s", code, body)
	})

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = loansv1.NewLoanQueryServiceClient(conn).GetLoanApplication(t.Context(), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "x"})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a query without a token: %v", err)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		`loans_queries_total{outcome="refused",query="GetLoanApplication"} 1`,
		`loans_ready{check="readmodel"} 1`,
		`grpc_server_handled_total{grpc_code="Unauthenticated",grpc_method="GetLoanApplication",grpc_service="loans.v1.LoanQueryService",grpc_type="unary"} 1`,
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %s", code, want)
		}
	}
	if code, _ := get("/debug/pprof/"); code != http.StatusOK {
		t.Errorf("/debug/pprof/: %d", code)
	}
}
