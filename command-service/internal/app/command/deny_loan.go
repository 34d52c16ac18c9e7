package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// DenyLoan denies an application whose review is pending.
func (c *Commands) DenyLoan(ctx context.Context, cmd domain.DenyLoan, meta Meta) (Result, error) {
	return execute[domain.LoanReview](ctx, c, ActionDenyLoan, domain.LoanReviewStream(cmd.ApplicationID), cmd, meta)
}
