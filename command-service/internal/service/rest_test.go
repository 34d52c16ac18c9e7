package service_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/loanevents"
)

// restClient calls the REST gateway of a service.
type restClient struct {
	base string
	http *http.Client
}

func (e *env) rest() *restClient {
	return &restClient{base: "http://" + e.svc.HTTPAddr(), http: &http.Client{Timeout: 10 * time.Second}}
}

// restReply is an HTTP answer, its body read.
type restReply struct {
	status int
	header http.Header
	body   []byte
}

// post sends a JSON body (empty: none) with headers given as name, value...
func (c *restClient) post(t *testing.T, path, body string, headers ...string) restReply {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, c.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// The user who would send it, unless the test says who (see dial).
	user := applicant
	if strings.HasSuffix(path, ":approve") || strings.HasSuffix(path, ":deny") {
		user = officer
	}
	req.Header.Set("Authorization", bearer(user))
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST %s: read the reply: %v", path, err)
	}
	return restReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// result decodes a successful command's reply: 200 and a JSON object whose
// "result" is a CommandResult in protojson's lowerCamelCase.
func (r restReply) result(t *testing.T) *loansv1.CommandResult {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("HTTP %d %s; want 200", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q; want application/json", ct)
	}
	var fields struct {
		Result map[string]json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(r.body, &fields); err != nil {
		t.Fatalf("reply %s: %v", r.body, err)
	}
	for _, name := range []string{"loanApplicationUuid", "commandId", "stream", "streamRevision", "commitPosition"} {
		if _, ok := fields.Result[name]; !ok {
			t.Errorf("reply %s has no result.%s", r.body, name)
		}
	}
	var reply loansv1.RequestLoanResponse // every command's reply is {"result": CommandResult}
	if err := protojson.Unmarshal(r.body, &reply); err != nil {
		t.Fatalf("reply %s: %v", r.body, err)
	}
	return reply.GetResult()
}

// requireRESTRefusal checks an HTTP status and the google.rpc.Status body
// with its ErrorInfo.
func (r restReply) requireRefusal(t *testing.T, httpStatus int, code codes.Code, reason string) {
	t.Helper()
	if r.status != httpStatus {
		t.Fatalf("HTTP %d %s; want %d", r.status, r.body, httpStatus)
	}
	var body spb.Status
	if err := protojson.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s is not a google.rpc.Status: %v", r.body, err)
	}
	requireStatus(t, status.FromProto(&body), code, reason)
}

func TestREST_Lifecycle(t *testing.T) {
	e := newEnv(t)
	c := e.rest()
	id, correlation := newID(), newID()
	headers := []string{"Authorization", bearer(applicant), "x-correlation-id", correlation}

	requested := c.post(t, "/v1/loan-applications",
		`{"loanApplicationUuid":"`+id+`","amount":1500,"duration":12}`, headers...).result(t)
	submitted := c.post(t, "/v1/loan-applications/"+id+":submit", "", headers...).result(t)
	e.awaitEvent(t, reviewStream(id), loanevents.TypeLoanReviewIssued)
	approved := c.post(t, "/v1/loan-applications/"+id+":approve", "{}", "Authorization", bearer(officer), "x-correlation-id", correlation).result(t)
	e.awaitEvent(t, contractStream(id), loanevents.TypeLoanContractIssued)
	signed := c.post(t, "/v1/loan-applications/"+id+":sign-contract", "{}", headers...).result(t)

	req := e.read(t, requestStream(id))
	requireTypes(t, requestStream(id), req, loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
	rev := e.read(t, reviewStream(id))
	requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued, loanevents.TypeLoanApproved)
	con := e.read(t, contractStream(id))
	requireTypes(t, contractStream(id), con, loanevents.TypeLoanContractIssued, loanevents.TypeContractSigned)

	requireResult(t, e.es, requested, id, requestStream(id), req[0])
	requireResult(t, e.es, submitted, id, requestStream(id), req[1])
	requireResult(t, e.es, approved, id, reviewStream(id), rev[1])
	requireResult(t, e.es, signed, id, contractStream(id), con[1])

	t.Run("the verified caller and x-correlation-id reach the events' metadata", func(t *testing.T) {
		for _, c := range []struct {
			stream string
			e      storedEvent
			actor  string
		}{
			{requestStream(id), req[0], applicant}, {requestStream(id), req[1], applicant},
			{reviewStream(id), rev[0], reviewManager}, {reviewStream(id), rev[1], officer},
			{contractStream(id), con[0], contractManager}, {contractStream(id), con[1], applicant},
		} {
			if c.e.Meta.Actor != c.actor || c.e.Meta.CorrelationID != correlation {
				t.Errorf("%s@%d %s: actor %q, correlation %q; want %q, %q", c.stream, c.e.Revision, c.e.Type, c.e.Meta.Actor, c.e.Meta.CorrelationID, c.actor, correlation)
			}
		}
		if got := req[0].Payload.(*loansv1.LoanRequested); got.GetApplicant() != applicant || got.GetAmount() != 1500 || got.GetDuration() != 12 {
			t.Errorf("LoanRequested = %v; want amount 1500, duration 12, applicant %s", got, applicant)
		}
	})
	t.Run("the command ID comes from the body", func(t *testing.T) {
		cmd := newID()
		r := c.post(t, "/v1/loan-applications", `{"commandId":"`+cmd+`","loanApplicationUuid":"`+newID()+`","amount":1500,"duration":12}`).result(t)
		if r.GetCommandId() != cmd {
			t.Fatalf("reply carries command ID %s; want %s", r.GetCommandId(), cmd)
		}
	})
}

