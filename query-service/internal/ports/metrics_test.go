package ports

import (
	"context"
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/query-service/internal/app/query"
)

// TestOutcome: the caller's mistakes are refusals; the read model away or
// behind, deadlines and bugs are errors.
func TestOutcome(t *testing.T) {
	for code, want := range map[codes.Code]string{
		codes.OK: OutcomeOK, codes.InvalidArgument: OutcomeRefused, codes.NotFound: OutcomeRefused,
		codes.PermissionDenied: OutcomeRefused, codes.Unauthenticated: OutcomeRefused, codes.FailedPrecondition: OutcomeRefused,
		codes.Unavailable: OutcomeError, codes.DeadlineExceeded: OutcomeError, codes.Internal: OutcomeError, codes.Canceled: OutcomeError,
	} {
		var err error
		if code != codes.OK {
			err = status.Error(code, "x")
		}
		if got := Outcome(err); got != want {
			t.Errorf("%s: %s, want %s", code, got, want)
		}
	}
	behind := toStatus(context.Background(), nil, &query.Error{Kind: query.KindUnavailable, Reason: query.ReasonReadModelBehind})
	if got := Outcome(behind); got != OutcomeError {
		t.Errorf("READ_MODEL_BEHIND: %s, want error", got)
	}
	if got := Outcome(errors.New("not a status")); got != OutcomeError {
		t.Errorf("a bare error: %s, want error", got)
	}
}
