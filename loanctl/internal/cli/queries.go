package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/loanctl/internal/config"
	"github.com/loanflow/loans/loanctl/internal/output"
)

// consistency are the flags of a query that may read its own writes.
type consistency struct {
	token uint64
	wait  bool
}

func (c *consistency) flags(cmd *cobra.Command) {
	cmd.Flags().Uint64Var(&c.token, "consistency-token", 0, "answer only once the read model has caught up with this commit position (a command's POSITION)")
	cmd.Flags().BoolVar(&c.wait, "wait", false, "use the commit position of the last command loanctl sent as --consistency-token (read your own writes)")
	cmd.MarkFlagsMutuallyExclusive("consistency-token", "wait")
}

// value is the consistency token to send.
func (c *consistency) value(a *app) (uint64, error) {
	if !c.wait {
		return c.token, nil
	}
	pos, err := config.LastPosition(a.dir, a.s.commandAddr)
	if err != nil {
		return 0, err
	}
	if pos == 0 {
		a.warnf("--wait: no command sent to %s is remembered; reading without a consistency token", a.s.commandAddr)
	}
	return pos, nil
}

// query runs one query: the client, the consistency token (--wait or
// --consistency-token), the call under the command's timeout, its answer
// printed in the chosen format (table: the table the answer makes).
func query[R proto.Message](a *app, cmd *cobra.Command, cons *consistency,
	call func(ctx context.Context, q loansv1.LoanQueryServiceClient, token uint64) (R, error),
	table func(R) func(io.Writer) error) error {
	q, err := a.queries(cmd.Context())
	if err != nil {
		return err
	}
	token, err := cons.value(a)
	if err != nil {
		return err
	}
	ctx, cancel := a.call(cmd)
	defer cancel()
	resp, err := call(ctx, q, token)
	if err != nil {
		return a.queryErr(err)
	}
	return a.printer().Message(resp, table(resp))
}

func (a *app) getCmd() *cobra.Command {
	var cons consistency
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Show an application's current state",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return query(a, cmd, &cons, func(ctx context.Context, q loansv1.LoanQueryServiceClient, token uint64) (*loansv1.GetLoanApplicationResponse, error) {
				return q.GetLoanApplication(ctx, &loansv1.GetLoanApplicationRequest{LoanApplicationUuid: argv[0], ConsistencyToken: token})
			}, func(r *loansv1.GetLoanApplicationResponse) func(io.Writer) error {
				return output.ApplicationTable(r.GetLoanApplication())
			})
		},
	}
	cons.flags(cmd)
	return cmd
}

// orders are the values of list --order.
var orders = map[string]loansv1.LoanApplicationOrder{
	"requested-desc": loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_DESC,
	"requested-asc":  loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_REQUESTED_AT_ASC,
	"amount-desc":    loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_DESC,
	"amount-asc":     loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_AMOUNT_ASC,
	"updated-desc":   loansv1.LoanApplicationOrder_LOAN_APPLICATION_ORDER_UPDATED_AT_DESC,
}

var orderNames = []string{"requested-desc", "requested-asc", "amount-desc", "amount-asc", "updated-desc"}

