package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/rs/cors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ReasonRequestTooLarge is the ErrorInfo reason of a REST body over
// Config.MaxBodyBytes (HTTP 413).
const ReasonRequestTooLarge = "REQUEST_TOO_LARGE"

// corsMaxAge is how long, in seconds, a browser may reuse a preflight's answer.
const corsMaxAge = 600

// gateway is the REST side: grpc-gateway's mux behind the body limit, and
// behind CORS when origins are configured.
func gateway(ctx context.Context, cfg Config, conn *grpc.ClientConn) (http.Handler, error) {
	// routes has the same routes as mux, but its handlers only say they
	// matched: it tells which methods a path takes, for 405's Allow.
	routes := runtime.NewServeMux(
		runtime.WithMiddlewares(func(runtime.HandlerFunc) runtime.HandlerFunc {
			return func(w http.ResponseWriter, _ *http.Request, _ map[string]string) { w.WriteHeader(http.StatusNoContent) }
		}),
		runtime.WithRoutingErrorHandler(func(_ context.Context, _ *runtime.ServeMux, _ runtime.Marshaler, w http.ResponseWriter, _ *http.Request, code int) {
			w.WriteHeader(code)
		}),
	)
	mux := runtime.NewServeMux(append([]runtime.ServeMuxOption{
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrorHandler(routes)),
	}, cfg.GatewayOptions...)...)
	for _, m := range []*runtime.ServeMux{routes, mux} {
		if err := cfg.RegisterGateway(ctx, m, conn); err != nil {
			return nil, err
		}
	}
	h := limitBody(mux, cfg.MaxBodyBytes)
	if len(cfg.CORSAllowedOrigins) == 0 {
		return h, nil
	}
	return cors.New(cors.Options{
		AllowedOrigins: cfg.CORSAllowedOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost},
		AllowedHeaders: []string{"Authorization", "Content-Type", "X-Correlation-Id", "Traceparent"},
		MaxAge:         corsMaxAge,
	}).Handler(h), nil
}

// checkOrigins refuses what a browser never sends as an Origin (a path, a
// trailing slash) and wildcards, which would let any site in.
func checkOrigins(origins []string) error {
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || strings.Contains(o, "*") || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			!strings.EqualFold(o, u.Scheme+"://"+u.Host) {
			return fmt.Errorf("apiserver: CORS origin %q is not scheme://host[:port] (no path, no wildcard)", o)
		}
	}
	return nil
}

// limitBody reads the whole body before the gateway sees it, so that a body
// over limit is refused whether its length was announced or it came
// chunked, and nothing of it reaches the service.
func limitBody(mux *runtime.ServeMux, limit int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		var err error = &http.MaxBytesError{Limit: limit} // announced too large: refused unread
		if r.ContentLength <= limit {
			body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			refusal := status.Error(codes.InvalidArgument, "reading the request body: "+err.Error())
			if errors.As(err, &tooLarge) {
				refusal = &runtime.HTTPStatusError{
					HTTPStatus: http.StatusRequestEntityTooLarge,
					Err: Refusal(codes.ResourceExhausted, ReasonRequestTooLarge, fmt.Sprintf("the request body is over %d bytes", limit),
						map[string]string{"max_bytes": strconv.FormatInt(limit, 10)}),
				}
			}
			_, out := runtime.MarshalerForRequest(mux, r)
			errorHandler(r.Context(), mux, out, w, r, refusal)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		mux.ServeHTTP(w, r)
	})
}

// routingErrorHandler answers a known path called with the wrong method 405
// with Allow (grpc-gateway says 501, Unimplemented), the rest as
// grpc-gateway does.
func routingErrorHandler(routes *runtime.ServeMux) runtime.RoutingErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, code int) {
		if code != http.StatusMethodNotAllowed {
			runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, code)
			return
		}
		if allow := allowedMethods(routes, r.URL); allow != "" {
			w.Header().Set("Allow", allow)
		}
		errorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{
			HTTPStatus: code,
			Err:        status.Errorf(codes.Unimplemented, "%s is not allowed on %s", r.Method, r.URL.Path),
		})
	}
}

// allowedMethods lists the methods routes serves at u, as Allow says them.
func allowedMethods(routes *runtime.ServeMux, u *url.URL) string {
	var allowed []string
	for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := &probeWriter{}
		routes.ServeHTTP(probe, &http.Request{Method: method, URL: u, Header: http.Header{}})
		if probe.code == http.StatusNoContent {
			allowed = append(allowed, method)
		}
	}
	return strings.Join(allowed, ", ")
}

type probeWriter struct{ code int }

func (p *probeWriter) Header() http.Header         { return http.Header{} }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(code int)        { p.code = code }
