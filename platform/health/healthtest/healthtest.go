// Package healthtest follows a process's gRPC health from a test.
package healthtest

import (
	"context"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Status is a serving status as the health service reports it.
type Status = healthpb.HealthCheckResponse_ServingStatus

// Watch opens a health Watch stream on service ("" for the whole server)
// and delivers what it sends, until the test ends.
func Watch(t testing.TB, h healthpb.HealthClient, service string) <-chan Status {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	stream, err := h.Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan Status, 16)
	go func() {
		defer close(ch)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			ch <- resp.GetStatus()
		}
	}()
	return ch
}

// Next fails the test unless the next status on ch, within timeout, is want.
func Next(t testing.TB, ch <-chan Status, want Status, timeout time.Duration) {
	t.Helper()
	select {
	case got, ok := <-ch:
		if !ok || got != want {
			t.Fatalf("the health stream sent %v (open: %v); want %v", got, ok, want)
		}
	case <-time.After(timeout):
		t.Fatalf("the health stream never sent %v", want)
	}
}
