package command

import (
	"testing"

	"github.com/google/uuid"

	"github.com/loanflow/loans/command-service/internal/domain"
)

func TestCommandDigest(t *testing.T) {
	id := uuid.MustParse("0b6f3a52-6d4e-4c1e-9a8f-2f5d7c9e1a33")
	approve := commandDigest(ActionApproveLoan, domain.ApproveLoan{ApplicationID: id}, lena)
	t.Run("the same command by the same caller has the same digest", func(t *testing.T) {
		if again := commandDigest(ActionApproveLoan, domain.ApproveLoan{ApplicationID: id}, lena); again != approve {
			t.Fatalf("%s then %s", approve, again)
		}
	})
	t.Run("another command, content or caller has another digest", func(t *testing.T) {
		for name, d := range map[string]string{
			"another type":        commandDigest(ActionDenyLoan, domain.DenyLoan{ApplicationID: id}, lena),
			"another application": commandDigest(ActionApproveLoan, domain.ApproveLoan{ApplicationID: uuid.New()}, lena),
			"another caller":      commandDigest(ActionApproveLoan, domain.ApproveLoan{ApplicationID: id}, max),
		} {
			if d == approve {
				t.Errorf("%s: same digest %s", name, d)
			}
		}
		deny := func(reason string) string {
			return commandDigest(ActionDenyLoan, domain.DenyLoan{ApplicationID: id, Reason: reason}, lena)
		}
		if deny("a") == deny("b") {
			t.Error("two denial reasons: same digest")
		}
	})
	t.Run("the configured limits are not part of a request", func(t *testing.T) {
		r := domain.RequestLoan{ApplicationID: id, Amount: 1000, Duration: 12, Applicant: "ada"}
		limited := r
		limited.Limits = domain.Limits{MaxAmount: 5000}
		if commandDigest(ActionRequestLoan, r, ada) != commandDigest(ActionRequestLoan, limited, ada) {
			t.Error("the limits changed the digest")
		}
	})
}
