package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/loanctl/internal/auth"
	"github.com/loanflow/loans/platform/poll"
)

// One system serves every step, in order: people log in, a loan goes
// through its whole lifecycle, every query is read in every format, a
// refusal is shown with its reason, watch follows a second application
// live and demo fills in a few more.
func TestLoanctl_AgainstTheSystem(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the services")
	}
	s := startSystem(t)
	l := newLoanctl(t, s)
	dir := l.env["LOANCTL_CONFIG_DIR"]

	t.Run("LoginWithPasswordCachesTheTokenForItsOwnerOnly", func(t *testing.T) {
		for _, u := range []string{"lena", "max", "ada"} {
			r := l.ok(t, "login", "--username", u, "--password", u)
			if !strings.Contains(r.stdout, "Logged in at "+s.issuer+" as "+u) || !strings.Contains(r.stdout, "loanctl refreshes it with the refresh token") {
				t.Errorf("login %s: %s", u, r)
			}
		}
		fi, err := os.Stat(auth.CacheFile(dir))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("token cache mode %v, want 0600", fi.Mode().Perm())
		}
		cache, err := auth.LoadCache(auth.CacheFile(dir))
		if err != nil {
			t.Fatal(err)
		}
		if cache.Current[s.issuer] != "ada" || len(cache.Tokens) != 3 {
			t.Errorf("cache: current %v, %d tokens; want ada, 3", cache.Current, len(cache.Tokens))
		}
		e, _ := cache.Get(s.issuer, "lena")
		if e.Expiry.Before(time.Now().Add(50*time.Minute)) || e.AccessToken == "" {
			t.Errorf("lena's entry: %+v", e)
		}

		var who whoami
		jsonOf(t, l.ok(t, "whoami", "-o", "json").stdout, &who)
		if who.User != "ada" || who.Subject != "ada" || !slices.Equal(who.Roles, []string{"applicant"}) || who.Verified || who.Expired {
			t.Errorf("whoami: %+v", who)
		}
		if r := l.ok(t, "whoami", "--user", "max"); !strings.Contains(r.stdout, "loan_officer, applicant") ||
			!strings.Contains(r.stdout, "WITHOUT verifying") {
			t.Errorf("whoami --user max: %s", r)
		}
	})

	t.Run("LoginWithTheBrowserUsesPKCEAndTheLoopbackRedirect", func(t *testing.T) {
		var authURL *url.URL
		l.openBrowser = func(ctx context.Context, u string) error {
			authURL, _ = url.Parse(u)
			return playBrowser(ctx, s.issuer, u, "omar", "omar")
		}
		defer func() { l.openBrowser = nil }()
		r := l.ok(t, "login")
		if !strings.Contains(r.stdout, "as omar (roles: ops)") || !strings.Contains(r.stderr, "Open this address in a browser") {
			t.Errorf("login: %s", r)
		}
		q := authURL.Query()
		redirect, _ := url.Parse(q.Get("redirect_uri"))
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("client_id") != "loans-cli" ||
			redirect.Hostname() != "127.0.0.1" || redirect.Port() == "0" {
			t.Errorf("authorization URL %s", authURL)
		}
		if r := l.ok(t, "whoami"); !strings.Contains(r.stdout, "omar") {
			t.Errorf("whoami after the browser login: %s", r)
		}
		cache, err := auth.LoadCache(auth.CacheFile(l.env["LOANCTL_CONFIG_DIR"]))
		if err != nil {
			t.Fatal(err)
		}
		omar, ok := cache.Get(s.issuer, "omar")
		if !ok || omar.RefreshToken == "" {
			t.Fatalf("the browser login cached no refresh token for omar: %+v", omar)
		}
		r = l.ok(t, "logout")
		if !strings.Contains(r.stdout, "Logged out omar") || r.stderr != "" {
			t.Errorf("logout: %s", r)
		}
		// The login is over at the issuer too: its refresh token is refused.
		resp, err := http.PostForm(s.issuer+"/token", url.Values{"grant_type": {"refresh_token"}, "client_id": {"loans-cli"},
			"refresh_token": {omar.RefreshToken}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "invalid_grant") {
			t.Errorf("omar's refresh token after logout: %s (%d bytes); want 400 invalid_grant", resp.Status, len(body))
		}
		if r := l.run(t, "whoami"); r.code != 1 || !strings.Contains(r.stderr, "not logged in") {
			t.Errorf("whoami after logout: %s", r)
		}
		l.ok(t, "login", "--username", "omar", "--password", "omar") // for the statistics below
	})

	id := uuid.NewString()
	var lastPosition uint64
	t.Run("ALifecycleThroughItsCommands", func(t *testing.T) {
		var res loansv1.CommandResult
		protoOf(t, l.ok(t, "request", "--user", "ada", "--amount", "12000", "--duration", "24", "--id", id, "--command-id",
			"6f9b3a52-2d5e-4d8e-9a57-0c9d7bfe1c01", "-o", "json").stdout, &res)
		if res.GetLoanApplicationUuid() != id || res.GetCommandId() != "6f9b3a52-2d5e-4d8e-9a57-0c9d7bfe1c01" ||
			res.GetStream() != "loanRequest-"+id {
			t.Errorf("request: %v", &res)
		}
		var again loansv1.CommandResult
		protoOf(t, l.ok(t, "request", "--user", "ada", "--amount", "12000", "--duration", "24", "--id", id, "--command-id",
			"6f9b3a52-2d5e-4d8e-9a57-0c9d7bfe1c01", "-o", "json").stdout, &again)
		if !proto.Equal(&res, &again) {
			t.Errorf("the retried command answered %v, want the first reply %v", &again, &res)
		}

		r := l.ok(t, "submit", id, "--user", "ada")
		if !strings.Contains(r.stdout, "APPLICATION") || !strings.Contains(r.stdout, "POSITION") || !strings.Contains(r.stdout, id) {
			t.Errorf("submit: %s", r)
		}
		waitStatus(t, l, id, loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW)
		l.ok(t, "approve", id, "--user", "lena")
		waitStatus(t, l, id, loansv1.LoanStatus_LOAN_STATUS_PENDING_SIGNATURE)
		protoOf(t, l.ok(t, "sign", id, "--user", "ada", "-o", "json").stdout, &res)
		lastPosition = res.GetCommitPosition()

		// --wait reads the write just made, with no polling.
		var got loansv1.GetLoanApplicationResponse
		protoOf(t, l.ok(t, "get", id, "--user", "ada", "--wait", "-o", "json").stdout, &got)
		if a := got.GetLoanApplication(); a.GetStatus() != loansv1.LoanStatus_LOAN_STATUS_SIGNED || a.GetLastPosition() < lastPosition ||
			a.GetAmount() != 12000 || a.GetApplicant() != "ada" {
			t.Errorf("get --wait after sign: %v", a)
		}
	})

	t.Run("ARefusalIsPrintedWithItsCodeAndReason", func(t *testing.T) {
		r := l.run(t, "request", "--user", "ada", "--amount", "100", "--duration", "24")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "loanctl: refused: INVALID_ARGUMENT AMOUNT_IS_TOO_LOW: ") ||
			strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
			t.Errorf("request --amount 100: %s", r)
		}
		own := uuid.NewString()
		l.ok(t, "request", "--user", "max", "--amount", "900", "--duration", "6", "--id", own)
		l.ok(t, "submit", own, "--user", "max")
		waitStatus(t, l, own, loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW)
		r = l.run(t, "approve", own, "--user", "max")
		if r.code != 1 || !strings.HasPrefix(r.stderr, "loanctl: refused: PERMISSION_DENIED SELF_APPROVAL") {
			t.Errorf("max approving his own: %s", r)
		}
		l.ok(t, "deny", own, "--user", "lena", "--reason", "Four eyes: not his own")
		r = l.run(t, "get", uuid.NewString(), "--user", "ada")
		if r.code != 1 || !strings.Contains(r.stderr, "refused: NOT_FOUND") {
			t.Errorf("get of an unknown application: %s", r)
		}
		if r := l.run(t, "get", id, "--user", "nobody"); r.code != 1 || !strings.Contains(r.stderr, "nobody is not logged in") {
			t.Errorf("get as a user not logged in: %s", r)
		}
	})

	t.Run("EveryQueryInEveryFormat", func(t *testing.T) {
		token := fmt.Sprint(lastPosition)
		day := time.Now().UTC().Format(time.DateOnly)
		queries := []struct {
			args    []string
			message proto.Message
			headers []string
		}{
			{[]string{"get", id}, &loansv1.GetLoanApplicationResponse{}, []string{"APPLICATION", "APPLICANT", "AMOUNT", "STATUS"}},
			{[]string{"list", "--status", "signed,denied", "--min-amount", "500", "--order", "amount-asc", "--page-size", "1", "--all"},
				&loansv1.ListLoanApplicationsResponse{}, []string{"APPLICATION", "APPLICANT", "STATUS"}},
			{[]string{"history", id}, &loansv1.GetLoanApplicationHistoryResponse{}, []string{"POSITION", "EVENT", "ACTOR", "STATUS"}},
			{[]string{"at", id, "--time", time.Now().UTC().Format(time.RFC3339Nano)}, &loansv1.GetLoanApplicationAtResponse{}, []string{"APPLICATION", "STATUS"}},
			{[]string{"stats", "--from", day, "--to", day, "--user", "omar"}, &loansv1.GetLoanStatisticsResponse{}, []string{"DAY", "REQUESTED", "FUNNEL"}},
		}
		for _, q := range queries {
			args := append(slices.Clone(q.args), "--consistency-token", token)
			if !slices.Contains(args, "--user") {
				args = append(args, "--user", "lena")
			}
			table := l.ok(t, args...)
			for _, h := range q.headers {
				if !strings.Contains(table.stdout, h) {
					t.Errorf("%s -o table: no header %s:\n%s", q.args[0], h, table.stdout)
				}
			}
			js := proto.Clone(q.message)
			protoOf(t, l.ok(t, append(args, "-o", "json")...).stdout, js)
			var y map[string]any
			if err := yaml.Unmarshal([]byte(l.ok(t, append(args, "-o", "yaml")...).stdout), &y); err != nil || len(y) == 0 {
				t.Errorf("%s -o yaml does not parse: %v", q.args[0], err)
			}
			// The YAML document holds what the JSON one does.
			yj, _ := json.Marshal(y)
			fromYAML := proto.Clone(q.message)
			if err := protojson.Unmarshal(yj, fromYAML); err != nil || !proto.Equal(js, fromYAML) {
				t.Errorf("%s: yaml and json differ (%v):\n%v\n%v", q.args[0], err, js, fromYAML)
			}
			t.Logf("%s:\n%s", strings.Join(q.args, " "), table.stdout)
		}

		var list loansv1.ListLoanApplicationsResponse
		protoOf(t, l.ok(t, "list", "--user", "lena", "--status", "signed,denied", "--order", "amount-asc", "--page-size", "1", "--all", "-o", "json").stdout, &list)
		if n := len(list.GetLoanApplications()); n != 2 || list.GetLoanApplications()[0].GetAmount() != 900 || list.GetNextPageToken() != "" {
			t.Errorf("list --all over pages of 1: %v", &list)
		}
		if r := l.ok(t, "list", "--user", "lena", "--page-size", "1"); !strings.Contains(r.stderr, "More: --page-token ") {
			t.Errorf("list of one page: %s", r)
		}
		var hist loansv1.GetLoanApplicationHistoryResponse
		protoOf(t, l.ok(t, "history", id, "--user", "ada", "-o", "json").stdout, &hist)
		var events []string
		for _, e := range hist.GetEntries() {
			events = append(events, e.GetEventType())
		}
		want := []string{"LoanRequested", "LoanRequestSubmitted", "LoanReviewIssued", "LoanApproved", "LoanContractIssued", "ContractSigned"}
		if !slices.Equal(events, want) {
			t.Errorf("history: %v, want %v", events, want)
		}
		var at loansv1.GetLoanApplicationAtResponse
		protoOf(t, l.ok(t, "at", id, "--user", "lena", "-o", "json", "--time", hist.GetEntries()[1].GetOccurredAt().AsTime().Format(time.RFC3339Nano)).stdout, &at)
		if st := at.GetLoanApplication().GetStatus(); st != loansv1.LoanStatus_LOAN_STATUS_SUBMITTED && st != loansv1.LoanStatus_LOAN_STATUS_PENDING_REVIEW {
			t.Errorf("at the submission: %v", st)
		}
		var stats loansv1.GetLoanStatisticsResponse
		protoOf(t, l.ok(t, "stats", "--user", "omar", "-o", "json").stdout, &stats)
		if f := stats.GetFunnel(); f.GetSigned() != 1 || f.GetDenied() != 1 || f.GetRequested() != 2 {
			t.Errorf("funnel: %v", f)
		}
	})

	t.Run("WatchPrintsNewEntriesAsTheyHappen", func(t *testing.T) {
		watched := uuid.NewString()
		l.ok(t, "request", "--user", "ada", "--amount", "3000", "--duration", "12", "--id", watched)
		ctx, cancel := context.WithCancel(t.Context())
		var stdout, stderr syncBuffer
		exited := make(chan int, 1)
		go func() {
			exited <- l.runWith(ctx, &stdout, &stderr, "watch", watched, "--user", "lena", "--interval", "100ms")
		}()
		poll.Until(t, 20*time.Second, 20*time.Millisecond, func() (bool, string) {
			return strings.Contains(stdout.String(), "LoanRequested"), "watch printed no LoanRequested:\n" + stdout.String() + stderr.String()
		})
		if strings.Contains(stdout.String(), "LoanRequestSubmitted") {
			t.Fatalf("watch printed a submission before it happened:\n%s", stdout.String())
		}
		l.ok(t, "submit", watched, "--user", "ada")
		poll.Until(t, 20*time.Second, 20*time.Millisecond, func() (bool, string) {
			out := stdout.String()
			return strings.Contains(out, "LoanRequestSubmitted") && strings.Contains(out, "LoanReviewIssued"),
				"watch did not print the submission and the review:\n" + out + stderr.String()
		})
		l.ok(t, "deny", watched, "--user", "lena", "--reason", "Income could not be verified")
		poll.Until(t, 20*time.Second, 20*time.Millisecond, func() (bool, string) {
			return strings.Contains(stdout.String(), "LoanDenied"), "watch did not print the denial:\n" + stdout.String()
		})
		cancel() // Ctrl-C
		select {
		case code := <-exited:
			if code != 0 && code != ExitInterrupted {
				t.Errorf("watch exited %d:\n%s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("watch did not stop after Ctrl-C")
		}
		out := stdout.String()
		if strings.Count(out, "POSITION") != 1 || strings.Count(out, "LoanRequested") != 1 || strings.Count(out, "LoanDenied") != 1 {
			t.Errorf("watch printed an entry twice, or the header:\n%s", out)
		}

		// --until-concluded stops by itself; -o json prints JSON lines.
		r := l.ok(t, "watch", watched, "--user", "lena", "--until-concluded", "-o", "json")
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 4 {
			t.Errorf("watch --until-concluded -o json: %d lines, want 4:\n%s", len(lines), r.stdout)
		}
		for _, line := range lines {
			protoOf(t, line, &loansv1.HistoryEntry{})
		}
	})

	t.Run("DemoCreatesEveryOutcome", func(t *testing.T) {
		var res demoResult
		jsonOf(t, l.ok(t, "demo", "--applications", "6", "--seed", "42", "--concurrency", "3", "-o", "json").stdout, &res)
		var outcomes []string
		for _, total := range res.Totals {
			outcomes = append(outcomes, string(total.Outcome))
			if total.Count != 1 {
				t.Errorf("demo: %d %s, want 1 of each", total.Count, total.Outcome)
			}
		}
		want := []string{"pending_submission", "pending_review", "denied", "pending_signature", "signed", "rejected"}
		if !slices.Equal(outcomes, want) {
			t.Errorf("demo outcomes %v, want %v", outcomes, want)
		}
		for _, app := range res.Applications {
			var got loansv1.GetLoanApplicationResponse
			poll.Until(t, 20*time.Second, 50*time.Millisecond, func() (bool, string) {
				r := l.run(t, "get", app.ID, "--user", "omar", "-o", "json")
				if r.code != 0 {
					return false, r.String()
				}
				protoOf(t, r.stdout, &got)
				return string(app.Outcome) == statusName(got.GetLoanApplication().GetStatus()),
					fmt.Sprintf("%s: status %v, want %s", app.ID, got.GetLoanApplication().GetStatus(), app.Outcome)
			})
		}
		if r := l.ok(t, "demo", "--applications", "2", "--seed", "1"); !strings.Contains(r.stdout, "OUTCOME") {
			t.Errorf("demo table: %s", r)
		}
	})

	s.stop()
}

// statusName is how demo names a status.
func statusName(s loansv1.LoanStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "LOAN_STATUS_"))
}

