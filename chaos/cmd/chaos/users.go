package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
)

// The development users (devstack/identity/users.yaml). max is an officer
// who applies too: another officer always decides his applications.
var (
	applicants = []string{"ada", "bo", "max"}
	officers   = []string{"lena", "max"}
)

// Bounds of a careful client: each attempt has a deadline, retries back off,
// and a command gives up (its outcome then unknown) after maxAttempts or
// commandBudget, so that every user ends.
const (
	attemptTimeout = 5 * time.Second
	maxAttempts    = 40
	commandBudget  = 90 * time.Second
	// How long an officer (an applicant) waits for the review (the
	// contract) that a process manager issues after submission (approval).
	followUpWait = 60 * time.Second
	// How long the applicant's read of their own last write may wait.
	readBudget = 20 * time.Second
)

// outcome of a command as the client saw it.
type outcome int

const (
	acknowledged outcome = iota + 1 // a reply with a commit position
	refused                         // a status the client does not retry
	unknown                         // retries exhausted, or the run stopped: maybe applied
)

// commandRecord is one command as the client sent it, and what came back.
type commandRecord struct {
	ID, Type, App, User string
	Attempts            int
	Retries             []string // why each retry: code and reason
	Outcome             outcome
	Code                codes.Code
	Reason, Message     string
	Result              *loansv1.CommandResult
}

func (r *commandRecord) String() string {
	s := fmt.Sprintf("%s %s by %s on application %s (%d attempts", r.Type, r.ID, r.User, r.App, r.Attempts)
	if len(r.Retries) > 0 {
		s += "; retried after " + strings.Join(compact(r.Retries), ", ")
	}
	return s + ")"
}

// readRecord is an applicant's read of their application after their last
// command, with its commit position as consistency token.
type readRecord struct {
	App, Want, Got string
	Token          uint64
	Err            string // the last error when no answer came
	TimedOut       bool   // no answer within readBudget (not cut short by the end of the load)
}

// ledger is what every user did, for the checks.
type ledger struct {
	mu       sync.Mutex
	commands []*commandRecord
	reads    []readRecord
	logins   int
	loginErr []string
	lives    atomic.Int64 // lifecycles started
}

func (l *ledger) addCommand(r *commandRecord) {
	l.mu.Lock()
	l.commands = append(l.commands, r)
	l.mu.Unlock()
}

// client is what users share: the two services and the identity provider.
type client struct {
	commands  loansv1.LoanCommandServiceClient
	queries   loansv1.LoanQueryServiceClient
	issuerURL string
	http      *http.Client
	ledger    *ledger
	// stopping asks users to start nothing new; a command already sent
	// still runs its retries to an answer, so that its outcome is known.
	stopping atomic.Bool
	think    time.Duration
}

// user is one simulated person at a keyboard, living loan lifecycles one
// after another with choices drawn from its own random stream (so that a
// seed gives every user the same choices, whatever the interleaving).
type user struct {
	*client
	n   int
	rng *rand.Rand
}

// run lives lifecycles until asked to stop.
func (u *user) run(ctx context.Context) {
	for !u.stopping.Load() && ctx.Err() == nil {
		u.ledger.lives.Add(1)
		u.lifecycle(ctx)
		if !u.pause(ctx, u.think) {
			return
		}
	}
}

