package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
)

// commands answers RequestLoan, the route with a body, and counts the calls
// that reached it.
type commands struct {
	loansv1.UnimplementedLoanCommandServiceServer
	calls atomic.Int32
}

func (c *commands) RequestLoan(context.Context, *loansv1.RequestLoanRequest) (*loansv1.RequestLoanResponse, error) {
	c.calls.Add(1)
	return &loansv1.RequestLoanResponse{}, nil
}

func startCommands(t *testing.T) (*apiserver.Server, *commands) {
	impl := &commands{}
	return serve(t, apiserver.Config{
		Service:         &loansv1.LoanCommandService_ServiceDesc,
		Impl:            impl,
		RegisterGateway: loansv1.RegisterLoanCommandServiceHandler,
	}), impl
}

// rpcStatus is the JSON google.rpc.Status the gateway answers errors with.
type rpcStatus struct {
	Code    *int   `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type     string            `json:"@type"`
		Reason   string            `json:"reason"`
		Domain   string            `json:"domain"`
		Metadata map[string]string `json:"metadata"`
	} `json:"details"`
}

// do sends one request and reads the whole answer.
func do(t *testing.T, client *http.Client, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func newRequest(t *testing.T, method, url string, body io.Reader, header ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(callCtx(t), method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return req
}

func decodeStatus(t *testing.T, body []byte) rpcStatus {
	t.Helper()
	var st rpcStatus
	if err := json.Unmarshal(body, &st); err != nil || st.Code == nil {
		t.Fatalf("body %q is not a google.rpc.Status: %v", body, err)
	}
	return st
}

func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}

func TestServer_CORS(t *testing.T) {
	const allowed = "http://localhost:5173"
	srv, _, _, _ := start(t, func(c *apiserver.Config) { c.CORSAllowedOrigins = []string{allowed, "https://loans.example"} })
	url := "http://" + srv.HTTPAddr() + "/v1/loan-applications/abc"
	preflight := func(t *testing.T, url, origin, method string) *http.Response {
		resp, _ := do(t, http.DefaultClient, newRequest(t, http.MethodOptions, url, nil,
			"Origin", origin,
			"Access-Control-Request-Method", method,
			"Access-Control-Request-Headers", "authorization,content-type,traceparent,x-correlation-id")) // as browsers send them: sorted, lowercase
		return resp
	}

	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run("PreflightFromAllowedOrigin"+method, func(t *testing.T) {
			resp := preflight(t, url, allowed, method)
			h := resp.Header
			if resp.StatusCode != http.StatusNoContent {
				t.Errorf("HTTP %d, want 204", resp.StatusCode)
			}
			if got := h.Get("Access-Control-Allow-Origin"); got != allowed {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, allowed)
			}
			if got := h.Get("Access-Control-Allow-Methods"); !strings.Contains(got, method) {
				t.Errorf("Access-Control-Allow-Methods %q lacks %s", got, method)
			}
			for _, header := range []string{"authorization", "content-type", "x-correlation-id", "traceparent"} {
				if got := strings.ToLower(h.Get("Access-Control-Allow-Headers")); !strings.Contains(got, header) {
					t.Errorf("Access-Control-Allow-Headers %q lacks %s", got, header)
				}
			}
			if h.Get("Access-Control-Max-Age") == "" {
				t.Error("no Access-Control-Max-Age: every call would be preflighted")
			}
			if got := h.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("Access-Control-Allow-Credentials %q: tokens travel in a header, not cookies", got)
			}
		})
	}
	t.Run("PreflightForAnotherMethodRefused", func(t *testing.T) {
		if got := corsHeaders(preflight(t, url, allowed, http.MethodDelete).Header); len(got) != 0 {
			t.Errorf("DELETE preflight answered %v", got)
		}
	})
	t.Run("PreflightForAnotherHeaderRefused", func(t *testing.T) {
		resp, _ := do(t, http.DefaultClient, newRequest(t, http.MethodOptions, url, nil,
			"Origin", allowed, "Access-Control-Request-Method", "GET", "Access-Control-Request-Headers", "x-api-secret"))
		if got := corsHeaders(resp.Header); len(got) != 0 {
			t.Errorf("preflight for x-api-secret answered %v", got)
		}
	})
	t.Run("RequestFromAllowedOrigin", func(t *testing.T) {
		resp, _ := do(t, http.DefaultClient, newRequest(t, http.MethodGet, url, nil, "Origin", allowed, "Authorization", "Bearer t"))
		h := resp.Header
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HTTP %d, want 200", resp.StatusCode)
		}
		if got := h.Get("Access-Control-Allow-Origin"); got != allowed {
			t.Errorf("Access-Control-Allow-Origin %q, want %q", got, allowed)
		}
		if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Errorf("Vary %q lacks Origin: a cache could serve one origin's answer to another", h.Values("Vary"))
		}
		for _, name := range []string{"Access-Control-Expose-Headers", "Access-Control-Allow-Credentials"} {
			if got := h.Get(name); got != "" {
				t.Errorf("%s: %q, want none", name, got)
			}
		}
	})
	t.Run("OtherOriginGetsNoCORSHeaders", func(t *testing.T) {
		const other = "http://evil.example"
		if got := corsHeaders(preflight(t, url, other, http.MethodGet).Header); len(got) != 0 {
			t.Errorf("preflight from %s answered %v", other, got)
		}
		resp, _ := do(t, http.DefaultClient, newRequest(t, http.MethodGet, url, nil, "Origin", other))
		if got := corsHeaders(resp.Header); len(got) != 0 {
			t.Errorf("GET from %s answered %v", other, got)
		}
	})
	t.Run("NoOriginsNoCORS", func(t *testing.T) {
		plain, _, _, _ := start(t)
		resp := preflight(t, "http://"+plain.HTTPAddr()+"/v1/loan-applications/abc", allowed, http.MethodGet)
		if got := corsHeaders(resp.Header); len(got) != 0 {
			t.Errorf("a server without origins answered a preflight with %v", got)
		}
	})
}

func TestServer_WrongMethod(t *testing.T) {
	queries, _, _, _ := start(t)
	cmds, _ := startCommands(t)
	for name, tc := range map[string]struct {
		method, url string
		code        int
		allow       string
	}{
		"PostOnAQuery":       {http.MethodPost, "http://" + queries.HTTPAddr() + "/v1/loan-applications/abc", http.StatusMethodNotAllowed, "GET"},
		"DeleteOnAList":      {http.MethodDelete, "http://" + queries.HTTPAddr() + "/v1/loan-applications", http.StatusMethodNotAllowed, "GET"},
		"GetOnACommand":      {http.MethodGet, "http://" + cmds.HTTPAddr() + "/v1/loan-applications/abc:submit", http.StatusMethodNotAllowed, "POST"},
		"PutOnACommand":      {http.MethodPut, "http://" + cmds.HTTPAddr() + "/v1/loan-applications", http.StatusMethodNotAllowed, "POST"},
		"UnknownPath":        {http.MethodGet, "http://" + queries.HTTPAddr() + "/v2/nothing-here", http.StatusNotFound, ""},
		"UnknownPathAndVerb": {http.MethodPost, "http://" + cmds.HTTPAddr() + "/v1/loan-applications/abc:frobnicate", http.StatusNotFound, ""},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := do(t, http.DefaultClient, newRequest(t, tc.method, tc.url, strings.NewReader("{}")))
			if resp.StatusCode != tc.code {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, tc.code)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if st := decodeStatus(t, body); st.Message == "" {
				t.Errorf("status %s has no message", body)
			}
		})
	}
}

func TestServer_BodyLimit(t *testing.T) {
	srv, impl := startCommands(t)
	url := "http://" + srv.HTTPAddr() + "/v1/loan-applications"
	// A valid command, padded past the limit in a field the service would take.
	oversized := func() []byte {
		return []byte(`{"loanApplicationUuid":"6a1d2e1c-4a0e-4c57-9c1e-8a0b7b0e8e11","amount":1200,"duration":24,"applicant":"` +
			strings.Repeat("a", apiserver.MaxRecvMsgSize) + `"}`)
	}
	tooLarge := func(t *testing.T, req *http.Request) {
		t.Helper()
		before := impl.calls.Load()
		resp, body := do(t, http.DefaultClient, req)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("HTTP %d, want 413", resp.StatusCode)
		}
		st := decodeStatus(t, body)
		if *st.Code != int(codes.ResourceExhausted) || len(st.Details) != 1 ||
			st.Details[0].Reason != apiserver.ReasonRequestTooLarge || st.Details[0].Domain != apiserver.ErrorDomain {
			t.Errorf("status %s, want ResourceExhausted with ErrorInfo %s/%s", body, apiserver.ErrorDomain, apiserver.ReasonRequestTooLarge)
		}
		if n := impl.calls.Load() - before; n != 0 {
			t.Errorf("%d calls reached the service", n)
		}
	}

	t.Run("SmallBodyServed", func(t *testing.T) {
		resp, body := do(t, http.DefaultClient, newRequest(t, http.MethodPost, url,
			strings.NewReader(`{"loanApplicationUuid":"6a1d2e1c-4a0e-4c57-9c1e-8a0b7b0e8e11","amount":1200,"duration":24}`)))
		if resp.StatusCode != http.StatusOK || impl.calls.Load() != 1 {
			t.Fatalf("HTTP %d %s, %d calls; want 200 and one call", resp.StatusCode, body, impl.calls.Load())
		}
	})
	t.Run("OverTheLimitWithContentLength", func(t *testing.T) {
		req := newRequest(t, http.MethodPost, url, bytes.NewReader(oversized()))
		if req.ContentLength <= apiserver.MaxRecvMsgSize {
			t.Fatalf("Content-Length %d", req.ContentLength)
		}
		tooLarge(t, req)
	})
	t.Run("OverTheLimitChunked", func(t *testing.T) {
		req := newRequest(t, http.MethodPost, url, io.MultiReader(bytes.NewReader(oversized()))) // no length known
		req.TransferEncoding = []string{"chunked"}
		tooLarge(t, req)
	})
}

