// Package cli is loanctl's command tree (cobra): the settings every command
// shares, and one file per group of commands.
package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"

	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/loanctl/internal/client"
	"github.com/loanflow/loans/loanctl/internal/config"
	"github.com/loanflow/loans/loanctl/internal/output"
)

// Options are what loanctl runs with: main gives the process's own, tests
// their buffers and environment.
type Options struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// OpenBrowser shows the sign-in page of `loanctl login` once its
	// address is printed. Nil: xdg-open (open on macOS), when present.
	OpenBrowser func(ctx context.Context, url string) error
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Exit statuses.
const (
	ExitOK          = 0
	ExitFailure     = 1 // a refusal, an unreachable service, a failed login
	ExitUsage       = 2 // a command line loanctl does not understand
	ExitInterrupted = 130
)

// Execute runs loanctl and returns its exit status. Errors are printed as
// one line on stderr, never with a stack.
func Execute(ctx context.Context, o Options) int {
	if o.Getenv == nil {
		o.Getenv = func(string) string { return "" }
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Stdin == nil {
		o.Stdin = strings.NewReader("")
	}
	a := &app{o: o}
	defer a.close()
	root := a.root()
	root.SetArgs(o.Args)
	root.SetIn(o.Stdin)
	root.SetOut(o.Stdout)
	root.SetErr(o.Stderr)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return ExitOK
	case ctx.Err() != nil:
		fmt.Fprintln(o.Stderr, "loanctl: interrupted")
		return ExitInterrupted
	case isUsage(err):
		fmt.Fprintln(o.Stderr, "loanctl:", err)
		fmt.Fprintln(o.Stderr, "Run 'loanctl --help' for usage.")
		return ExitUsage
	default:
		fmt.Fprintln(o.Stderr, "loanctl:", err)
		return ExitFailure
	}
}

// usageError is a command line loanctl cannot run: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// isUsage recognises cobra's own usage errors too, which it returns as
// plain errors: an unknown command, a required flag missing.
func isUsage(err error) bool {
	var u usageError
	if errors.As(err, &u) {
		return true
	}
	msg := err.Error()
	return strings.HasPrefix(msg, "unknown command") || strings.HasPrefix(msg, "required flag") ||
		strings.HasPrefix(msg, "if any flags in the group") || strings.Contains(msg, "unknown flag") ||
		strings.HasPrefix(msg, "invalid argument")
}

// args wraps a cobra argument check so that its failure is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// settings are the persistent flags: each may also come from the
// environment (config.EnvName) or the configuration file.
type settings struct {
	configFile         string
	commandAddr        string
	queryAddr          string
	issuerURL          string
	clientID           string
	output             string
	user               string
	tls                bool
	caFile             string
	insecureSkipVerify bool
	timeout            time.Duration
}