func (a *app) listCmd() *cobra.Command {
	var (
		cons                    consistency
		statuses                []string
		applicant, order, token string
		after, before           string
		minAmount, maxAmount    int64
		pageSize                int32
		all                     bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List applications, filtered and sorted, a page at a time (or --all)",
		Long: `List applications, newest request first unless --order says otherwise. Applicants see their
own applications only; analysts see no applicant and may not filter by one.

Statuses: ` + strings.Join(output.StatusNames(), ", ") + `.
Orders: ` + strings.Join(orderNames, ", ") + `.`,
		Example: `  loanctl list --status pending_review --order requested-asc
  loanctl list --min-amount 10000 --all -o json`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &loansv1.ListLoanApplicationsRequest{
				Applicant: applicant, MinAmount: minAmount, MaxAmount: maxAmount, PageSize: pageSize, PageToken: token,
			}
			for _, s := range statuses {
				st, err := output.ParseStatus(s)
				if err != nil {
					return usageError{err}
				}
				req.Statuses = append(req.Statuses, st)
			}
			if order != "" {
				o, ok := orders[order]
				if !ok {
					return oneOf("order", order, orderNames...)
				}
				req.Order = o
			}
			var err error
			if req.RequestedAfter, err = timeFlag("requested-after", after); err != nil {
				return err
			}
			if req.RequestedBefore, err = timeFlag("requested-before", before); err != nil {
				return err
			}
			if req.ConsistencyToken, err = cons.value(a); err != nil {
				return err
			}
			q, err := a.queries(cmd.Context())
			if err != nil {
				return err
			}
			all := all
			result := &loansv1.ListLoanApplicationsResponse{}
			for {
				ctx, cancel := a.call(cmd)
				resp, err := q.ListLoanApplications(ctx, req)
				cancel()
				if err != nil {
					return a.queryErr(err)
				}
				result.LoanApplications = append(result.LoanApplications, resp.GetLoanApplications()...)
				result.NextPageToken = resp.GetNextPageToken()
				if !all || result.NextPageToken == "" {
					break
				}
				req.PageToken = result.NextPageToken
			}
			return a.printer().Message(result, func(w io.Writer) error {
				if err := output.ApplicationsTable(result.GetLoanApplications())(w); err != nil {
					return err
				}
				if result.GetNextPageToken() != "" {
					fmt.Fprintf(a.o.Stderr, "More: --page-token %s (or --all)\n", result.GetNextPageToken())
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&statuses, "status", nil, "only these statuses (repeat or separate with commas)")
	f.StringVar(&applicant, "applicant", "", "only this applicant")
	f.Int64Var(&minAmount, "min-amount", 0, "only amounts at least this")
	f.Int64Var(&maxAmount, "max-amount", 0, "only amounts at most this")
	f.StringVar(&after, "requested-after", "", "only requests at or after this time (RFC 3339)")
	f.StringVar(&before, "requested-before", "", "only requests before this time (RFC 3339)")
	f.StringVar(&order, "order", "", "order: "+strings.Join(orderNames, ", ")+" (default requested-desc)")
	f.Int32Var(&pageSize, "page-size", 0, "applications per page (default 20, at most 100)")
	f.StringVar(&token, "page-token", "", "the page to read: the token a previous page printed")
	f.BoolVar(&all, "all", false, "read every page")
	cons.flags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("status", fixedCompletion(output.StatusNames()...))
	_ = cmd.RegisterFlagCompletionFunc("order", fixedCompletion(orderNames...))
	return cmd
}

func timeFlag(name, v string) (*timestamppb.Timestamp, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, usagef("--%s %q: want an RFC 3339 time such as 2026-11-30T14:00:00Z", name, v)
	}
	return timestamppb.New(t), nil
}

func (a *app) historyCmd() *cobra.Command {
	var cons consistency
	cmd := &cobra.Command{
		Use:   "history ID",
		Short: "Show every event of an application, oldest first: who did what, when",
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			return query(a, cmd, &cons, func(ctx context.Context, q loansv1.LoanQueryServiceClient, token uint64) (*loansv1.GetLoanApplicationHistoryResponse, error) {
				return q.GetLoanApplicationHistory(ctx, &loansv1.GetLoanApplicationHistoryRequest{LoanApplicationUuid: argv[0], ConsistencyToken: token})
			}, func(r *loansv1.GetLoanApplicationHistoryResponse) func(io.Writer) error {
				return output.HistoryTable(r.GetEntries())
			})
		},
	}
	cons.flags(cmd)
	return cmd
}

func (a *app) atCmd() *cobra.Command {
	var (
		cons consistency
		at   string
	)
	cmd := &cobra.Command{
		Use:     "at ID --time RFC3339",
		Short:   "Show an application as it stood at a past moment",
		Example: "  loanctl at 0b9e5c1e-4a0e-4c57-9c1e-8a0b7b0e8e42 --time 2026-11-30T14:00:00Z",
		Args:    args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			ts, err := timeFlag("time", at)
			if err != nil {
				return err
			}
			return query(a, cmd, &cons, func(ctx context.Context, q loansv1.LoanQueryServiceClient, token uint64) (*loansv1.GetLoanApplicationAtResponse, error) {
				return q.GetLoanApplicationAt(ctx, &loansv1.GetLoanApplicationAtRequest{LoanApplicationUuid: argv[0], At: ts, ConsistencyToken: token})
			}, func(r *loansv1.GetLoanApplicationAtResponse) func(io.Writer) error {
				return output.ApplicationTable(r.GetLoanApplication())
			})
		},
	}
	cmd.Flags().StringVar(&at, "time", "", "the moment (RFC 3339, such as 2026-11-30T14:00:00Z)")
	_ = cmd.MarkFlagRequired("time")
	cons.flags(cmd)
	return cmd
}

func (a *app) statsCmd() *cobra.Command {
	var (
		cons     consistency
		from, to string
	)
	cmd := &cobra.Command{
		Use:   "stats [--from DAY] [--to DAY]",
		Short: "Show daily counts and amounts per outcome, the funnel and the time to decision",
		Long:  "Show the statistics of the days from --from to --to (UTC days, 2026-11-25; the last 30 days by default).",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for name, v := range map[string]string{"from": from, "to": to} {
				if _, err := time.Parse(time.DateOnly, v); v != "" && err != nil {
					return usagef("--%s %q: want a day such as 2026-11-25", name, v)
				}
			}
			return query(a, cmd, &cons, func(ctx context.Context, q loansv1.LoanQueryServiceClient, token uint64) (*loansv1.GetLoanStatisticsResponse, error) {
				return q.GetLoanStatistics(ctx, &loansv1.GetLoanStatisticsRequest{FromDay: from, ToDay: to, ConsistencyToken: token})
			}, output.StatisticsTable)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first day (UTC), such as 2026-11-01")
	cmd.Flags().StringVar(&to, "to", "", "last day (UTC), such as 2026-11-30")
	cons.flags(cmd)
	return cmd
}
