package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// IssueLoanReview opens the review of a submitted application (issued by a process manager).
func (c *Commands) IssueLoanReview(ctx context.Context, cmd domain.IssueLoanReview, meta Meta) (Result, error) {
	return execute[domain.LoanReview](ctx, c, ActionIssueLoanReview, domain.LoanReviewStream(cmd.ApplicationID), cmd, meta)
}
