// Command commands-bench measures the command service: RequestLoan then
// SubmitLoanRequest for new applications from many concurrent gRPC clients,
// through the whole write side (gRPC, authentication, use cases, event
// store, process managers issuing the reviews), beside the event store's raw
// append rate measured in the same run on the same store.
//
// The commands run three ways, interleaved run by run on three services
// sharing the store, so that the cost of authentication is a ratio measured
// in one run: without verification (every call trusted as one applicant),
// verifying RS256 access tokens as deployed (the verified-token cache on:
// each client's token is checked once, then recognised), and verifying the
// signature on every call (cache off: the cost when tokens change often).
// Two more services measure telemetry's cost the same way: one with no
// metrics and no tracing, one with metrics and every call traced (sampled
// at 100 %, spans recorded and dropped: no exporter).
//
//	go run ./command-service/cmd/commands-bench [-clients 64] [-duration 5s] [-runs 3]
//
// With -amqp-url it compares transports instead (make bench-amqp): the same
// commands from the same number of clients over gRPC and over RabbitMQ
// (each answered on RabbitMQ's direct reply-to), on one service verifying
// tokens as deployed.
//
//	go run ./command-service/cmd/commands-bench -amqp-url amqp://guest:guest@127.0.0.1:5672/
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	amqpport "github.com/loanflow/loans/command-service/internal/ports/amqp"
	"github.com/loanflow/loans/command-service/internal/service"
	"github.com/loanflow/loans/devstack/eventstore"
	loansv1 "github.com/loanflow/loans/gen/loans/v1"
	"github.com/loanflow/loans/platform/auth"
	"github.com/loanflow/loans/platform/auth/authtest"
	"github.com/loanflow/loans/platform/rabbit"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "commands-bench:", err)
		os.Exit(1)
	}
}

type config struct {
	clients  int
	duration time.Duration
	runs     int
	dir      string
}

