package apiserver

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/loanflow/loans/platform/health"
)

// healthService is grpc.health.v1 read straight from the Readiness that
// /readyz shows: grpc-go's own server keeps a status per name, set one at a
// time, so "" and the service name could disagree for a moment.
type healthService struct {
	healthpb.UnimplementedHealthServer
	ready *health.Readiness
	names map[string]bool // "" and the service's name
	// stopping is closed at shutdown: Watch streams send NOT_SERVING and
	// end, so they do not hold the graceful stop until its deadline.
	stopping chan struct{}
}

func servingStatus(ready bool) healthpb.HealthCheckResponse_ServingStatus {
	if ready {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

func (h *healthService) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if !h.names[req.GetService()] {
		return nil, status.Errorf(codes.NotFound, "unknown service %q", req.GetService())
	}
	return &healthpb.HealthCheckResponse{Status: servingStatus(h.ready.Ready())}, nil
}

func (h *healthService) List(context.Context, *healthpb.HealthListRequest) (*healthpb.HealthListResponse, error) {
	st := &healthpb.HealthCheckResponse{Status: servingStatus(h.ready.Ready())}
	out := &healthpb.HealthListResponse{Statuses: map[string]*healthpb.HealthCheckResponse{}}
	for name := range h.names {
		out.Statuses[name] = st
	}
	return out, nil
}

// Watch sends the status now and at each change, as the protocol asks: a
// service it does not know is SERVICE_UNKNOWN, and stays so.
func (h *healthService) Watch(req *healthpb.HealthCheckRequest, stream grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	ctx := stream.Context()
	if !h.names[req.GetService()] {
		if err := stream.Send(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVICE_UNKNOWN}); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-h.stopping:
			return status.Error(codes.Unavailable, "the server is shutting down")
		}
	}
	// Only the latest readiness matters: a full channel is replaced.
	updates := make(chan bool, 1)
	unsubscribe := h.ready.Subscribe(func(ready bool) {
		select {
		case <-updates:
		default:
		}
		updates <- ready
	})
	defer unsubscribe()
	last := healthpb.HealthCheckResponse_UNKNOWN
	send := func(st healthpb.HealthCheckResponse_ServingStatus) error {
		if st == last {
			return nil
		}
		last = st
		return stream.Send(&healthpb.HealthCheckResponse{Status: st})
	}
	for {
		select {
		case ready := <-updates:
			if err := send(servingStatus(ready)); err != nil {
				return err
			}
		case <-h.stopping:
			if err := send(healthpb.HealthCheckResponse_NOT_SERVING); err != nil {
				return err
			}
			return status.Error(codes.Unavailable, "the server is shutting down")
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}
