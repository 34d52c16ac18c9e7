package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/identity"
)

// running is the command started by runCommand.
type running struct {
	addr, issuer string
	stop         context.CancelFunc
	done         chan struct{} // closed once run returned
	err          error         // what run returned, once done
}

// wait waits for run to return, with a deadline.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-r.done:
		return r.err
	case <-time.After(15 * time.Second):
		t.Fatal("the command did not stop within 15s of its context ending")
		return nil
	}
}

// runCommand runs the command with args until the test ends and waits, with
// a deadline, for its "serving" log line.
func runCommand(t *testing.T, args ...string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs, logWriter := io.Pipe()
	r := &running{stop: cancel, done: make(chan struct{})}
	go func() {
		r.err = run(ctx, args, logWriter)
		_ = logWriter.CloseWithError(io.EOF)
		close(r.done)
	}()
	serving := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			var line map[string]any
			if json.Unmarshal(sc.Bytes(), &line) == nil && line["msg"] == "identity: serving" {
				serving <- line
			}
		}
		close(serving)
	}()
	t.Cleanup(func() {
		cancel()
		_ = r.wait(t)
	})
	select {
	case line, ok := <-serving:
		if !ok {
			t.Fatalf("the command stopped before serving: %v", r.wait(t))
		}
		r.addr, r.issuer = line["addr"].(string), line["issuer"].(string)
	case <-r.done:
		t.Fatalf("the command stopped before serving: %v", r.err)
	case <-time.After(15 * time.Second):
		t.Fatal("the command did not serve within 15s")
	}
	return r
}

func TestRun_ServesAndStops(t *testing.T) {
	dir := t.TempDir()
	r := runCommand(t, "-addr", "127.0.0.1:0", "-data", dir, "-token-ttl", "5m", "-audience", "test-api")
	if !strings.HasPrefix(r.issuer, "http://127.0.0.1:") || r.issuer != "http://"+r.addr {
		t.Errorf("issuer %q for address %s, want http://<address>", r.issuer, r.addr)
	}
	resp, err := http.PostForm(r.issuer+"/token", url.Values{
		"grant_type": {"password"}, "client_id": {"loans-cli"}, "username": {"ada"}, "password": {"ada"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || body.AccessToken == "" || body.ExpiresIn != 300 {
		t.Errorf("password grant: status %d, %+v, %v; want a token for 300s", resp.StatusCode, body, err)
	}
	if _, err := os.Stat(filepath.Join(dir, identity.KeyFileName)); err != nil {
		t.Errorf("no key file in -data: %v", err)
	}

	r.stop()
	if err := r.wait(t); err != nil {
		t.Errorf("run: %v", err)
	}
}

func TestRun_EnvironmentStandsInForFlags(t *testing.T) {
	t.Setenv("IDENTITY_ADDR", "127.0.0.1:0")
	t.Setenv("IDENTITY_IN_MEMORY", "true")
	t.Setenv("IDENTITY_ISSUER_URL", "http://identity.test:8090")
	r := runCommand(t, "-data", filepath.Join(t.TempDir(), "unused"))
	if r.issuer != "http://identity.test:8090" {
		t.Errorf("issuer %q, want IDENTITY_ISSUER_URL's", r.issuer)
	}
}

func TestRun_Refuses(t *testing.T) {
	badUsers := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(badUsers, []byte("users:\n  - {name: a, password: a, roles: [system]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"MalformedVariable": {env: map[string]string{"IDENTITY_TOKEN_TTL": "lots"}, want: `IDENTITY_TOKEN_TTL="lots"`},
		"BadLogLevel":       {args: []string{"-log-level", "loud"}, want: "-log-level"},
		"BadUsersFile":      {args: []string{"-users", badUsers}, want: "reserved"},
		"StrayArgument":     {args: []string{"serve"}, want: "unexpected arguments"},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"-addr", "127.0.0.1:0", "-in-memory"}, tc.args...)
			err := run(context.Background(), args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}

func TestDefaultIssuer(t *testing.T) {
	for _, tc := range []struct{ issuer, addr, want string }{
		{"", "127.0.0.1:8090", "http://127.0.0.1:8090"},
		{"", "localhost:8090", "http://localhost:8090"},
		{"https://id.example", "127.0.0.1:8090", "https://id.example"},
		{"", "127.0.0.1:0", ""}, // taken from the listener
		{"", ":8090", ""},
		{"", "0.0.0.0:8090", ""},
	} {
		if got := defaultIssuer(tc.issuer, tc.addr); got != tc.want {
			t.Errorf("defaultIssuer(%q, %q) = %q, want %q", tc.issuer, tc.addr, got, tc.want)
		}
	}
}