func run() error {
	var cfg config
	flag.IntVar(&cfg.clients, "clients", 64, "concurrent gRPC clients (and raw appenders)")
	flag.DurationVar(&cfg.duration, "duration", 5*time.Second, "length of each timed run")
	flag.IntVar(&cfg.runs, "runs", 3, "runs per figure (median, min and max are reported)")
	flag.StringVar(&cfg.dir, "dir", "", "directory for the store's data (default: a temporary one)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the command runs to this file")
	amqpURL := flag.String("amqp-url", "", "compare gRPC with RabbitMQ on this broker instead (loopback only)")
	flag.Parse()

	dir := cfg.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "commands-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	es, err := eventstore.New(eventstore.Config{Dir: dir, Logger: quiet})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = es.Serve(lis) }()
	defer es.Shutdown(context.Background())
	connString := eventstore.ConnectionString(lis.Addr(), false)

	ctx := context.Background()
	// A local issuer signing RS256 tokens, as most issuers do; its keys are
	// fetched over loopback HTTP like a real issuer's.
	issuer := authtest.New()
	defer issuer.Close()
	issuer.UseKey(authtest.NewRSAKey("bench-rs256"))
	cached, err := auth.NewVerifier(auth.Config{IssuerURL: issuer.URL, Audience: authtest.Audience})
	if err != nil {
		return err
	}
	uncached, err := auth.NewVerifier(auth.Config{IssuerURL: issuer.URL, Audience: authtest.Audience, CacheSize: -1})
	if err != nil {
		return err
	}
	if *amqpURL != "" {
		return compareTransports(ctx, connString, *amqpURL, issuer, cached, cfg, *cpuProfile)
	}
	tracing := installSwitchableTracing()
	modes := []mode{
		{name: "no authentication", authenticator: trustEveryone{}},
		{name: "tokens verified (cache on)", authenticator: cached},
		{name: "tokens verified (cache off)", authenticator: uncached},
		{name: "telemetry off (no metrics)", authenticator: cached, withoutMetrics: true},
		{name: "metrics + tracing at 100 %", authenticator: cached, traced: true},
	}
	for i := range modes {
		// One set of process managers reviews every submission, whichever
		// service took it, so that each mode carries the same load.
		svc, err := service.Start(ctx, service.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", EventStore: connString,
			Logger: quiet, ProcessManagers: i == 0, Authenticator: modes[i].authenticator, WithoutMetrics: modes[i].withoutMetrics})
		if err != nil {
			return err
		}
		defer svc.Shutdown(context.Background())
		modes[i].addr = svc.GRPCAddr()
	}

	fmt.Printf("commands-bench: the write side end to end beside the raw event store\n")
	fmt.Printf("date      %s\nmachine   %s/%s, %d CPUs usable (GOMAXPROCS %d); %s\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("settings  %d clients, %d runs of %s, store on disk in %s (fsync on), process managers running, RS256 tokens\n\n", cfg.clients, cfg.runs, cfg.duration, dir)

	raw, err := rawAppends(ctx, connString, cfg)
	if err != nil {
		return err
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return err
	}
	err = commands(ctx, issuer, modes, cfg, tracing)
	stopProfile()
	if err != nil {
		return err
	}
	none, cmds, everyCall := modes[0].series, modes[1].series, modes[2].series
	telemetryOff, telemetryOn := modes[3].series, modes[4].series

	fmt.Printf("\nSUMMARY (median of %d runs, min-max)\n", cfg.runs)
	fmt.Printf("  raw appends (official client, %d writers, 1 event each)  %8.0f events/s  (%.0f-%.0f)\n", cfg.clients, median(raw.rate), slices.Min(raw.rate), slices.Max(raw.rate))
	for _, m := range modes {
		fmt.Printf("  commands, %-28s %8.0f commands/s (%.0f-%.0f)  p50 %.2f ms  p99 %.2f ms\n", m.name, median(m.series.rate),
			slices.Min(m.series.rate), slices.Max(m.series.rate), median(m.series.p50), median(m.series.p99))
	}
	fmt.Printf("  commands as deployed (RequestLoan + SubmitLoanRequest)  %8.0f commands/s  %s\n", median(cmds.rate), verdict(median(cmds.rate) >= 3000, "target >= 3,000"))
	fmt.Printf("  command latency p50 %.2f ms, p99 %.2f ms (medians)                           %s\n", median(cmds.p50), median(cmds.p99), verdict(median(cmds.p99) <= 25, "target p99 <= 25 ms"))
	ratio := median(cmds.rate) / median(raw.rate)
	fmt.Printf("  commands / raw appends  %.2f                                                 %s\n", ratio, verdict(ratio >= 0.5, "target >= 0.50"))
	cost := 1 - median(cmds.rate)/median(none.rate)
	fmt.Printf("  cost of token verification (cache on)   %5.1f %% of the rate, p99 %+.2f ms    %s\n", 100*cost, median(cmds.p99)-median(none.p99), verdict(cost <= 0.10, "target <= 10 %"))
	fmt.Printf("  cost of token verification (cache off)  %5.1f %% of the rate, p99 %+.2f ms\n", 100*(1-median(everyCall.rate)/median(none.rate)), median(everyCall.p99)-median(none.p99))
	telemetryCost := 1 - median(telemetryOn.rate)/median(telemetryOff.rate)
	fmt.Printf("  cost of metrics + tracing (100 %% sampled, no exporter) vs telemetry off  %5.1f %% of the rate, p99 %+.2f ms  %s\n",
		100*telemetryCost, median(telemetryOn.p99)-median(telemetryOff.p99), verdict(telemetryCost <= 0.10, "target <= 10 %"))
	fmt.Printf("  cost of metrics alone (as deployed without OTLP) vs telemetry off        %5.1f %% of the rate\n",
		100*(1-median(cmds.rate)/median(telemetryOff.rate)))
	return nil
}

// mode is one way of authenticating or sending the commands.
type mode struct {
	name          string
	authenticator auth.Authenticator
	addr          string // the service's gRPC address, for the gRPC modes
	// withoutMetrics and traced set the service's telemetry for the mode.
	withoutMetrics, traced bool
	// send, when set, sends the commands instead of the gRPC clients.
	send   func(ctx context.Context, w int, token string, id string) error
	series series
}

// trustEveryone stands for no authentication: every call is one applicant.
// It exists only here, in-process: the services have no such setting.
type trustEveryone struct{}

func (trustEveryone) Authenticate(context.Context, string) (auth.Principal, error) {
	return auth.NewPrincipal("bench", "bench", auth.RoleApplicant), nil
}

func verdict(ok bool, target string) string {
	if ok {
		return "PASS (" + target + ")"
	}
	return "BELOW (" + target + ")"
}

type series struct{ rate, p50, p99 []float64 }

func (s *series) add(n int, elapsed time.Duration, lat []time.Duration) {
	slices.Sort(lat)
	s.rate = append(s.rate, float64(n)/elapsed.Seconds())
	s.p50 = append(s.p50, ms(percentile(lat, 50)))
	s.p99 = append(s.p99, ms(percentile(lat, 99)))
}