// waitStatus reads an application until a process manager has moved it on.
func waitStatus(t *testing.T, l *loanctl, id string, want loansv1.LoanStatus) {
	t.Helper()
	poll.Until(t, 30*time.Second, 50*time.Millisecond, func() (bool, string) {
		r := l.run(t, "get", id, "--user", "lena", "-o", "json")
		if r.code != 0 {
			return false, r.String()
		}
		var got loansv1.GetLoanApplicationResponse
		protoOf(t, r.stdout, &got)
		return got.GetLoanApplication().GetStatus() == want, fmt.Sprintf("%s is %v, want %v", id, got.GetLoanApplication().GetStatus(), want)
	})
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// playBrowser is the person at the browser: it opens the authorization
// URL, signs in on the development provider's login page and follows the
// redirects back to loanctl's loopback listener.
func playBrowser(ctx context.Context, issuer, authURL, username, password string) error {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	get := func(u string) (*http.Response, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, "", err
		}
		resp, err := browser.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	resp, page, err := get(authURL)
	if err != nil {
		return err
	}
	m := hiddenID.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		return fmt.Errorf("the login page: %s %s", resp.Status, page)
	}
	form := url.Values{"id": {m[1]}, "username": {username}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = browser.Do(req) // 303 to the provider's callback, 302 to loanctl's listener
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Hostname() != "127.0.0.1" || !strings.Contains(string(b), "Signed in") {
		return fmt.Errorf("after the login form: %s at %s: %s", resp.Status, resp.Request.URL, b)
	}
	return nil
}

func protoOf(t *testing.T, s string, m proto.Message) {
	t.Helper()
	if err := protojson.Unmarshal([]byte(s), m); err != nil {
		t.Fatalf("not a %T in JSON: %v\n%s", m, err, s)
	}
}

func jsonOf(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
}
