//go:build unix

package systemtest_test

import (
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/loanflow/loans/devstack/systemtest"
)

// One system, every piece asked something only it answers, then stopped:
// each process must exit cleanly on SIGTERM.
func TestStart_EveryPieceAnswersUntilStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the platform")
	}
	// The web app's port taken, as when make run is up: the web app must
	// run elsewhere, registered there with the identity provider.
	if l, err := net.Listen("tcp", "127.0.0.1:5173"); err == nil {
		t.Cleanup(func() { l.Close() })
	}
	cfg := systemtest.Config{WebApp: true, AMQPURL: systemtest.Broker()}
	services := []string{"command-service", "projector-service", "query-service"}
	if cfg.AMQPURL != "" {
		services = append(services, "publisher-service")
	} else {
		t.Log("no RabbitMQ answers (AMQP_TEST_URL or 127.0.0.1:5672): the publisher is not started")
	}
	s := systemtest.Start(t, cfg)

	t.Run("ACommandIsStoredProjectedAndRead", func(t *testing.T) {
		ada := s.Token(t, "ada")
		id := "5d3e8a8e-55b4-4a43-9c67-2b8a4f0b2f10"
		code, body := send(t, http.MethodPost, s.CommandHTTP+"/v1/loan-applications", ada,
			`{"loanApplicationUuid":"`+id+`","amount":1200,"duration":24}`)
		var requested struct {
			Result struct {
				CommitPosition string `json:"commitPosition"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(body), &requested); code != http.StatusOK || err != nil {
			t.Fatalf("request a loan: %d %s (%v)", code, body, err)
		}
		// The consistency token makes the query service wait for the
		// projector: the event store, the projector and the read model
		// answer too.
		code, body = send(t, http.MethodGet,
			s.QueryHTTP+"/v1/loan-applications/"+id+"?consistencyToken="+requested.Result.CommitPosition, ada, "")
		if code != http.StatusOK || !strings.Contains(body, id) {
			t.Errorf("read the application: %d %s", code, body)
		}
	})

	t.Run("TheGRPCPortsServe", func(t *testing.T) {
		for _, addr := range []string{s.CommandGRPC, s.QueryGRPC} {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{})
			conn.Close()
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("%s health: %v %v", addr, resp.GetStatus(), err)
			}
		}
	})

	t.Run("EveryServiceHasItsAdminListener", func(t *testing.T) {
		if got, want := slices.Sorted(maps.Keys(s.Admin)), slices.Sorted(slices.Values(services)); !slices.Equal(got, want) {
			t.Errorf("admin listeners of %v, want %v", got, want)
		}
		for name, base := range s.Admin {
			code, body := send(t, http.MethodGet, base+"/metrics", "", "")
			if code != http.StatusOK || !strings.Contains(body, "# TYPE loans_") {
				t.Errorf("%s /metrics: %d %.200s", name, code, body)
			}
		}
	})

	t.Run("TheWebAppMovedAndTheIdentityProviderRedirectsOnlyThere", func(t *testing.T) {
		if s.WebApp == "http://127.0.0.1:5173" {
			t.Fatalf("the web app is on %s, a port taken", s.WebApp)
		}
		if code, body := send(t, http.MethodGet, s.WebApp+"/healthz", "", ""); code != http.StatusOK {
			t.Errorf("web app /healthz: %d %s", code, body)
		}
		if code, to := authorize(t, s, s.WebApp+"/callback"); code != http.StatusFound || !strings.HasPrefix(to, s.Issuer+"/login?") {
			t.Errorf("authorize with the web app's redirect: %d to %q, want 302 to the login page", code, to)
		}
		if code, to := authorize(t, s, "http://127.0.0.1:5173/callback"); code != http.StatusBadRequest {
			t.Errorf("authorize with the taken port's redirect: %d to %q, want 400: not registered", code, to)
		}
	})

	s.Stop()
}

// authorize begins the web app's sign-in (loans-web, PKCE) with a
// redirect URI, and returns the identity provider's status and Location.
func authorize(t *testing.T, s *systemtest.System, redirect string) (int, string) {
	t.Helper()
	q := url.Values{"client_id": {"loans-web"}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
		"state": {"s"}, "code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(s.Issuer + "/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

func send(t *testing.T, method, u, bearer, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
