package identity

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDefaultDirectory(t *testing.T) {
	d, err := DefaultDirectory()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(defaultUsersFile), "# DEVELOPMENT ONLY") {
		t.Error("users.yaml does not start by saying it is DEVELOPMENT ONLY")
	}
	for name, roles := range wantRoles {
		u, ok := d.authenticate(name, name)
		if !ok {
			t.Errorf("%s cannot log in with the password %s", name, name)
			continue
		}
		if u.subject != name || !slices.Equal(u.roles, roles) {
			t.Errorf("%s: subject %q roles %v, want %q %v", name, u.subject, u.roles, name, roles)
		}
	}
	if _, ok := d.authenticate("ada", "ADA"); ok {
		t.Error("a wrong password is accepted")
	}
	if _, ok := d.authenticateClient("loans-integration", "loans-integration-secret"); !ok {
		t.Error("loans-integration's secret is refused")
	}
	if _, ok := d.authenticateClient("loans-cli", ""); ok {
		t.Error("a public client authenticates as a confidential one")
	}
	if p := d.principals["loans-integration"]; p == nil || !slices.Equal(p.roles, []string{"ops"}) {
		t.Errorf("loans-integration's service account: %+v, want roles [ops]", p)
	}
	for id, grants := range map[string][]string{
		"loans-cli":         {grantPassword, grantAuthorizationCode, grantRefreshToken},
		"loans-web":         {grantAuthorizationCode, grantRefreshToken},
		"loans-integration": {grantClientCredentials},
	} {
		if c := d.clients[id]; c == nil || !slices.Equal(c.grants, grants) {
			t.Errorf("client %s: %+v, want grants %v", id, c, grants)
		}
	}
}

func TestParseDirectory_DisabledUser(t *testing.T) {
	d, err := ParseDirectory("test.yaml", []byte("users:\n  - {name: zoe, password: zoe, disabled: true}\n  - {name: yan, password: yan}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.authenticate("zoe", "zoe"); ok {
		t.Error("a disabled user logs in")
	}
	if d.active("zoe") != nil || d.active("yan") == nil || d.active("nobody") != nil {
		t.Errorf("active: zoe %v yan %v nobody %v, want only yan", d.active("zoe"), d.active("yan"), d.active("nobody"))
	}
}

func TestLoadDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.yaml")
	if err := os.WriteFile(path, []byte("users:\n  - {name: zoe, password: pw, roles: [ops]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d, err := LoadDirectory(path)
	if err != nil {
		t.Fatal(err)
	}
	if d.Source() != path || !slices.Equal(d.Usernames(), []string{"zoe"}) {
		t.Errorf("source %q users %v, want %q [zoe]", d.Source(), d.Usernames(), path)
	}
	if _, err := LoadDirectory(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("a missing file: no error")
	}
}

func TestParseDirectory_Refuses(t *testing.T) {
	for name, tc := range map[string]struct{ file, want string }{
		"Empty":         {"", "empty"},
		"UnknownField":  {"users:\n  - {name: a, password: a, role: [x]}\n", "field role not found"},
		"TwoDocuments":  {"users: []\n---\nusers: []\n", "more than one"},
		"DuplicateUser": {"users:\n  - {name: a, password: a}\n  - {name: a, password: b}\n", "duplicate user name"},
		"EmptyName":     {"users:\n  - {name: '', password: a}\n", "name is empty"},
		"SpaceInName":   {"users:\n  - {name: 'a b', password: a}\n", "spaces"},
		"EmptyPassword": {"users:\n  - {name: a}\n", "empty password"},
		"SystemRole":    {"users:\n  - {name: a, password: a, roles: [applicant, system]}\n", `role "system" is reserved`},
		"SystemSubject": {"users:\n  - {name: a, subject: 'system:process', password: a}\n", `starts with "system:"`},
		"SystemName":    {"users:\n  - {name: 'system:a', password: a}\n", `starts with "system:"`},
		"SameSubject":   {"users:\n  - {name: a, password: a}\n  - {name: b, subject: a, password: b}\n", "already another user's"},
		"DuplicateRole": {"users:\n  - {name: a, password: a, roles: [ops, ops]}\n", "given twice"},
		"DuplicateClient": {"clients:\n  - {id: c, type: native, grants: [password]}\n  - {id: c, type: native, grants: [password]}\n",
			"duplicate client id"},
		"UnknownType":       {"clients:\n  - {id: c, type: spa, grants: [password]}\n", "none of native, browser, confidential"},
		"UnknownGrant":      {"clients:\n  - {id: c, type: native, grants: [implicit]}\n", "none of password"},
		"NoGrants":          {"clients:\n  - {id: c, type: native}\n", "no grants"},
		"PublicWithSecret":  {"clients:\n  - {id: c, type: browser, secret: s, grants: [password]}\n", "has no secret"},
		"NoSecret":          {"clients:\n  - {id: c, type: confidential, grants: [client_credentials]}\n", "needs a secret"},
		"PublicCredentials": {"clients:\n  - {id: c, type: native, grants: [client_credentials]}\n", "needs a confidential client"},
		"CodeWithoutRedirects": {"clients:\n  - {id: c, type: native, grants: [authorization_code]}\n",
			"redirect_uris go with the authorization_code grant"},
		"NativeRedirectNotLoopback": {"clients:\n  - {id: c, type: native, grants: [authorization_code], redirect_uris: ['http://example.com/cb']}\n",
			"must be on loopback"},
		"AnyPortNotLoopback": {"clients:\n  - {id: c, type: browser, grants: [authorization_code], redirect_uris: ['http://example.com:*/cb']}\n",
			"only on a loopback host"},
		"WildcardInPath": {"clients:\n  - {id: c, type: browser, grants: [authorization_code], redirect_uris: ['http://localhost:1/*/cb']}\n",
			"may use *"},
		"PostLogoutPattern": {"clients:\n  - {id: c, type: browser, grants: [authorization_code], redirect_uris: ['http://localhost:1/'], post_logout_redirect_uris: ['http://localhost:1/**']}\n",
			"must be an exact"},
		"ServiceAccountIsAUser": {"users:\n  - {name: c, password: a}\nclients:\n  - {id: c, type: confidential, secret: s, grants: [client_credentials]}\n",
			"already a user's"},
		"ServiceAccountSystem": {"clients:\n  - {id: 'system:c', type: confidential, secret: s, grants: [client_credentials]}\n",
			`starts with "system:"`},
		"ServiceAccountSystemRole": {"clients:\n  - {id: c, type: confidential, secret: s, grants: [client_credentials], roles: [system]}\n",
			"reserved"},
		"RefreshTokensForAServiceAccount": {"clients:\n  - {id: c, type: confidential, secret: s, grants: [client_credentials, refresh_token]}\n",
			"refresh_token goes with the password or authorization_code grant"},
		"RolesWithoutClientCredentials": {"clients:\n  - {id: c, type: native, grants: [password], roles: [ops]}\n",
			"roles go with the client_credentials grant"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseDirectory("test.yaml", []byte(tc.file))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "test.yaml") {
				t.Errorf("error %q, want it to name test.yaml and say %q", err, tc.want)
			}
		})
	}
}