func TestREST_SnakeCaseBody(t *testing.T) {
	e := newEnv(t, withoutProcessManagers())
	id := newID()
	r := e.rest().post(t, "/v1/loan-applications", `{"loan_application_uuid":"`+id+`","amount":"700","duration":3,"applicant":"`+applicant+`"}`).result(t)
	got := e.read(t, requestStream(id))
	requireTypes(t, requestStream(id), got, loanevents.TypeLoanRequested)
	requireResult(t, e.es, r, id, requestStream(id), got[0])
	if p := got[0].Payload.(*loansv1.LoanRequested); p.GetAmount() != 700 || p.GetDuration() != 3 || p.GetApplicant() != applicant {
		t.Fatalf("LoanRequested = %v; want amount 700, duration 3, applicant %s", p, applicant)
	}
}

func TestREST_DenyAndRejectContract(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	c := e.rest()

	t.Run("deny carries its reason", func(t *testing.T) {
		id := e.pendingReview(ctx, t)
		r := c.post(t, "/v1/loan-applications/"+id+":deny", `{"reason":"no stable income"}`, "Authorization", bearer(officer)).result(t)
		rev := e.read(t, reviewStream(id))
		requireTypes(t, reviewStream(id), rev, loanevents.TypeLoanReviewIssued, loanevents.TypeLoanDenied)
		requireResult(t, e.es, r, id, reviewStream(id), rev[1])
		if got := rev[1].Payload.(*loansv1.LoanDenied).GetReason(); got != "no stable income" || rev[1].Meta.Actor != officer {
			t.Fatalf("LoanDenied reason %q by %q; want %q by %q", got, rev[1].Meta.Actor, "no stable income", officer)
		}
	})
	t.Run("reject-contract carries its reason", func(t *testing.T) {
		id := e.pendingSignature(ctx, t)
		r := c.post(t, "/v1/loan-applications/"+id+":reject-contract", `{"reason":"rate too high"}`, "Authorization", bearer(applicant)).result(t)
		con := e.read(t, contractStream(id))
		requireTypes(t, contractStream(id), con, loanevents.TypeLoanContractIssued, loanevents.TypeContractRejected)
		requireResult(t, e.es, r, id, contractStream(id), con[1])
		if got := con[1].Payload.(*loansv1.ContractRejected).GetReason(); got != "rate too high" || con[1].Meta.Actor != applicant {
			t.Fatalf("ContractRejected reason %q by %q; want %q by %q", got, con[1].Meta.Actor, "rate too high", applicant)
		}
	})
}

