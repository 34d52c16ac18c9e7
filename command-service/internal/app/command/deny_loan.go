package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// DenyLoan denies an application whose review is pending, with a reason. Only
// a loan officer may, and never on an application they requested.
func (c *Commands) DenyLoan(ctx context.Context, cmd domain.DenyLoan, meta Meta) (Result, error) {
	return execute[domain.LoanReview](ctx, c, ActionDenyLoan, domain.LoanReviewStream(cmd.ApplicationID), cmd, meta)
}
