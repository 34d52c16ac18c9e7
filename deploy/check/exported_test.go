package check

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/loanflow/loans/devstack/systemtest"
	"github.com/loanflow/loans/platform/poll"
)

// The system runs as under make run (the event store, the development
// identity provider, the four services with their admin listeners, their
// traces exported over OTLP to a receiver of the test's), one application
// goes through its lifecycle over REST, then: the metrics the dashboard and
// the alert rules use are ones the services really export (every admin
// listener's /metrics scraped), and one trace, begun by the caller, spans
// the processes: the command service's call and its process manager's
// follow-up, the projector's write of the events, the query's wait.
func TestRunningSystem_ExportsTheMetricsAndTracesTheDeploymentUses(t *testing.T) {
	root := repoRoot(t)
	want, err := MetricNames(root)
	if err != nil {
		t.Fatal(err)
	}
	traces := startOTLPReceiver(t)
	cfg := systemtest.Config{Env: []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + traces.url, "OTEL_BSP_SCHEDULE_DELAY=100"}}
	if cfg.AMQPURL = systemtest.Broker(); cfg.AMQPURL != "" {
		cfg.Exchange = fmt.Sprintf("deploy-check.events-%d", time.Now().UnixNano())
	} else {
		t.Log("SKIPPED: no RabbitMQ answers at 127.0.0.1:5672: the publisher's metrics (loans_publisher_*) are not checked")
		want = slices.DeleteFunc(want, func(n string) bool { return strings.HasPrefix(n, "loans_publisher_") })
	}
	sys := systemtest.Start(t, cfg)

	// One lifecycle: ada requests and submits, lena approves, ada signs and
	// reads her application with the consistency token.
	ada, lena := sys.Token(t, "ada"), sys.Token(t, "lena")
	id := "0b9e5c1e-4a0e-4c57-9c1e-8a0b7b0e8e42"
	base := sys.CommandHTTP + "/v1/loan-applications"
	post(t, base, ada, `{"loanApplicationUuid":"`+id+`","amount":1200,"duration":24}`)
	post(t, base, ada, `{"loanApplicationUuid":"`+id+`","amount":100,"duration":24}`) // refused
	// The caller's trace: its traceparent on the submission and the query.
	traceID := "0af7651916cd43dd8448eb211c80319c"
	traceparent := "00-" + traceID + "-b7ad6b7169203331-01"
	postWith(t, base+"/"+id+":submit", ada, `{}`, "traceparent", traceparent)
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		code, body := postStatus(t, base+"/"+id+":approve", lena, `{}`)
		return code == 200, fmt.Sprintf("approve: %d %s", code, body)
	})
	var signed struct {
		Result struct {
			CommitPosition string `json:"commitPosition"`
		} `json:"result"`
	}
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		code, body := postStatus(t, base+"/"+id+":sign-contract", ada, `{}`)
		_ = json.Unmarshal([]byte(body), &signed)
		return code == 200, fmt.Sprintf("sign: %d %s", code, body)
	})
	code, body := getWith(t, sys.QueryHTTP+"/v1/loan-applications/"+id+"?consistencyToken="+signed.Result.CommitPosition, ada,
		"traceparent", "00-"+traceID+"-c7ad6b7169203332-01")
	if code != 200 {
		t.Fatalf("query: %d %s", code, body)
	}

	var missing []string
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		exported := map[string]bool{}
		for name, admin := range sys.Admin {
			code, body, err := get(admin+"/metrics", "")
			if err != nil || code != 200 {
				return false, fmt.Sprintf("%s /metrics: %d %v", name, code, err)
			}
			for _, n := range familyNames(body) {
				exported[n] = true
			}
		}
		missing = slices.DeleteFunc(slices.Clone(want), func(n string) bool { return exported[n] })
		return len(missing) == 0, fmt.Sprintf("the dashboard or the alerts use metrics no service exports: %v", missing)
	})

	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		for _, want := range []struct{ service, span string }{
			{"command-service", "loans.v1.LoanCommandService/SubmitLoanRequest"},
			{"command-service", "eventstore append"},
			{"command-service", "process manager loanReview"},
			{"projector-service", "projector write"},
			{"query-service", "query consistency wait"},
		} {
			if !traces.has(traceID, want.service, want.span) {
				return false, fmt.Sprintf("trace %s has no %q span of %s (received: %v)", traceID, want.span, want.service, traces.names(traceID))
			}
		}
		return true, ""
	})
	sys.Stop()
}

// otlpReceiver takes the traces the services export over OTLP/HTTP.
type otlpReceiver struct {
	url   string
	mu    sync.Mutex
	spans []receivedSpan
}

type receivedSpan struct {
	service, name string
	traceIDs      []string // its own, and those it links to
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	r := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var export coltracepb.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &export)
		}
		if req.URL.Path != "/v1/traces" || err != nil {
			http.Error(w, fmt.Sprintf("%s: %v", req.URL.Path, err), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.GetResourceSpans() {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, sp := range ss.GetSpans() {
					ids := []string{hex.EncodeToString(sp.GetTraceId())}
					for _, l := range sp.GetLinks() {
						ids = append(ids, hex.EncodeToString(l.GetTraceId()))
					}
					r.spans = append(r.spans, receivedSpan{service: service, name: sp.GetName(), traceIDs: ids})
				}
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// has tells whether service exported a span named name in the trace (or
// linked to it, as the projector's batched writes are).
func (r *otlpReceiver) has(traceID, service, name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.spans {
		if s.service == service && s.name == name && slices.Contains(s.traceIDs, traceID) {
			return true
		}
	}
	return false
}

func (r *otlpReceiver) names(traceID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.spans {
		if slices.Contains(s.traceIDs, traceID) {
			out = append(out, s.service+": "+s.name)
		}
	}
	return out
}

// familyNames are the metric families of a Prometheus text exposition.
func familyNames(body string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			out = append(out, f[2])
		}
	}
	return out
}

func get(u, bearer string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func postStatus(t *testing.T, u, bearer, body string) (int, string) {
	t.Helper()
	return send(t, http.MethodPost, u, bearer, body, "", "")
}

func post(t *testing.T, u, bearer, body string) {
	t.Helper()
	postStatus(t, u, bearer, body)
}

// postWith posts with one more header and fails unless the answer is 200.
func postWith(t *testing.T, u, bearer, body, header, value string) {
	t.Helper()
	if code, out := send(t, http.MethodPost, u, bearer, body, header, value); code != http.StatusOK {
		t.Fatalf("POST %s: %d %s", u, code, out)
	}
}

// getWith gets with one more header.
func getWith(t *testing.T, u, bearer, header, value string) (int, string) {
	t.Helper()
	return send(t, http.MethodGet, u, bearer, "", header, value)
}

// send sends a request with the bearer token and, when header is not "",
// one more header.
func send(t *testing.T, method, u, bearer, body, header, value string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	if header != "" {
		req.Header.Set(header, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
