package check

import (
	"bufio"
	"encoding/hex"
	"net/http/httptest"
	"sync"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/proctest"
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
	serviceEnv(t) // builds the four services into buildDir
	devBins := filepath.Join(buildDir, "dev")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", devBins+string(filepath.Separator), "./devstack/cmd/eventstore", "./devstack/cmd/identity")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := t.TempDir()
	es, idp := freeAddr(t), freeAddr(t)
	issuer := "http://" + idp
	esURL := "esdb://" + es + "?tls=false"
	start := func(name string, env []string, bin string, args ...string) *proctest.Process {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), env...)
		return proctest.Start(t, name, cmd)
	}
	start("eventstore", nil, filepath.Join(devBins, "eventstore"), "-addr", es, "-in-memory")
	start("identity", nil, filepath.Join(devBins, "identity"), "-addr", idp, "-in-memory")
	traces := startOTLPReceiver(t)
	otlp := []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + traces.url, "OTEL_BSP_SCHEDULE_DELAY=100"}
	oidc := append([]string{"OIDC_ISSUER_URL=" + issuer, "OIDC_AUDIENCE=loans-api"}, otlp...)
	cmdHTTP, queryHTTP := freeAddr(t), freeAddr(t)
	admins := map[string]string{"command-service": freeAddr(t), "projector-service": freeAddr(t), "query-service": freeAddr(t)}
	readModel := "sqlite:" + filepath.Join(data, "readmodel.db")
	procs := []*proctest.Process{
		start("command-service", oidc, filepath.Join(buildDir, "command-service"), "-eventstore", esURL,
			"-grpc-addr", freeAddr(t), "-http-addr", cmdHTTP, "-admin-addr", admins["command-service"]),
		start("projector-service", otlp, filepath.Join(buildDir, "projector-service"), "run", "-eventstore", esURL,
			"-readmodel", readModel, "-admin-addr", admins["projector-service"]),
		start("query-service", oidc, filepath.Join(buildDir, "query-service"), "-readmodel", readModel,
			"-grpc-addr", freeAddr(t), "-http-addr", queryHTTP, "-admin-addr", admins["query-service"]),
	}
	if broker := amqpURL(); broker != "" {
		admins["publisher-service"] = freeAddr(t)
		procs = append(procs, start("publisher-service", otlp, filepath.Join(buildDir, "publisher-service"), "-eventstore", esURL,
			"-amqp-url", broker, "-exchange", fmt.Sprintf("deploy-check.events-%d", time.Now().UnixNano()),
			"-admin-addr", admins["publisher-service"]))
	} else {
		t.Log("SKIPPED: no RabbitMQ answers at 127.0.0.1:5672: the publisher's metrics (loans_publisher_*) are not checked")
		want = slices.DeleteFunc(want, func(n string) bool { return strings.HasPrefix(n, "loans_publisher_") })
	}
	for name, addr := range admins {
		poll.Until(t, 60*time.Second, 50*time.Millisecond, func() (bool, string) {
			code, _, err := get("http://"+addr+"/readyz", "")
			return err == nil && code == 200, fmt.Sprintf("%s not ready (%d, %v)", name, code, err)
		})
	}

	// One lifecycle: ada requests and submits, lena approves, ada signs and
	// reads her application with the consistency token.
	ada, lena := token(t, issuer, "ada"), token(t, issuer, "lena")
	id := "0b9e5c1e-4a0e-4c57-9c1e-8a0b7b0e8e42"
	base := "http://" + cmdHTTP + "/v1/loan-applications"
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
	code, body := getWith(t, "http://"+queryHTTP+"/v1/loan-applications/"+id+"?consistencyToken="+signed.Result.CommitPosition, ada,
		"traceparent", "00-"+traceID+"-c7ad6b7169203332-01")
	if code != 200 {
		t.Fatalf("query: %d %s", code, body)
	}

	var missing []string
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		exported := map[string]bool{}
		for name, addr := range admins {
			code, body, err := get("http://"+addr+"/metrics", "")
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
	for _, p := range procs {
		p.Terminate(30 * time.Second)
	}
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

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// amqpURL is the machine's broker when one answers, else "".
func amqpURL() string {
	u := os.Getenv("AMQP_TEST_URL")
	if u == "" {
		u = "amqp://guest:guest@127.0.0.1:5672/"
	}
	parsed, err := url.Parse(u)
	if err != nil {
		return ""
	}
	conn, err := net.DialTimeout("tcp", parsed.Host, 2*time.Second)
	if err != nil {
		return ""
	}
	conn.Close()
	return u
}

func token(t *testing.T, issuer, user string) string {
	t.Helper()
	resp, err := http.PostForm(issuer+"/token", url.Values{"grant_type": {"password"}, "client_id": {"loans-cli"},
		"username": {user}, "password": {user}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.AccessToken == "" {
		t.Fatalf("token for %s: %d %v", user, resp.StatusCode, err)
	}
	return v.AccessToken
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
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
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

func send(t *testing.T, method, u, bearer, body, header, value string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set(header, value)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}
