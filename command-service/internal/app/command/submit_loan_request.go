package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// SubmitLoanRequest submits an application for review: the applicant's own only.
func (c *Commands) SubmitLoanRequest(ctx context.Context, cmd domain.SubmitLoanRequest, meta Meta) (Result, error) {
	return execute[domain.LoanRequest](ctx, c, ActionSubmitLoanRequest, domain.LoanRequestStream(cmd.ApplicationID), cmd, meta)
}
