package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// RejectContract rejects a contract awaiting signature: the applicant's own only.
func (c *Commands) RejectContract(ctx context.Context, cmd domain.RejectContract, meta Meta) (Result, error) {
	return execute[domain.LoanContract](ctx, c, ActionRejectContract, domain.LoanContractStream(cmd.ApplicationID), cmd, meta)
}
