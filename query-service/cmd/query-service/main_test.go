package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRun_RefusesWithoutIssuerAndAudience: without them no call could be
// authenticated, so the service stops at once, naming what is missing,
// before it opens the read model or binds a port.
func TestRun_RefusesWithoutIssuerAndAudience(t *testing.T) {
	for name, c := range map[string]struct {
		env     map[string]string
		args    []string
		want    []string
		notWant string
	}{
		"Neither":    {want: []string{"OIDC_ISSUER_URL", "OIDC_AUDIENCE"}},
		"NoAudience": {env: map[string]string{"OIDC_ISSUER_URL": "https://id.example.com"}, want: []string{"OIDC_AUDIENCE"}, notWant: "OIDC_ISSUER_URL"},
		"NoIssuer":   {args: []string{"-oidc-audience", "loans-api"}, want: []string{"OIDC_ISSUER_URL"}, notWant: "OIDC_AUDIENCE"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv("OIDC_ISSUER_URL", "")
			t.Setenv("OIDC_AUDIENCE", "")
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			args := append([]string{"-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0",
				"-readmodel", "sqlite:" + filepath.Join(dir, "readmodel.db")}, c.args...)
			done := make(chan error, 1)
			go func() { done <- run(args) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the service started")
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if c.notWant != "" && strings.Contains(err.Error(), c.notWant) {
				t.Errorf("error %q names %s, which was given", err, c.notWant)
			}
			if matches, _ := filepath.Glob(filepath.Join(dir, "*")); len(matches) > 0 {
				t.Errorf("the read model was opened: %v", matches)
			}
		})
	}
}