func TestServer_Unauthenticated(t *testing.T) {
	srv, _, _, _ := start(t)
	url := "http://" + srv.HTTPAddr() + "/v1/loan-applications/"
	for name, tc := range map[string]struct {
		id, authorization string
		code              int
		challenge         string
	}{
		"NoToken":   {"unauthenticated", "", http.StatusUnauthorized, `Bearer realm="loans"`},
		"BadToken":  {"unauthenticated", "Bearer expired", http.StatusUnauthorized, `Bearer realm="loans", error="invalid_token"`},
		"Forbidden": {"forbidden", "Bearer fine", http.StatusForbidden, ""},
	} {
		t.Run(name, func(t *testing.T) {
			req := newRequest(t, http.MethodGet, url+tc.id, nil)
			if tc.authorization != "" {
				req.Header.Set("Authorization", tc.authorization)
			}
			resp, body := do(t, http.DefaultClient, req)
			if resp.StatusCode != tc.code {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, tc.code)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			decodeStatus(t, body)
		})
	}
}

func TestServer_RESTDeadlines(t *testing.T) {
	srv, impl, _, _ := start(t)
	url := "http://" + srv.HTTPAddr() + "/v1/loan-applications/deadline"
	for name, tc := range map[string]struct {
		grpcTimeout string
		most        time.Duration
	}{
		"NoneGetsTheDefault":    {"", defaultDeadline},
		"AnHourCutToTheMaximum": {"1H", maxDeadline},
		"ShortOneKept":          {"1S", time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			req := newRequest(t, http.MethodGet, url, nil)
			if tc.grpcTimeout != "" {
				req.Header.Set("Grpc-Timeout", tc.grpcTimeout)
			}
			if resp, body := do(t, http.DefaultClient, req); resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d %s", resp.StatusCode, body)
			}
			if left := <-impl.deadlines; left <= 0 || left > tc.most {
				t.Errorf("the handler had %v left, want (0, %v]", left, tc.most)
			}
		})
	}
}