// closedLoop runs op from n goroutines for d and collects each call's latency.
func closedLoop(n int, d time.Duration, op func(worker int) (calls int, err error)) (int, time.Duration, []time.Duration, error) {
	var (
		wg    sync.WaitGroup
		total atomic.Int64
		mu    sync.Mutex
		lat   []time.Duration
		first error
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for w := range n {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				calls, err := op(w)
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
				per := time.Since(t) / time.Duration(calls)
				for range calls {
					mine = append(mine, per)
				}
				total.Add(int64(calls))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return int(total.Load()), time.Since(start), lat, first
}

func rawAppends(ctx context.Context, connString string, cfg config) (series, error) {
	esCfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		return series{}, err
	}
	esCfg.Logger = esdb.NoopLogging()
	client, err := esdb.NewClient(esCfg)
	if err != nil {
		return series{}, err
	}
	defer client.Close()
	var s series
	data := []byte(`{"loanApplicationUuid":"00000000-0000-0000-0000-000000000000","amount":1000,"duration":12,"applicant":"bench"}`)
	for r := range cfg.runs {
		n, elapsed, lat, err := closedLoop(cfg.clients, cfg.duration, func(w int) (int, error) {
			_, err := client.AppendToStream(ctx, fmt.Sprintf("raw-%d-%d", r, w), esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}},
				esdb.EventData{EventType: "RawAppend", ContentType: esdb.ContentTypeJson, Data: data})
			return 1, err
		})
		if err != nil {
			return s, err
		}
		s.add(n, elapsed, lat)
		fmt.Printf("raw appends     run %d/%d: %7.0f events/s   p50 %.2f ms  p99 %.2f ms\n", r+1, cfg.runs, s.rate[r], s.p50[r], s.p99[r])
	}
	return s, nil
}

// commands runs the modes' command runs interleaved (run 1 of each mode,
// then run 2, …, each round starting with another mode), after a warm-up
// round that is not counted, so that drift of the machine, growth of the
// store and the process managers' backlog weigh on every mode alike. Each
// client has its own access token.
func commands(ctx context.Context, issuer *authtest.Issuer, modes []mode, cfg config, tracing *switchableTracing) error {
	tokens := make([]string, cfg.clients)
	for w := range tokens {
		tokens[w] = issuer.Mint(fmt.Sprintf("applicant-%d", w), auth.RoleApplicant)
	}
	for i, m := range modes {
		if m.send != nil {
			continue
		}
		conn, err := grpc.NewClient(m.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		modes[i].send = grpcSender(loansv1.NewLoanCommandServiceClient(conn))
	}
	for r := -1; r < cfg.runs; r++ {
		for k := range modes {
			i := (max(r, 0) + k) % len(modes)
			m := &modes[i]
			if tracing != nil {
				tracing.set(m.traced)
			}
			d := cfg.duration
			if r < 0 {
				d = min(d, time.Second) // warm-up
			}
			n, elapsed, lat, err := closedLoop(cfg.clients, d, func(w int) (int, error) {
				if err := m.send(ctx, w, tokens[w], uuid.NewString()); err != nil {
					return 0, fmt.Errorf("%s: %w", m.name, err)
				}
				return 2, nil
			})
			if err != nil {
				return err
			}
			if r < 0 {
				continue
			}
			m.series.add(n, elapsed, lat)
			fmt.Printf("commands        run %d/%d: %7.0f commands/s p50 %.2f ms  p99 %.2f ms  (%s)\n", r+1, cfg.runs,
				m.series.rate[r], m.series.p50[r], m.series.p99[r], m.name)
		}
	}
	return nil
}

// grpcSender sends RequestLoan then SubmitLoanRequest over gRPC.
func grpcSender(c loansv1.LoanCommandServiceClient) func(ctx context.Context, w int, token, id string) error {
	return func(ctx context.Context, _ int, token, id string) error {
		ctx = metadata.AppendToOutgoingContext(ctx, auth.HeaderAuthorization, "Bearer "+token)
		if _, err := c.RequestLoan(ctx, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: 1000, Duration: 12}); err != nil {
			return fmt.Errorf("RequestLoan: %w", err)
		}
		if _, err := c.SubmitLoanRequest(ctx, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id}); err != nil {
			return fmt.Errorf("SubmitLoanRequest: %w", err)
		}
		return nil
	}
}

