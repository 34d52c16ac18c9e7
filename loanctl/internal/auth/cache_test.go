package auth

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func jwt(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return "eyJhbGciOiJub25lIn0." + base64.RawURLEncoding.EncodeToString(b) + ".c2ln"
}

func TestCache_PutGetDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "loanctl", "tokens.json")
	c, err := LoadCache(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const iss = "http://127.0.0.1:8090"
	for _, u := range []string{"ada", "lena"} {
		tok := &Token{AccessToken: jwt(t, map[string]any{"sub": u + "-subject", "preferred_username": u}), Expiry: now.Add(time.Hour)}
		c.Put(NewEntry(iss+"/", "loans-cli", "", tok, now))
	}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v %v, want mode 0600", fi.Mode(), err)
	}
	c, err = LoadCache(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("TheLastLoginIsCurrent", func(t *testing.T) {
		if e, ok := c.Get(iss, ""); !ok || e.User != "lena" || e.Subject != "lena-subject" {
			t.Errorf("current: %+v %v", e, ok)
		}
	})
	t.Run("AUserByNameOrSubject", func(t *testing.T) {
		for _, name := range []string{"ada", "ada-subject"} {
			if e, ok := c.Get(iss, name); !ok || e.User != "ada" {
				t.Errorf("Get(%s): %+v %v", name, e, ok)
			}
		}
		if _, ok := c.Get("http://elsewhere", "ada"); ok {
			t.Error("a token of another issuer")
		}
	})
	t.Run("ExpiredAShortWhileBefore", func(t *testing.T) {
		e, _ := c.Get(iss, "ada")
		if e.Expired(now) || !e.Expired(e.Expiry.Add(-10*time.Second)) || !e.Expired(e.Expiry.Add(time.Minute)) {
			t.Errorf("expiry %v", e.Expiry)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		if e, ok := c.Delete(iss, ""); !ok || e.User != "lena" {
			t.Errorf("Delete current: %s %v", e.User, ok)
		}
		if _, ok := c.Get(iss, ""); ok {
			t.Error("a current user after logout")
		}
		if n := len(c.DeleteIssuer(iss)); n != 1 || len(c.Tokens) != 0 {
			t.Errorf("DeleteIssuer: %d, %d left", n, len(c.Tokens))
		}
	})
}

func TestDecodeClaims(t *testing.T) {
	c, err := DecodeClaims(jwt(t, map[string]any{"sub": "max", "roles": []string{"loan_officer", "applicant"}, "aud": "loans-api", "exp": 1800000000}))
	if err != nil {
		t.Fatal(err)
	}
	if c.String("sub") != "max" || len(c.Strings("roles")) != 2 || c.Strings("aud")[0] != "loans-api" || c.Expiry().Unix() != 1800000000 {
		t.Errorf("claims %v", c)
	}
	if _, err := DecodeClaims("opaque-token"); err == nil {
		t.Error("an opaque token decoded")
	}
}
