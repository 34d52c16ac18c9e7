package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/poll"
)

// syncBuffer is a bytes.Buffer the server's goroutines may write while the
// test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun_Help(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"-h"}, &out); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run -h: %v, want flag.ErrHelp (main exits 0)", err)
	}
	// Every flag's usage ends with the environment variable that may set it.
	usage := regexp.MustCompile(`(?m)^  -([a-z-]+).*\n((?:    .*\n)+)`)
	seen := map[string]bool{}
	for _, m := range usage.FindAllStringSubmatch(out.String(), -1) {
		name, text := m[1], strings.Join(strings.Fields(m[2]), " ")
		seen[name] = true
		if v, ok := envVars[name]; !ok || !regexp.MustCompile(`\(`+v+`\)( \(default .*\))?$`).MatchString(text) {
			t.Errorf("-%s: usage %q does not end with its environment variable (%s)", name, text, v)
		}
	}
	for name := range envVars {
		if !seen[name] {
			t.Errorf("-%s missing from the usage:\n%s", name, out.String())
		}
	}
}

func TestRun_ServesUntilCancelled(t *testing.T) {
	t.Setenv("WEBAPP_CLIENT_ID", "from-env")
	ctx, cancel := context.WithCancel(t.Context())
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, &logs) }()
	var base string
	served := regexp.MustCompile(`"msg":"webapp: serving","url":"(http://[^"]+)/"`)
	poll.Until(t, 10*time.Second, 10*time.Millisecond, func() (bool, string) {
		m := served.FindStringSubmatch(logs.String())
		if m != nil {
			base = m[1]
		}
		return m != nil, "no serving line in: " + logs.String()
	})
	resp, err := http.Get(base + "/config.json")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"clientId":"from-env"`) {
		t.Errorf("/config.json: %s, want the client ID from WEBAPP_CLIENT_ID", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of cancel")
	}
	if !strings.Contains(logs.String(), `"msg":"webapp: stopped"`) {
		t.Errorf("no stopped line in: %s", logs.String())
	}
}

func TestRun_RefusesBadConfiguration(t *testing.T) {
	err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-command-url", "localhost:8080"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "command URL") {
		t.Errorf("run with a relative command URL: %v, want a refusal naming it", err)
	}
}
