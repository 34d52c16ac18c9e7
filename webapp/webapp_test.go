package webapp

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

var testConfig = Config{
	CommandURL: "http://127.0.0.1:8080",
	QueryURL:   "http://127.0.0.1:8082/",
	IssuerURL:  "http://127.0.0.1:8090",
	ClientID:   "loans-web",
}

func serve(t *testing.T, method, target string) *http.Response {
	t.Helper()
	h, err := Handler(testConfig)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandler_Serve(t *testing.T) {
	t.Run("EveryResponseCarriesTheSecurityHeaders", func(t *testing.T) {
		for _, target := range []string{"/", "/js/app.js", "/config.json", "/nope.txt"} {
			resp := serve(t, http.MethodGet, target)
			csp := resp.Header.Get("Content-Security-Policy")
			for _, want := range []string{
				"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "object-src 'none'",
				"connect-src 'self' http://127.0.0.1:8080 http://127.0.0.1:8082 http://127.0.0.1:8090;",
			} {
				if !strings.Contains(csp, want) {
					t.Errorf("%s: Content-Security-Policy %q lacks %q", target, csp, want)
				}
			}
			if strings.Contains(csp, "unsafe") {
				t.Errorf("%s: Content-Security-Policy %q allows something unsafe", target, csp)
			}
			for name, want := range map[string]string{
				"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("%s: %s %q, want %q", target, name, got, want)
				}
			}
		}
	})
	t.Run("AppRoutesGetTheApp", func(t *testing.T) {
		for _, target := range []string{"/", "/callback?code=x&state=y", "/desk", "/applications/0b9e5c1e-4a0e-4c57-9c1e-8a0b7b0e8e42"} {
			resp := serve(t, http.MethodGet, target)
			if b := body(t, resp); resp.StatusCode != 200 || !strings.Contains(b, `<script type="module" src="/js/app.js">`) {
				t.Errorf("GET %s: %d, want 200 and index.html", target, resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("GET %s: Content-Type %q", target, ct)
			}
		}
	})
	t.Run("ModulesAreJavaScript", func(t *testing.T) {
		resp := serve(t, http.MethodGet, "/js/app.js")
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/javascript") {
			t.Errorf("GET /js/app.js: %d %q, want 200 text/javascript", resp.StatusCode, ct)
		}
	})
	t.Run("ConfigTellsTheBrowserWhereTheServicesAre", func(t *testing.T) {
		resp := serve(t, http.MethodGet, "/config.json")
		var got Config
		if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
			t.Fatal(err)
		}
		if got != testConfig || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("/config.json: %+v (Cache-Control %q), want %+v, no-store", got, resp.Header.Get("Cache-Control"), testConfig)
		}
	})
	t.Run("MissingFilesAndDirectoriesAreNotFound", func(t *testing.T) {
		for _, target := range []string{"/js/nope.js", "/js/", "/css/", "/favicon.ico"} {
			if resp := serve(t, http.MethodGet, target); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", target, resp.StatusCode)
			}
		}
	})
	t.Run("OnlyGetAndHead", func(t *testing.T) {
		resp := serve(t, http.MethodPost, "/config.json")
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST: %d Allow %q, want 405 GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

func TestConfig_Validate(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"RelativeURL":      func(c *Config) { c.CommandURL = "/api" },
		"OtherScheme":      func(c *Config) { c.QueryURL = "ftp://127.0.0.1" },
		"QueryInURL":       func(c *Config) { c.IssuerURL = "http://127.0.0.1:8090?x=1" },
		"PolicyInjection":  func(c *Config) { c.CommandURL = "http://a;script-src *" },
		"UserInformation":  func(c *Config) { c.QueryURL = "http://u:p@127.0.0.1" },
		"ClientIDRequired": func(c *Config) { c.ClientID = "" },
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig
			mutate(&c)
			if _, err := Handler(c); err == nil {
				t.Errorf("Handler(%+v) accepted it", c)
			}
		})
	}
}

// Every relative import of every module names an embedded file, and no
// page or module loads anything from elsewhere: a typo or a CDN link fails
// here rather than in a browser.
func TestWebFiles_SelfContained(t *testing.T) {
	importRE := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|^\s*import\s+'([^']+)'`)
	external := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`)
	err := fs.WalkDir(webFiles, "web", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(webFiles, p)
		if err != nil {
			return err
		}
		if external.Match(b) {
			t.Errorf("%s loads something from another origin", p)
		}
		if path.Ext(p) != ".js" {
			return nil
		}
		for _, m := range importRE.FindAllStringSubmatch(string(b), -1) {
			spec := m[1] + m[2]
			if !strings.HasPrefix(spec, "./") && !strings.HasPrefix(spec, "../") {
				t.Errorf("%s imports %q: only relative imports of embedded modules", p, spec)
				continue
			}
			if _, err := fs.Stat(webFiles, path.Join(path.Dir(p), spec)); err != nil {
				t.Errorf("%s imports %q: %v", p, spec, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
