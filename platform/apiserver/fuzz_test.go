package apiserver_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
	"google.golang.org/protobuf/proto"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/apiserver"
)

// echoCommands accepts every command, checking that what the gateway hands
// on is a well-formed message.
type echoCommands struct {
	loansv1.UnimplementedLoanCommandServiceServer
}

func (echoCommands) check(m proto.Message) error {
	if _, err := proto.Marshal(m); err != nil {
		return err
	}
	return nil
}

func (c echoCommands) RequestLoan(_ context.Context, r *loansv1.RequestLoanRequest) (*loansv1.RequestLoanResponse, error) {
	return &loansv1.RequestLoanResponse{Result: &loansv1.CommandResult{LoanApplicationUuid: r.GetLoanApplicationUuid()}}, c.check(r)
}

func (c echoCommands) DenyLoan(_ context.Context, r *loansv1.DenyLoanRequest) (*loansv1.DenyLoanResponse, error) {
	return &loansv1.DenyLoanResponse{Result: &loansv1.CommandResult{LoanApplicationUuid: r.GetLoanApplicationUuid()}}, c.check(r)
}

func (c echoCommands) ApproveLoan(_ context.Context, r *loansv1.ApproveLoanRequest) (*loansv1.ApproveLoanResponse, error) {
	return &loansv1.ApproveLoanResponse{Result: &loansv1.CommandResult{LoanApplicationUuid: r.GetLoanApplicationUuid()}}, c.check(r)
}

// FuzzGateway sends any method, path, content type and body to the REST
// gateway of the command routes. Whatever the request: an answer with a
// status the gateway is meant to give (never 500, never a hang), a JSON
// body, and the server still answering afterwards.
func FuzzGateway(f *testing.F) {
	srv, err := apiserver.Start(context.Background(), apiserver.Config{
		Name: "fuzz", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		DefaultDeadline: 3 * time.Second, MaxDeadline: 5 * time.Second,
		Service: &loansv1.LoanCommandService_ServiceDesc, Impl: echoCommands{},
		RegisterGateway:    loansv1.RegisterLoanCommandServiceHandler,
		CORSAllowedOrigins: []string{"http://localhost:5173"},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	base := "http://" + srv.HTTPAddr()
	client := &http.Client{Timeout: 10 * time.Second}

	id := "0b6f3a52-6d4e-4c1e-9a8f-2f5d7c9e1a33"
	f.Add("POST", "/v1/loan-applications", "application/json", `{"loanApplicationUuid":"`+id+`","amount":1200,"duration":24}`)
	f.Add("POST", "/v1/loan-applications", "application/json", `{"loan_application_uuid":"`+id+`","amount":"1200","duration":"24","applicant":"ada"}`)
	f.Add("POST", "/v1/loan-applications/"+id+":deny", "application/json", `{"reason":"\u0000\ud800"}`)
	f.Add("POST", "/v1/loan-applications/"+id+":approve", "text/plain", `{"commandId":1}`)
	f.Add("GET", "/v1/loan-applications/"+id+":approve", "", ``)
	f.Add("POST", "/v1/loan-applications", "application/json", `{"amount":1e400}`)
	f.Add("POST", "/v1/loan-applications", "application/json", `[`)
	f.Add("PUT", "/v1/loan-applications/%zz:deny", "application/json", `{}`)
	f.Add("OPTIONS", "/v1/loan-applications", "", ``)
	f.Add("POST", "/v1/loan-applications/a/b/c:deny", "application/json", `{"reason":"x","unknown":{"a":[1,2,3]}}`)
	f.Fuzz(func(t *testing.T, method, path, contentType, body string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n#?") || !httpguts.ValidHeaderFieldValue(contentType) {
			return // not an HTTP request a client library can send
		}
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			return
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Origin", "http://localhost:5173")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: no answer: %v", method, path, err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK, http.StatusNoContent, http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed,
			http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusNotImplemented:
		default:
			t.Fatalf("%s %s (%s) %q: HTTP %d %s", method, path, contentType, body, resp.StatusCode, answer)
		}
		if resp.StatusCode != http.StatusNoContent && len(answer) > 0 && !utf8.Valid(answer) {
			t.Fatalf("%s %s: the answer is not UTF-8: %q", method, path, answer)
		}
	})
}

func validMethod(m string) bool {
	switch m {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD":
		return true
	}
	return false
}