// Refusals come back as google.rpc.Status JSON bodies: 400 for invalid
// input, 404 for what does not exist (yet), 409 for a command that does not
// fit the application's state.
func TestREST_Refusals(t *testing.T) {
	e := newEnv(t)
	ctx := callCtx(t)
	c := e.rest()
	requested := newID()
	e.requestLoan(ctx, t, requested)
	submitted := newID()
	e.requestLoan(ctx, t, submitted)
	e.submit(ctx, t, submitted)
	denied := e.pendingReview(ctx, t)
	e.deny(ctx, t, denied)
	signed := e.pendingSignature(ctx, t)
	e.sign(ctx, t, signed)

	for _, r := range []struct {
		rule       string
		path, body string
		httpStatus int
		code       codes.Code
		reason     string
	}{
		{"an amount of 499 is invalid", "/v1/loan-applications", `{"loanApplicationUuid":"` + newID() + `","amount":499,"duration":12}`,
			http.StatusBadRequest, codes.InvalidArgument, "AMOUNT_IS_TOO_LOW"},
		{"a duration of 2 months is invalid", "/v1/loan-applications", `{"loanApplicationUuid":"` + newID() + `","amount":500,"duration":2}`,
			http.StatusBadRequest, codes.InvalidArgument, "DURATION_IS_TOO_LOW"},
		{"an application UUID in the body must be a UUID", "/v1/loan-applications", `{"loanApplicationUuid":"nope","amount":500,"duration":3}`,
			http.StatusBadRequest, codes.InvalidArgument, "LOAN_APPLICATION_UUID_INVALID"},
		{"an application UUID in the path must be a UUID", "/v1/loan-applications/nope:submit", ``,
			http.StatusBadRequest, codes.InvalidArgument, "LOAN_APPLICATION_UUID_INVALID"},
		{"a command ID must be a UUID", "/v1/loan-applications/" + requested + ":submit", `{"commandId":"42"}`,
			http.StatusBadRequest, codes.InvalidArgument, "COMMAND_ID_INVALID"},
		{"a denial needs a reason", "/v1/loan-applications/" + denied + ":deny", `{}`,
			http.StatusBadRequest, codes.InvalidArgument, "DENIAL_REASON_REQUIRED"},
		{"a second request conflicts", "/v1/loan-applications", `{"loanApplicationUuid":"` + requested + `","amount":500,"duration":3}`,
			http.StatusConflict, codes.AlreadyExists, "LOAN_ALREADY_REQUESTED"},
		{"an unknown application is not found", "/v1/loan-applications/" + newID() + ":submit", ``,
			http.StatusNotFound, codes.NotFound, "LOAN_REQUEST_NOT_FOUND"},
		{"a second submission conflicts", "/v1/loan-applications/" + submitted + ":submit", `{}`,
			http.StatusConflict, codes.FailedPrecondition, "LOAN_REQUEST_ALREADY_SUBMITTED"},
		{"approving before submission finds no review", "/v1/loan-applications/" + requested + ":approve", `{}`,
			http.StatusNotFound, codes.NotFound, "LOAN_REVIEW_NOT_FOUND"},
		{"approving after a denial conflicts", "/v1/loan-applications/" + denied + ":approve", `{}`,
			http.StatusConflict, codes.FailedPrecondition, "LOAN_ALREADY_DECIDED"},
		{"signing before approval finds no contract", "/v1/loan-applications/" + requested + ":sign-contract", `{}`,
			http.StatusNotFound, codes.NotFound, "LOAN_CONTRACT_NOT_FOUND"},
		{"signing twice conflicts", "/v1/loan-applications/" + signed + ":sign-contract", `{}`,
			http.StatusConflict, codes.FailedPrecondition, "CONTRACT_ALREADY_CONCLUDED"},
		{"rejecting a signed contract conflicts", "/v1/loan-applications/" + signed + ":reject-contract", `{"reason":"late"}`,
			http.StatusConflict, codes.FailedPrecondition, "CONTRACT_ALREADY_CONCLUDED"},
	} {
		t.Run(r.rule, func(t *testing.T) {
			c.post(t, r.path, r.body).requireRefusal(t, r.httpStatus, r.code, r.reason)
		})
	}
	t.Run("a body that is not JSON is invalid", func(t *testing.T) {
		if got := c.post(t, "/v1/loan-applications", `{"amount":`); got.status != http.StatusBadRequest {
			t.Fatalf("HTTP %d %s; want 400", got.status, got.body)
		}
	})
	t.Run("refused commands append nothing", func(t *testing.T) {
		requireTypes(t, requestStream(requested), e.read(t, requestStream(requested)), loanevents.TypeLoanRequested)
		requireTypes(t, reviewStream(requested), e.read(t, reviewStream(requested)))
		requireTypes(t, contractStream(requested), e.read(t, contractStream(requested)))
		requireTypes(t, requestStream(submitted), e.read(t, requestStream(submitted)), loanevents.TypeLoanRequested, loanevents.TypeLoanRequestSubmitted)
		requireTypes(t, reviewStream(denied), e.read(t, reviewStream(denied)), loanevents.TypeLoanReviewIssued, loanevents.TypeLoanDenied)
		requireTypes(t, contractStream(signed), e.read(t, contractStream(signed)), loanevents.TypeLoanContractIssued, loanevents.TypeContractSigned)
	})
}