// app is one run of loanctl.
type app struct {
	o   Options
	s   settings
	dir string // loanctl's folder: token cache, state, config file
	out output.Format
	// issuer is the HTTP client of the calls to the issuer (discovery,
	// tokens, revocation).
	issuer *http.Client

	mu           sync.Mutex
	conns        []*grpc.ClientConn
	commandsConn loansv1.LoanCommandServiceClient
	queriesConn  loansv1.LoanQueryServiceClient
	tokenMu      sync.Mutex
	token        *tokenSource
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "loanctl",
		Short: "loanctl drives the loan platform: log in, send commands, read applications",
		Long: `loanctl drives the loan platform over gRPC: it logs in with the lender's OpenID provider,
sends the commands (request, submit, approve, deny, sign, reject) and runs the queries
(get, list, history, at, stats, watch).

Every flag below may also be set in the environment as LOANCTL_<FLAG> (LOANCTL_COMMAND_ADDR,
LOANCTL_OUTPUT, ...) or in the configuration file (<config dir>/loanctl/config.yaml, or --config)
under the flag's name. A flag wins over the environment, which wins over the file. The defaults
are those of 'make run'.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return a.configure(cmd) },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.s.configFile, "config", "", "configuration file (default <config dir>/loanctl/config.yaml)")
	pf.StringVar(&a.s.commandAddr, "command-addr", config.DefaultCommandAddr, "command service gRPC address")
	pf.StringVar(&a.s.queryAddr, "query-addr", config.DefaultQueryAddr, "query service gRPC address")
	pf.StringVar(&a.s.issuerURL, "issuer-url", config.DefaultIssuerURL, "OpenID Connect issuer")
	pf.StringVar(&a.s.clientID, "client-id", config.DefaultClientID, "OAuth client ID of loanctl at the issuer")
	pf.StringVarP(&a.s.output, "output", "o", string(output.Table), "output format: table, json or yaml")
	pf.StringVar(&a.s.user, "user", "", "act as this logged-in user (default: the last one logged in at the issuer)")
	pf.BoolVar(&a.s.tls, "tls", false, "connect to the services with TLS")
	pf.StringVar(&a.s.caFile, "ca-file", "", "PEM file of the certificates to trust (with --tls): the services' instead of the system's, the issuer's beside them")
	pf.BoolVar(&a.s.insecureSkipVerify, "insecure-skip-verify", false, "with --tls, accept ANY server certificate (unsafe: for test servers only)")
	pf.DurationVar(&a.s.timeout, "timeout", 30*time.Second, "deadline of each call")
	pf.VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" {
			f.Usage += " (" + config.EnvName("config") + ")"
			return
		}
		f.Usage += " (" + config.EnvName(f.Name) + ")"
	})
	_ = root.RegisterFlagCompletionFunc("output", fixedCompletion("table", "json", "yaml"))

	root.AddGroup(
		&cobra.Group{ID: "auth", Title: "Signing in:"},
		&cobra.Group{ID: "commands", Title: "Commands (change applications):"},
		&cobra.Group{ID: "queries", Title: "Queries (read applications):"},
		&cobra.Group{ID: "dev", Title: "Development:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("auth", a.loginCmd(), a.logoutCmd(), a.whoamiCmd())
	add("commands", a.requestCmd(), a.submitCmd(), a.approveCmd(), a.denyCmd(), a.signCmd(), a.rejectCmd())
	add("queries", a.getCmd(), a.listCmd(), a.historyCmd(), a.atCmd(), a.statsCmd(), a.watchCmd())
	add("dev", a.demoCmd())
	return root
}

func fixedCompletion(values ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// configure fills every persistent flag not given on the command line from
// the environment, else from the configuration file.
func (a *app) configure(cmd *cobra.Command) error {
	dir, err := config.Dir(a.o.Getenv)
	if err != nil {
		return err
	}
	a.dir = dir
	flags := cmd.Root().PersistentFlags()
	path, explicit := a.s.configFile, flags.Changed("config")
	if !explicit {
		if p := a.o.Getenv(config.EnvName("config")); p != "" {
			path, explicit = p, true
		} else {
			path = dir + "/config.yaml"
		}
	}
	file, err := config.ReadFile(path, explicit)
	if err != nil {
		return err
	}
	var errs []error
	for key := range file {
		if f := flags.Lookup(key); f == nil || key == "config" {
			errs = append(errs, fmt.Errorf("configuration file %s: unknown setting %q", path, key))
		}
	}
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Name == "config" || f.Changed {
			return
		}
		v, from := a.o.Getenv(config.EnvName(f.Name)), config.EnvName(f.Name)
		if v == "" {
			var ok bool
			if v, ok = file[f.Name]; !ok {
				return
			}
			from = path
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s %q: %w", from, f.Name, v, err))
		}
	})
	if err := errors.Join(errs...); err != nil {
		return usageError{err}
	}
	if a.out, err = output.ParseFormat(a.s.output); err != nil {
		return usageError{err}
	}
	if !a.s.tls && (a.s.caFile != "" || a.s.insecureSkipVerify) {
		return usagef("--ca-file and --insecure-skip-verify need --tls")
	}
	a.s.issuerURL = strings.TrimSuffix(a.s.issuerURL, "/")
	a.issuer = &http.Client{Timeout: a.s.timeout}
	if a.s.caFile != "" {
		// The issuer may be the lender's (signed by the same private CA as
		// the services) or a public one: trust both.
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if pool, err = client.CertPool(pool, a.s.caFile); err != nil {
			return err
		}
		transport := http.DefaultTransport.(*http.Transport).Clone()
		transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
		a.issuer.Transport = transport
	}
	return nil
}

func (a *app) printer() output.Printer { return output.Printer{W: a.o.Stdout, Format: a.out} }

func (a *app) warnf(format string, args ...any) {
	fmt.Fprintf(a.o.Stderr, "loanctl: warning: "+format+"\n", args...)
}

func (a *app) close() {
	for _, c := range a.conns {
		_ = c.Close()
	}
}

// dial connects to a service, warning about what puts the token at risk.
func (a *app) dial(name, addr string, token client.TokenFunc) (*grpc.ClientConn, error) {
	if a.s.tls && a.s.insecureSkipVerify {
		a.warnf("--insecure-skip-verify: the %s's certificate is NOT checked; anyone on the way can read your token and data", name)
	}
	if !a.s.tls && !client.IsLoopback(addr) {
		a.warnf("the %s at %s is reached WITHOUT TLS: the token travels in clear text (use --tls)", name, addr)
	}
	conn, err := client.Dial(addr, client.TLS{Enabled: a.s.tls, CAFile: a.s.caFile, InsecureSkipVerify: a.s.insecureSkipVerify}, token)
	if err != nil {
		return nil, err
	}
	a.conns = append(a.conns, conn)
	return conn, nil
}

// commands connects to the command service once the user's token is at
// hand: a missing or expired login is said before any connection fails.
func (a *app) commands(ctx context.Context) (loansv1.LoanCommandServiceClient, error) {
	if _, err := a.tokens().get(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.commandsConn == nil {
		conn, err := a.dial("command service", a.s.commandAddr, a.tokens().get)
		if err != nil {
			return nil, err
		}
		a.commandsConn = loansv1.NewLoanCommandServiceClient(conn)
	}
	return a.commandsConn, nil
}

// queries connects to the query service as commands does.
func (a *app) queries(ctx context.Context) (loansv1.LoanQueryServiceClient, error) {
	if _, err := a.tokens().get(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.queriesConn == nil {
		conn, err := a.dial("query service", a.s.queryAddr, a.tokens().get)
		if err != nil {
			return nil, err
		}
		a.queriesConn = loansv1.NewLoanQueryServiceClient(conn)
	}
	return a.queriesConn, nil
}

func (a *app) commandErr(err error) error {
	return client.Describe(err, "command service", a.s.commandAddr)
}

func (a *app) queryErr(err error) error {
	return client.Describe(err, "query service", a.s.queryAddr)
}

// call is a context with the call deadline.
func (a *app) call(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.s.timeout)
}

// oneOf checks a flag's value against a fixed set.
func oneOf(flag, value string, allowed ...string) error {
	if slices.Contains(allowed, value) {
		return nil
	}
	return usagef("--%s %q: want one of %s", flag, value, strings.Join(allowed, ", "))
}