// lifecycle is one application from request to its end, with random
// outcomes: sometimes an invalid request, sometimes abandoned before
// submission, approved or denied, then signed or rejected.
func (u *user) lifecycle(ctx context.Context) {
	applicant := applicants[u.rng.IntN(len(applicants))]
	tok, ok := u.login(ctx, applicant)
	if !ok {
		return
	}
	app := uuid.NewString()
	amount, duration := 500+u.rng.Int64N(200_000), 3+u.rng.Int32N(358)
	if u.rng.IntN(100) < 3 {
		amount = u.rng.Int64N(500) // refused AMOUNT_IS_TOO_LOW: a refusal appends nothing
	}
	last, ok := u.send(ctx, tok, "RequestLoan", app, applicant, "", func(ctx context.Context, id string) (*loansv1.CommandResult, error) {
		r, err := u.commands.RequestLoan(ctx, &loansv1.RequestLoanRequest{CommandId: id, LoanApplicationUuid: app, Amount: amount, Duration: duration})
		return r.GetResult(), err
	})
	if !ok {
		return
	}
	if u.rng.IntN(10) == 0 {
		u.readBack(ctx, tok, app, last, "LOAN_STATUS_PENDING_SUBMISSION") // abandoned before submission
		return
	}
	if last, ok = u.send(ctx, tok, "SubmitLoanRequest", app, applicant, "", func(ctx context.Context, id string) (*loansv1.CommandResult, error) {
		r, err := u.commands.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{CommandId: id, LoanApplicationUuid: app})
		return r.GetResult(), err
	}); !ok {
		return
	}
	officer := officers[u.rng.IntN(len(officers))]
	if officer == applicant {
		officer = "lena" // four eyes: max never decides his own application
	}
	otok, ok := u.login(ctx, officer)
	if !ok {
		return
	}
	if u.rng.IntN(100) < 35 {
		reason := denialReasons[u.rng.IntN(len(denialReasons))]
		if last, ok = u.send(ctx, otok, "DenyLoan", app, officer, "LOAN_REVIEW_NOT_FOUND", func(ctx context.Context, id string) (*loansv1.CommandResult, error) {
			r, err := u.commands.DenyLoan(ctx, &loansv1.DenyLoanRequest{CommandId: id, LoanApplicationUuid: app, Reason: reason})
			return r.GetResult(), err
		}); ok {
			u.readBack(ctx, tok, app, last, "LOAN_STATUS_DENIED") // the applicant learns of the denial
		}
		return
	}
	if _, ok = u.send(ctx, otok, "ApproveLoan", app, officer, "LOAN_REVIEW_NOT_FOUND", func(ctx context.Context, id string) (*loansv1.CommandResult, error) {
		r, err := u.commands.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{CommandId: id, LoanApplicationUuid: app})
		return r.GetResult(), err
	}); !ok {
		return
	}
	if u.rng.IntN(100) < 25 {
		reason := ""
		if u.rng.IntN(2) == 0 {
			reason = "found a better offer"
		}
		if last, ok = u.send(ctx, tok, "RejectContract", app, applicant, "LOAN_CONTRACT_NOT_FOUND", func(ctx context.Context, id string) (*loansv1.CommandResult, error) {
			r, err := u.commands.RejectContract(ctx, &loansv1.RejectContractRequest{CommandId: id, LoanApplicationUuid: app, Reason: reason})
			return r.GetResult(), err
		}); ok {
			u.readBack(ctx, tok, app, last, "LOAN_STATUS_REJECTED")
		}
		return
	}
	if last, ok = u.send(ctx, tok, "SignContract", app, applicant, "LOAN_CONTRACT_NOT_FOUND", func(ctx context.Context, id string) (*loansv1.CommandResult, error) {
		r, err := u.commands.SignContract(ctx, &loansv1.SignContractRequest{CommandId: id, LoanApplicationUuid: app})
		return r.GetResult(), err
	}); ok {
		u.readBack(ctx, tok, app, last, "LOAN_STATUS_SIGNED")
	}
}

var denialReasons = []string{"income could not be verified", "debt ratio too high", "incomplete documents"}

// token is an access token and the user it belongs to (to log in again
// when it expires).
type token struct {
	user, access string
}

