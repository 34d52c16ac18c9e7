package service_test

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/command-service/internal/service"
)

func withCORS(origins ...string) option {
	return func(c *service.Config) { c.Edge.CORSAllowedOrigins = origins }
}

// The REST gateway's edges, on the command routes: browsers of the allowed
// origins, wrong methods, oversized bodies.
func TestREST_Edges(t *testing.T) {
	e := newEnv(t, withoutProcessManagers(), withCORS("http://localhost:5173"))
	base := "http://" + e.svc.HTTPAddr()
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(t *testing.T, method, path string, body io.Reader, headers ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = resp.Body.Close() })
		return resp
	}

	t.Run("a preflight from an allowed origin is answered", func(t *testing.T) {
		resp := do(t, http.MethodOptions, "/v1/loan-applications", nil, "Origin", "http://localhost:5173",
			"Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization, content-type")
		if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
			t.Fatalf("HTTP %d, allow-origin %q; want 204 for http://localhost:5173", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
		if !strings.Contains(allowed, "authorization") || !strings.Contains(allowed, "content-type") {
			t.Fatalf("allowed headers %q; want authorization and content-type", allowed)
		}
	})
	t.Run("an actual request from an allowed origin carries the CORS header", func(t *testing.T) {
		resp := do(t, http.MethodPost, "/v1/loan-applications", strings.NewReader(`{"loanApplicationUuid":"`+newID()+`","amount":1500,"duration":12}`),
			"Origin", "http://localhost:5173", "Authorization", bearer(applicant), "Content-Type", "application/json")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
			t.Fatalf("HTTP %d, allow-origin %q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("another origin gets no CORS headers", func(t *testing.T) {
		resp := do(t, http.MethodOptions, "/v1/loan-applications", nil, "Origin", "https://evil.example",
			"Access-Control-Request-Method", "POST")
		for name := range resp.Header {
			if strings.HasPrefix(strings.ToLower(name), "access-control-") {
				t.Fatalf("answered %s: %q to another origin", name, resp.Header.Get(name))
			}
		}
	})
	t.Run("a wrong method on a known route is 405", func(t *testing.T) {
		resp := do(t, http.MethodGet, "/v1/loan-applications/"+newID()+":approve", nil, "Authorization", bearer(officer))
		if resp.StatusCode != http.StatusMethodNotAllowed || !strings.Contains(resp.Header.Get("Allow"), "POST") {
			t.Fatalf("HTTP %d, Allow %q; want 405 allowing POST", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("a body over 1 MiB is 413 and appends nothing", func(t *testing.T) {
		id := newID()
		body := `{"loanApplicationUuid":"` + id + `","amount":1500,"duration":12,"applicant":"` + strings.Repeat("a", 1<<20) + `"}`
		resp := do(t, http.MethodPost, "/v1/loan-applications", bytes.NewBufferString(body),
			"Authorization", bearer(applicant), "Content-Type", "application/json")
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("HTTP %d; want 413", resp.StatusCode)
		}
		requireTypes(t, requestStream(id), e.read(t, requestStream(id)))
	})
}
