package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// ApproveLoan approves an application whose review is pending. Only a loan
// officer may, and never on an application they requested (see policy.go).
func (c *Commands) ApproveLoan(ctx context.Context, cmd domain.ApproveLoan, meta Meta) (Result, error) {
	return execute[domain.LoanReview](ctx, c, ActionApproveLoan, domain.LoanReviewStream(cmd.ApplicationID), cmd, meta)
}
