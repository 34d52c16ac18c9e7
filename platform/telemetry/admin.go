package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/loanflow/loans/platform/health"
)

// Admin is a process's admin listener: /metrics, /healthz, /readyz and
// /debug/pprof/. It carries no token check: bind it to loopback or a port
// only the monitoring network reaches (deploy/k8s's NetworkPolicy does).
type Admin struct {
	srv    *http.Server
	lis    net.Listener
	done   chan struct{}
	logger *slog.Logger
}

// ServeAdmin binds addr and serves reg's metrics, r's probes and pprof there
// until Shutdown. Shutdown of the Admin does not shut r down: the process
// does, when it stops.
func ServeAdmin(addr string, reg *prometheus.Registry, r *health.Readiness, logger *slog.Logger) (*Admin, error) {
	if logger == nil {
		logger = slog.Default()
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn), Registry: reg, Timeout: 10 * time.Second})))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	a := &Admin{lis: lis, done: make(chan struct{}), logger: logger, srv: &http.Server{
		Handler:           r.Handler(mux),
		ReadHeaderTimeout: 5 * time.Second,
		// A CPU profile takes 30 s by default (?seconds=N for more).
		WriteTimeout: 2 * time.Minute,
	}}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("telemetry: admin listener stopped", "addr", addr, "error", err)
		}
	}()
	logger.Info("telemetry: admin listener", "addr", lis.Addr().String(), "metrics", "http://"+lis.Addr().String()+"/metrics")
	return a, nil
}

// Addr is the bound address.
func (a *Admin) Addr() string { return a.lis.Addr().String() }

// Shutdown stops serving once the requests in flight are answered, or when
// ctx ends.
func (a *Admin) Shutdown(ctx context.Context) error {
	err := a.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, a.srv.Close())
	}
	<-a.done
	return err
}

// Process is the admin side of a process without an API server (the
// projector, the publisher): its readiness and its admin listener.
type Process struct {
	Readiness *health.Readiness
	admin     *Admin
}

// ServeProcess serves such a process's admin listener: readiness from its
// checks (run as hc says: loans_ready and the probes), its collectors, Go's
// and the process's metrics, pprof.
func ServeProcess(addr string, hc health.Config, checks []health.Check, collectors ...prometheus.Collector) (*Process, error) {
	r, err := health.Start(hc, checks...)
	if err != nil {
		return nil, err
	}
	reg, err := NewProcessRegistry(r, collectors...)
	if err != nil {
		r.Shutdown()
		return nil, fmt.Errorf("metrics: %w", err)
	}
	admin, err := ServeAdmin(addr, reg, r, hc.Logger)
	if err != nil {
		r.Shutdown()
		return nil, err
	}
	return &Process{Readiness: r, admin: admin}, nil
}

// Addr is the admin listener's address.
func (p *Process) Addr() string { return p.admin.Addr() }

// Stop marks the process not ready, then closes the listener (bounded: 5 s).
func (p *Process) Stop() {
	p.Readiness.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = p.admin.Shutdown(ctx)
}
