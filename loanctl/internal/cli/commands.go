package cli

import (
	"context"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/loanctl/internal/config"
	"github.com/loanflow/loans/loanctl/internal/output"
)

// commandFunc sends one command with its command ID.
type commandFunc func(ctx context.Context, c loansv1.LoanCommandServiceClient, commandID string) (*loansv1.CommandResult, error)

// command builds a command's cobra command: every one takes --command-id
// (a new UUID by default, so that a retry with the same one is answered
// with the first reply and appends nothing) and prints where its events
// landed. Its commit position is remembered for a later query's --wait.
func (a *app) command(use, short, long string, nargs int, send func(args []string) commandFunc) *cobra.Command {
	var commandID string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Long: long + `

Prints the application, the command ID, the stream and its revision, and the commit position:
the consistency token that a query's --consistency-token (or --wait, which remembers it) takes
to read this write. Retrying with the same --command-id is safe: the service answers with the
first reply and appends nothing.`,
		Args: args(cobra.ExactArgs(nargs)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			c, err := a.commands(cmd.Context())
			if err != nil {
				return err
			}
			if commandID == "" {
				commandID = uuid.NewString()
			}
			ctx, cancel := a.call(cmd)
			defer cancel()
			res, err := send(argv)(ctx, c, commandID)
			if err != nil {
				return a.commandErr(err)
			}
			if err := config.SaveLastPosition(a.dir, a.s.commandAddr, res.GetCommitPosition()); err != nil {
				a.warnf("remember the commit position for --wait: %v", err)
			}
			return a.printer().Message(res, output.CommandResultTable(res))
		},
	}
	cmd.Flags().StringVar(&commandID, "command-id", "", "the command's ID, a UUID (default: a new one); send the same to retry safely")
	return cmd
}

func (a *app) requestCmd() *cobra.Command {
	var (
		amount        int64
		duration      int32
		id, applicant string
	)
	cmd := a.command("request --amount N --duration MONTHS [--id UUID]", "Request a loan (a new application, pending submission)",
		`Request a loan: opens a new application for the caller (or --applicant, which must be the caller).
The application's ID is --id, or a new UUID.`, 0,
		func([]string) commandFunc {
			return func(ctx context.Context, c loansv1.LoanCommandServiceClient, commandID string) (*loansv1.CommandResult, error) {
				if id == "" {
					id = uuid.NewString()
				}
				r, err := c.RequestLoan(ctx, &loansv1.RequestLoanRequest{
					CommandId: commandID, LoanApplicationUuid: id, Amount: amount, Duration: duration, Applicant: applicant,
				})
				return r.GetResult(), err
			}
		})
	f := cmd.Flags()
	f.Int64Var(&amount, "amount", 0, "the amount, in whole currency units (at least 500)")
	f.Int32Var(&duration, "duration", 0, "the duration in months (at least 3)")
	f.StringVar(&id, "id", "", "the new application's UUID (default: a new one)")
	f.StringVar(&applicant, "applicant", "", "who applies (default and only allowed value: the caller)")
	_ = cmd.MarkFlagRequired("amount")
	_ = cmd.MarkFlagRequired("duration")
	return cmd
}

func (a *app) submitCmd() *cobra.Command {
	return a.command("submit ID", "Submit an application for review (applicant)",
		"Submit the application for review; the review is then issued automatically (status pending_review).", 1,
		func(argv []string) commandFunc {
			return func(ctx context.Context, c loansv1.LoanCommandServiceClient, commandID string) (*loansv1.CommandResult, error) {
				r, err := c.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{CommandId: commandID, LoanApplicationUuid: argv[0]})
				return r.GetResult(), err
			}
		})
}

func (a *app) approveCmd() *cobra.Command {
	return a.command("approve ID", "Approve an application under review (loan officer; never your own)",
		"Approve an application whose review is pending; the contract is then issued automatically (status pending_signature).", 1,
		func(argv []string) commandFunc {
			return func(ctx context.Context, c loansv1.LoanCommandServiceClient, commandID string) (*loansv1.CommandResult, error) {
				r, err := c.ApproveLoan(ctx, &loansv1.ApproveLoanRequest{CommandId: commandID, LoanApplicationUuid: argv[0]})
				return r.GetResult(), err
			}
		})
}

func (a *app) denyCmd() *cobra.Command {
	var reason string
	cmd := a.command("deny ID --reason TEXT", "Deny an application under review (loan officer; never your own)",
		"Deny an application whose review is pending, with a reason.", 1,
		func(argv []string) commandFunc {
			return func(ctx context.Context, c loansv1.LoanCommandServiceClient, commandID string) (*loansv1.CommandResult, error) {
				r, err := c.DenyLoan(ctx, &loansv1.DenyLoanRequest{CommandId: commandID, LoanApplicationUuid: argv[0], Reason: reason})
				return r.GetResult(), err
			}
		})
	cmd.Flags().StringVar(&reason, "reason", "", "why the loan is denied (required, at most 1000 characters)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func (a *app) signCmd() *cobra.Command {
	return a.command("sign ID", "Sign the contract of an approved application (applicant)",
		"Sign the contract awaiting your signature (status signed).", 1,
		func(argv []string) commandFunc {
			return func(ctx context.Context, c loansv1.LoanCommandServiceClient, commandID string) (*loansv1.CommandResult, error) {
				r, err := c.SignContract(ctx, &loansv1.SignContractRequest{CommandId: commandID, LoanApplicationUuid: argv[0]})
				return r.GetResult(), err
			}
		})
}

func (a *app) rejectCmd() *cobra.Command {
	var reason string
	cmd := a.command("reject ID [--reason TEXT]", "Reject the contract of an approved application (applicant)",
		"Reject the contract awaiting your signature (status rejected), optionally saying why.", 1,
		func(argv []string) commandFunc {
			return func(ctx context.Context, c loansv1.LoanCommandServiceClient, commandID string) (*loansv1.CommandResult, error) {
				r, err := c.RejectContract(ctx, &loansv1.RejectContractRequest{CommandId: commandID, LoanApplicationUuid: argv[0], Reason: reason})
				return r.GetResult(), err
			}
		})
	cmd.Flags().StringVar(&reason, "reason", "", "why the contract is rejected (optional, at most 1000 characters)")
	return cmd
}