func TestParseDirectory_ListsEveryProblem(t *testing.T) {
	_, err := ParseDirectory("test.yaml", []byte("users:\n  - {name: '', password: a}\n  - {name: b, password: b, roles: [system]}\n"))
	if err == nil || !strings.Contains(err.Error(), "user 1") || !strings.Contains(err.Error(), "user 2") {
		t.Errorf("error %v, want both users named", err)
	}
}

func TestRedirectPattern_Match(t *testing.T) {
	for pattern, cases := range map[string]map[string]bool{
		"http://127.0.0.1:*/**": {
			"http://127.0.0.1:51234/callback":         true,
			"http://127.0.0.1:1/a/b?x=1":              true,
			"http://127.0.0.1/":                       true,
			"http://127.0.0.1:80@evil.example/":       false,
			"http://127.0.0.1.evil.example:80/":       false,
			"http://evil.example/http://127.0.0.1:1/": false,
			"https://127.0.0.1:1/":                    false,
			"http://127.0.0.1:1/a/../b":               false,
			"http://127.0.0.1:1/a/%2e%2e/b":           false,
			"http://127.0.0.1:1/cb#fragment":          false,
			"http://127.0.0.1:1":                      false,
			"http://localhost:1/cb":                   false,
		},
		"http://[::1]:*/cb": {
			"http://[::1]:4000/cb":  true,
			"http://[::1]:4000/cb2": false,
			"http://127.0.0.1:1/cb": false,
		},
		"http://localhost:5173/**": {
			"http://localhost:5173/":              true,
			"http://localhost:5173/auth/callback": true,
			"http://LOCALHOST:5173/auth":          true,
			"http://localhost:5174/":              false,
			"http://localhost/":                   false,
			"http://localhost:5173":               false,
			"http://localhost:5173\\@evil/":       false,
		},
		"http://localhost:5173/": {
			"http://localhost:5173/":   true,
			"http://localhost:5173/cb": false,
		},
	} {
		p, err := parseRedirectPattern(pattern)
		if err != nil {
			t.Fatalf("%s: %v", pattern, err)
		}
		for uri, want := range cases {
			if got := p.match(uri); got != want {
				t.Errorf("%s matches %s: %v, want %v", pattern, uri, got, want)
			}
		}
	}
}

func TestRedirectPattern_Refused(t *testing.T) {
	for _, pattern := range []string{
		"127.0.0.1:*/cb", "ftp://localhost/", "http://localhost", "http://localhost/cb?x=1", "http://localhost/cb#f",
		"http://user@localhost/", "http://example.com:*/", "http://localhost:x/", "http://localhost:/",
		"http://localhost/a*/", "http://localhost/../cb", "http://::1:*/", "http:///cb",
	} {
		if _, err := parseRedirectPattern(pattern); err == nil {
			t.Errorf("%s: no error", pattern)
		}
	}
}
