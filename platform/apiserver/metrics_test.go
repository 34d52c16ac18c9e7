package apiserver_test

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
)

// With a registry, every method is counted from zero, and each call under
// its code, REST calls included (they pass through gRPC).
func TestServer_Metrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, _, client, _ := start(t, func(c *apiserver.Config) { c.Metrics = reg })
	count := func(method, code string) float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "grpc_server_handled_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["grpc_method"] == method && labels["grpc_code"] == code {
					return m.GetCounter().GetValue()
				}
			}
		}
		return -1
	}
	if got := count("ListLoanApplications", "OK"); got != 0 {
		t.Fatalf("an uncalled method counts %v, want 0 (initialised)", got)
	}
	if _, err := client.GetLoanApplication(callCtx(t), &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := count("GetLoanApplication", "OK"); got != 1 {
		t.Fatalf("grpc_server_handled_total{GetLoanApplication,OK} = %v, want 1", got)
	}
	resp, err := http.Get("http://" + srv.HTTPAddr() + "/v1/loan-applications/x")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := count("GetLoanApplication", "OK"); got != 2 {
		t.Fatalf("after a REST call: %v, want 2", got)
	}
	if n, err := testutil.GatherAndCount(reg, "grpc_server_handling_seconds"); err != nil || n == 0 {
		t.Fatalf("no latency histogram (%d, %v)", n, err)
	}
}
