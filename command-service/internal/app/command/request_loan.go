package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// RequestLoan opens a loan application; the applicant is the caller.
func (c *Commands) RequestLoan(ctx context.Context, cmd domain.RequestLoan, meta Meta) (Result, error) {
	cmd.Limits = c.limits
	return execute[domain.LoanRequest](ctx, c, ActionRequestLoan, domain.LoanRequestStream(cmd.ApplicationID), cmd, meta)
}
