package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// SignContract signs a contract awaiting signature: the applicant's own only.
func (c *Commands) SignContract(ctx context.Context, cmd domain.SignContract, meta Meta) (Result, error) {
	return execute[domain.LoanContract](ctx, c, ActionSignContract, domain.LoanContractStream(cmd.ApplicationID), cmd, meta)
}
