// Package telemetrytest reads a process's metrics the way Prometheus does,
// for tests that check the counters against what they did.
package telemetrytest

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// Scrape GETs http://addr/metrics and returns its series, each named as
// exposed (name{label="value",…}, labels sorted by name), with its value.
func Scrape(tb testing.TB, addr string) map[string]float64 {
	tb.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		tb.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("scrape %s: %d %v", addr, resp.StatusCode, err)
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}
