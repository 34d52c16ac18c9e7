package command

import (
	"context"

	"github.com/loanflow/loans/command-service/internal/domain"
)

// IssueLoanContract opens the contract of an approved application (issued by a process manager).
func (c *Commands) IssueLoanContract(ctx context.Context, cmd domain.IssueLoanContract, meta Meta) (Result, error) {
	return execute[domain.LoanContract](ctx, c, ActionIssueLoanContract, domain.LoanContractStream(cmd.ApplicationID), cmd, meta)
}