// compareTransports runs the same commands over gRPC and over RabbitMQ, on
// one service (process managers running, tokens verified as deployed),
// interleaved run by run.
func compareTransports(ctx context.Context, connString, amqpURL string, issuer *authtest.Issuer, verifier auth.Authenticator, cfg config, cpuProfile string) error {
	if err := rabbit.Validate(amqpURL); err != nil {
		return err
	}
	probe, err := rabbit.Dial(amqpURL, "commands-bench-probe")
	if err != nil {
		fmt.Printf("commands-bench: SKIPPED: no RabbitMQ answers at %s (%v)\n", rabbit.Redact(amqpURL), err)
		return nil
	}
	_ = probe.Close()
	name := fmt.Sprintf("bench.loans.commands-%d", time.Now().UnixNano())
	topology := amqpport.Topology{Exchange: name, Queue: name, DeadLetterExchange: name + ".dlx", DeadLetterQueue: name + ".dead"}
	defer deleteTopology(amqpURL, topology)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := service.Start(ctx, service.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", EventStore: connString,
		Logger: quiet, ProcessManagers: true, Authenticator: verifier,
		AMQP: amqpport.Config{URL: amqpURL, Name: "commands-bench-consumer", Topology: topology, Prefetch: max(cfg.clients, 1)}})
	if err != nil {
		return err
	}
	defer svc.Shutdown(context.Background())
	for deadline := time.Now().Add(30 * time.Second); !svc.AMQPConnected(); {
		if time.Now().After(deadline) {
			return fmt.Errorf("the consumer did not connect to %s in 30 s", rabbit.Redact(amqpURL))
		}
		time.Sleep(10 * time.Millisecond) // a start-up wait in a benchmark, not a test
	}
	senders, err := newAMQPClients(amqpURL, topology.Exchange, cfg.clients)
	if err != nil {
		return err
	}
	defer senders.close()
	echoes, err := startEcho(amqpURL, max(cfg.clients, 1))
	if err != nil {
		return err
	}
	defer echoes.close()
	echoSenders, err := newAMQPClients(amqpURL, "", cfg.clients)
	if err != nil {
		return err
	}
	defer echoSenders.close()

	fmt.Printf("commands-bench: the same commands over gRPC and over RabbitMQ\n")
	fmt.Printf("date      %s\nmachine   %s/%s, %d CPUs usable (GOMAXPROCS %d); %s\n", time.Now().UTC().Format(time.RFC3339), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	fmt.Printf("settings  %d clients (closed loop: each waits for its reply), %d runs of %s, store on disk (fsync on), process managers running,\n", cfg.clients, cfg.runs, cfg.duration)
	fmt.Printf("          RS256 tokens verified (cache on), RabbitMQ %s: quorum queue, prefetch %d, direct reply-to;\n", rabbit.Redact(amqpURL), cfg.clients)
	fmt.Printf("          the echo: the same senders and messages to a quorum queue whose consumer answers at once (the broker's ceiling)\n\n")
	modes := []mode{
		{name: "gRPC", addr: svc.GRPCAddr()},
		{name: "RabbitMQ (with replies)", send: func(ctx context.Context, w int, token, id string) error {
			if err := senders.call(ctx, w, "RequestLoan", token, &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: 1000, Duration: 12}); err != nil {
				return err
			}
			return senders.call(ctx, w, "SubmitLoanRequest", token, &loansv1.SubmitLoanRequestRequest{LoanApplicationUuid: id})
		}},
		{name: "RabbitMQ echo (no command)", send: func(ctx context.Context, w int, token, id string) error {
			req := &loansv1.RequestLoanRequest{LoanApplicationUuid: id, Amount: 1000, Duration: 12}
			if err := echoSenders.call(ctx, w, echoes.queue, token, req); err != nil {
				return err
			}
			return echoSenders.call(ctx, w, echoes.queue, token, req)
		}},
	}
	stopProfile, err := startCPUProfile(cpuProfile)
	if err != nil {
		return err
	}
	err = commands(ctx, issuer, modes, cfg, nil)
	stopProfile()
	if err != nil {
		return err
	}
	grpcRate, amqpRate := median(modes[0].series.rate), median(modes[1].series.rate)
	fmt.Printf("\nSUMMARY (median of %d runs, min-max)\n", cfg.runs)
	for _, m := range modes {
		fmt.Printf("  commands over %-24s %8.0f commands/s (%.0f-%.0f)  p50 %.2f ms  p99 %.2f ms\n", m.name, median(m.series.rate),
			slices.Min(m.series.rate), slices.Max(m.series.rate), median(m.series.p50), median(m.series.p99))
	}
	ratio := amqpRate / grpcRate
	fmt.Printf("  RabbitMQ / gRPC  %.2f                                      %s\n", ratio, verdict(ratio >= 0.5, "target >= 0.50"))
	fmt.Printf("  RabbitMQ / the broker's own echo  %.2f  (the share of the broker's request/reply ceiling on this machine)\n",
		amqpRate/median(modes[2].series.rate))
	return nil
}

// startCPUProfile profiles the process into path until the returned
// function is called (nothing when path is empty).
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p/100*float64(len(sorted))+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
