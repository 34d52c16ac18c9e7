package health

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// The probes' paths, as Kubernetes names them.
const (
	LivenessPath  = "/healthz"
	ReadinessPath = "/readyz"
)

// Liveness is the body of GET /healthz.
type Liveness struct {
	Status string `json:"status"` // always "alive": an answer is the point
}

// Handler answers GET (and HEAD) /healthz and /readyz and hands every other
// request to next. The probes need no token and no CORS: they are answered
// before anything of next runs, so an orchestrator or load balancer can
// call them as they are.
//
//	/healthz  200 {"status":"alive"}
//	/readyz   200 or 503 {"status":"ready","checks":[{"name":"readmodel","ok":true,"since":"…"}]}
func (r *Readiness) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != LivenessPath && req.URL.Path != ReadinessPath {
			next.ServeHTTP(w, req)
			return
		}
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, req.Method+" is not allowed on "+req.URL.Path, http.StatusMethodNotAllowed)
			return
		}
		code, body := http.StatusOK, any(Liveness{Status: "alive"})
		if req.URL.Path == ReadinessPath {
			rep := r.Report()
			body = rep
			if !rep.Ready() {
				code = http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json")
		// A cached answer would be a stale one.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(body) // a HEAD's body is dropped by net/http
	})
}

// Server serves the probes alone, for a process without an API server (the
// projector).
type Server struct {
	readiness *Readiness
	http      *http.Server
	lis       net.Listener
	done      chan struct{}
}

// Serve binds addr ("127.0.0.1:0": any free port) and serves /healthz and
// /readyz of r there (404 for anything else) until Shutdown.
func Serve(addr string, r *Readiness) (*Server, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{
		readiness: r,
		lis:       lis,
		done:      make(chan struct{}),
		http: &http.Server{
			Handler:           r.Handler(http.NotFoundHandler()),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       5 * time.Second,
			WriteTimeout:      5 * time.Second,
		},
	}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("health: probe server stopped", "addr", addr, "error", err)
		}
	}()
	r.logger.Info("health: serving probes", slog.String("addr", lis.Addr().String()))
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// Shutdown makes the process not ready (if Readiness.Shutdown was not
// called already) and stops serving once the probes in flight are
// answered, or when ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.readiness.Shutdown()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.http.Close())
	}
	<-s.done
	return err
}