// login gets an access token with the password grant, as the README's
// walkthrough does, retrying while the identity provider is down.
func (u *user) login(ctx context.Context, name string) (*token, bool) {
	budget, wait := time.Now().Add(commandBudget), 50*time.Millisecond
	for {
		access, err := u.passwordGrant(ctx, name)
		if err == nil {
			u.ledger.mu.Lock()
			u.ledger.logins++
			u.ledger.mu.Unlock()
			return &token{user: name, access: access}, true
		}
		if time.Now().After(budget) || u.stopping.Load() || !u.pause(ctx, jitter(u.rng, wait)) {
			u.ledger.mu.Lock()
			u.ledger.loginErr = append(u.ledger.loginErr, fmt.Sprintf("%s: %v", name, err))
			u.ledger.mu.Unlock()
			return nil, false
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func (u *user) passwordGrant(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, attemptTimeout)
	defer cancel()
	form := url.Values{"grant_type": {"password"}, "client_id": {"loans-cli"}, "username": {name}, "password": {name}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.issuerURL+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := u.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("token endpoint: HTTP %d: %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("token endpoint: HTTP %d %s", resp.StatusCode, body.Error)
	}
	return body.AccessToken, nil
}

// send runs one command as a careful client does: one command ID for every
// attempt; after a timeout, UNAVAILABLE (a server down, a dropped
// connection, the identity provider away) or ABORTED it sends the same
// command again with the same ID, backing off, within bounds; an expired
// token is renewed. notYet is the refusal that means "the process manager
// has not issued what this command acts on yet": the command appended
// nothing, so it is sent again (same ID), within followUpWait.
// It returns the commit position of an acknowledged command.
func (u *user) send(ctx context.Context, tok *token, typ, app, who, notYet string,
	call func(ctx context.Context, id string) (*loansv1.CommandResult, error)) (uint64, bool) {
	if u.stopping.Load() {
		return 0, false
	}
	rec := &commandRecord{ID: uuid.NewString(), Type: typ, App: app, User: who}
	defer u.ledger.addCommand(rec)
	start, wait, waitingSince := time.Now(), 50*time.Millisecond, time.Time{}
	for {
		rec.Attempts++
		actx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok.access), attemptTimeout)
		res, err := call(actx, rec.ID)
		cancel()
		if err == nil {
			rec.Outcome, rec.Result = acknowledged, res
			return res.GetCommitPosition(), true
		}
		st := status.Convert(err)
		rec.Code, rec.Reason, rec.Message = st.Code(), reasonOf(st), st.Message()
		switch {
		case ctx.Err() != nil:
			rec.Outcome = unknown
			return 0, false
		case st.Code() == codes.Unauthenticated && rec.Reason == "TOKEN_EXPIRED":
			fresh, ok := u.login(ctx, tok.user)
			if !ok {
				rec.Outcome = unknown
				return 0, false
			}
			*tok = *fresh
		case notYet != "" && rec.Reason == notYet:
			if waitingSince.IsZero() {
				waitingSince = time.Now()
			}
			if time.Since(waitingSince) > followUpWait || u.stopping.Load() {
				rec.Outcome = refused // appended nothing: nothing to wait for
				return 0, false
			}
			rec.Attempts-- // waiting is not retrying
			if !u.pause(ctx, jitter(u.rng, 200*time.Millisecond)) {
				rec.Outcome = refused
				return 0, false
			}
			continue
		case !retryable(st.Code()):
			rec.Outcome = refused
			return 0, false
		}
		rec.Retries = append(rec.Retries, st.Code().String()+" "+rec.Reason)
		if rec.Attempts >= maxAttempts || time.Since(start) > commandBudget {
			rec.Outcome = unknown
			return 0, false
		}
		if !u.pause(ctx, jitter(u.rng, wait)) {
			rec.Outcome = unknown
			return 0, false
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// retryable are the codes after which the command may or may not have been
// applied, or was not and may be next time: the same command ID then makes a
// retry safe.
func retryable(c codes.Code) bool {
	return c == codes.Unavailable || c == codes.DeadlineExceeded || c == codes.Aborted
}

// readBack reads the application as its applicant, with the last commit
// position as consistency token (read-your-writes across processes): the
// first answer must show the status the last command led to.
func (u *user) readBack(ctx context.Context, tok *token, app string, consistency uint64, want string) {
	if u.stopping.Load() {
		return
	}
	rec := readRecord{App: app, Want: want, Token: consistency}
	defer func() {
		u.ledger.mu.Lock()
		u.ledger.reads = append(u.ledger.reads, rec)
		u.ledger.mu.Unlock()
	}()
	deadline, wait := time.Now().Add(readBudget), 100*time.Millisecond
	for {
		actx, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok.access), attemptTimeout)
		resp, err := u.queries.GetLoanApplication(actx, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: app, ConsistencyToken: consistency})
		cancel()
		if err == nil {
			rec.Got, rec.Err = resp.GetLoanApplication().GetStatus().String(), ""
			return
		}
		st := status.Convert(err)
		rec.Err = st.Code().String() + " " + reasonOf(st) + ": " + st.Message()
		switch {
		case st.Code() == codes.Unauthenticated && reasonOf(st) == "TOKEN_EXPIRED":
			if fresh, ok := u.login(ctx, tok.user); ok {
				*tok = *fresh
			}
		case !retryable(st.Code()):
			return // NOT_FOUND with a satisfied token is a finding, not a wait
		}
		if time.Now().After(deadline) {
			rec.TimedOut = true
			return
		}
		if u.stopping.Load() || !u.pause(ctx, jitter(u.rng, wait)) {
			return
		}
		wait = min(2*wait, time.Second)
	}
}

// pause waits d unless ctx ends first.
func (u *user) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jitter spreads retries of many clients: d/2 to 3d/2.
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	return d/2 + time.Duration(rng.Int64N(int64(d)+1))
}

// reasonOf is the google.rpc.ErrorInfo reason of a status, if any.
func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}

// compact counts repeated strings: "Unavailable x3, DeadlineExceeded".
func compact(xs []string) []string {
	var out []string
	counts := map[string]int{}
	for _, x := range xs {
		if counts[x] == 0 {
			out = append(out, x)
		}
		counts[x]++
	}
	for i, x := range out {
		if n := counts[x]; n > 1 {
			out[i] = fmt.Sprintf("%s x%d", x, n)
		}
	}
	return out
}

// startUsers runs n users until stopping is set, then waits (bounded by the
// commands' own bounds) for the commands in flight to end.
func startUsers(ctx context.Context, c *client, n int, seed uint64) (wait func()) {
	var wg sync.WaitGroup
	for i := range n {
		u := &user{client: c, n: i, rng: rand.New(rand.NewPCG(seed, uint64(i)+1))}
		wg.Go(func() { u.run(ctx) })
	}
	return wg.Wait
}
