package cli

import (
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/spf13/cobra"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/loanctl/internal/auth"
	"github.com/loanflow/loans/loanctl/internal/demo"
	"github.com/loanflow/loans/loanctl/internal/output"
)

// demoResult is what demo prints with -o json or yaml.
type demoResult struct {
	Seed         uint64             `json:"seed"`
	Totals       []demo.Total       `json:"totals"`
	Applications []demo.Application `json:"applications"`
}

func (a *app) demoCmd() *cobra.Command {
	var (
		n, concurrency int
		seed           uint64
	)
	cmd := &cobra.Command{
		Use:   "demo --applications N [--seed S]",
		Short: "Create realistic applications with the development users (DEVELOPMENT ONLY)",
		Long: `Create N loan applications through their lifecycles with the development provider's users
(ada, bo and max apply; lena and max review, max never his own), signing them in with the
password grant (password = user name): a spread of amounts and durations, and every outcome
(left pending submission, left pending review, denied, left pending signature, signed,
rejected) once N is 6 or more. The same --seed gives the same plan (new application IDs).
The cached tokens are neither used nor changed.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 {
				return usagef("--applications %d: want at least 1", n)
			}
			if !cmd.Flags().Changed("seed") {
				seed = rand.Uint64()
			}
			ctx := cmd.Context()
			p, err := auth.Discover(ctx, a.httpClient(), a.s.issuerURL)
			if err != nil {
				return err
			}
			tokens := map[string]string{}
			for _, u := range demo.Users() {
				t, err := p.PasswordGrant(ctx, a.s.clientID, u, u, nil)
				if err != nil {
					return fmt.Errorf("sign in as %s at %s (is it the development provider?): %w", u, a.s.issuerURL, err)
				}
				tokens[u] = t.AccessToken
			}
			cc, err := a.dial("command service", a.s.commandAddr, nil)
			if err != nil {
				return err
			}
			qc, err := a.dial("query service", a.s.queryAddr, nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.o.Stderr, "Creating %d applications (seed %d, %d at a time)...\n", n, seed, concurrency)
			started := a.o.Now()
			apps, err := demo.Run(ctx, demo.Config{
				Applications: n, Seed: seed, Concurrency: concurrency, Timeout: a.s.timeout,
				Commands: loansv1.NewLoanCommandServiceClient(cc), Queries: loansv1.NewLoanQueryServiceClient(qc), Tokens: tokens,
			}, demo.Plan(n, seed))
			if err != nil {
				return err
			}
			res := demoResult{Seed: seed, Totals: demo.Summarize(apps), Applications: apps}
			failed := 0
			for _, app := range apps {
				if app.Error != "" {
					failed++
					fmt.Fprintf(a.o.Stderr, "loanctl: %s (%s, %s): %s\n", app.ID, app.Applicant, app.Outcome, a.commandErr(fmt.Errorf("%s", app.Error)))
				}
			}
			if err := a.printer().Value(res, func(w io.Writer) error {
				tw := output.NewTable(w)
				output.Row(tw, "OUTCOME", "APPLICATIONS", "AMOUNT")
				for _, t := range res.Totals {
					output.Row(tw, t.Outcome, t.Count, t.Amount)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, "\n%d applications in %s (seed %d)\n", len(apps), a.o.Now().Sub(started).Round(time.Millisecond), seed)
				return err
			}); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d applications failed", failed, len(apps))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&n, "applications", 12, "how many applications to create")
	f.Uint64Var(&seed, "seed", 0, "seed of the plan (default: a random one, printed)")
	f.IntVar(&concurrency, "concurrency", 4, "applications in flight at once")
	return cmd
}
