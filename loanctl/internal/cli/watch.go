package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/loanctl/internal/client"
	"github.com/loanflow/loans/loanctl/internal/output"
)

func (a *app) watchCmd() *cobra.Command {
	var (
		cons      consistency
		interval  time.Duration
		concluded bool
	)
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow an application's history live (Ctrl-C stops)",
		Long: `Print an application's history, then each new event as it happens: the history query is
read again every --interval with the last position seen as its consistency token. -o json prints
one JSON object a line, -o yaml one document each. Ctrl-C stops; so does the end of the lifecycle
with --until-concluded.`,
		Args: args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, argv []string) error {
			if interval <= 0 {
				return usagef("--interval %s: want a positive duration", interval)
			}
			q, err := a.queries(cmd.Context())
			if err != nil {
				return err
			}
			last, err := cons.value(a)
			if err != nil {
				return err
			}
			err = a.watch(cmd.Context(), q, argv[0], last, interval, concluded)
			if errors.Is(err, context.Canceled) && cmd.Context().Err() != nil {
				return nil // Ctrl-C: the watcher's way to stop
			}
			return err
		},
	}
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "how often to read the history")
	cmd.Flags().BoolVar(&concluded, "until-concluded", false, "stop once the application is denied, signed or rejected")
	cons.flags(cmd)
	return cmd
}

func (a *app) watch(ctx context.Context, q loansv1.LoanQueryServiceClient, id string, token uint64, interval time.Duration, untilConcluded bool) error {
	p := a.printer()
	var (
		last             uint64 // the position of the last entry printed
		seen             bool   // whether one was
		header, notFound bool
		unavailable      bool
	)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		callCtx, cancel := context.WithTimeout(ctx, a.s.timeout)
		resp, err := q.GetLoanApplicationHistory(callCtx, &loansv1.GetLoanApplicationHistoryRequest{
			LoanApplicationUuid: id, ConsistencyToken: max(token, last),
		})
		cancel()
		r, isStatus := client.AsRefusal(err)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			unavailable = false
		case isStatus && r.Code == codes.NotFound:
			if !notFound {
				fmt.Fprintf(a.o.Stderr, "loanctl: %s does not exist (yet); waiting for it...\n", id)
				notFound = true
			}
		case isStatus && (r.Code == codes.Unavailable || r.Code == codes.DeadlineExceeded):
			if !unavailable {
				a.warnf("%v; retrying every %s", a.queryErr(err), interval)
				unavailable = true
			}
		default:
			return a.queryErr(err)
		}
		for _, e := range resp.GetEntries() {
			if seen && e.GetPosition() <= last {
				continue
			}
			if !header && p.Format == output.Table {
				if err := output.HistoryLineHeader(a.o.Stdout); err != nil {
					return err
				}
				header = true
			}
			if err := p.Item(e, func(w io.Writer) error { return output.HistoryLine(w, e) }); err != nil {
				return err
			}
			last, seen = e.GetPosition(), true
			if untilConcluded && output.Concluded(e.GetStatusAfter()) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
