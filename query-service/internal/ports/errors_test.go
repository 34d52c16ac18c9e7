package ports

import (
	"io"
	"log/slog"
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/platform/apiserver"
	"github.com/loanflow/loans/query-service/internal/app/query"
)

// TestToStatus: every kind of refusal has its gRPC code, and so its HTTP
// status, and keeps its reason.
func TestToStatus(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		kind   query.Kind
		reason query.Reason
		code   codes.Code
		http   int
	}{
		{query.KindInvalidArgument, query.ReasonLoanApplicationUUIDInvalid, codes.InvalidArgument, http.StatusBadRequest},
		{query.KindNotFound, query.ReasonLoanApplicationNotFound, codes.NotFound, http.StatusNotFound},
		{query.KindUnavailable, query.ReasonReadModelBehind, codes.Unavailable, http.StatusServiceUnavailable},
		{query.KindUnavailable, query.ReasonReadModelUnavailable, codes.Unavailable, http.StatusServiceUnavailable},
		{query.KindUnauthenticated, query.ReasonPrincipalMissing, codes.Unauthenticated, http.StatusUnauthorized},
		{query.KindPermissionDenied, query.ReasonRoleRequired, codes.PermissionDenied, http.StatusForbidden},
		{query.KindPermissionDenied, query.ReasonApplicantFilterNotAllowed, codes.PermissionDenied, http.StatusForbidden},
	} {
		t.Run(string(c.reason), func(t *testing.T) {
			err := toStatus(t.Context(), logger, &query.Error{Kind: c.kind, Reason: c.reason, Message: "why"})
			st := status.Convert(err)
			if st.Code() != c.code || st.Message() != "why" {
				t.Fatalf("got %v; want %s", err, c.code)
			}
			if got := apiserver.HTTPStatus(st.Code()); got != c.http {
				t.Errorf("HTTP %d; want %d", got, c.http)
			}
			if len(st.Details()) != 1 {
				t.Fatalf("details %v", st.Details())
			}
			if info, ok := st.Details()[0].(*errdetails.ErrorInfo); !ok || info.GetReason() != string(c.reason) {
				t.Errorf("details %v; want reason %s", st.Details(), c.reason)
			}
		})
	}
}
