package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
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
	for _, tc := range []struct {
		issuer, addr string
		https        bool
		want         string
	}{
		{"", "127.0.0.1:8090", false, "http://127.0.0.1:8090"},
		{"", "localhost:8090", false, "http://localhost:8090"},
		{"", "127.0.0.1:8090", true, "https://127.0.0.1:8090"},
		{"https://id.example", "127.0.0.1:8090", false, "https://id.example"},
		{"", "127.0.0.1:0", false, ""}, // taken from the listener
		{"", ":8090", false, ""},
		{"", "0.0.0.0:8090", false, ""},
	} {
		if got := defaultIssuer(tc.issuer, tc.addr, tc.https); got != tc.want {
			t.Errorf("defaultIssuer(%q, %q, https %v) = %q, want %q", tc.issuer, tc.addr, tc.https, got, tc.want)
		}
	}
}

// With -tls-cert and -tls-key the provider serves HTTPS only.
func TestRun_TLS(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t)
	t.Run("a certificate needs its key", func(t *testing.T) {
		err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-in-memory", "-tls-cert", certFile}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-tls-cert and -tls-key go together") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("on port 0 the issuer must be given", func(t *testing.T) {
		err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-in-memory", "-tls-cert", certFile, "-tls-key", keyFile}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "give -issuer") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("serves discovery over HTTPS", func(t *testing.T) {
		r := runCommand(t, "-addr", "127.0.0.1:0", "-in-memory", "-tls-cert", certFile, "-tls-key", keyFile, "-issuer", "https://id.loans.test")
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := client.Get("https://" + r.addr + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Issuer string `json:"issuer"`
		}
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil || doc.Issuer != "https://id.loans.test" {
			t.Fatalf("discovery over TLS: %+v, %v", doc, err)
		}
		if plain, err := http.Get("http://" + r.addr + "/.well-known/openid-configuration"); err == nil {
			plain.Body.Close()
			if plain.StatusCode == http.StatusOK {
				t.Fatal("a plain-text request was answered")
			}
		}
	})
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key into a
// temporary folder, and returns a pool trusting it.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "identity test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
