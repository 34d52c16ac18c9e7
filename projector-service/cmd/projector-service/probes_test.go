package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// With -health-addr, `run` serves liveness and readiness probes: ready once
// it follows $all live.
func TestMain_Probes(t *testing.T) {
	s := newService(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	_ = lis.Close() // Main listens there; another process taking it meanwhile would fail the test loudly
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, append(s.args("run"), "-health-addr", addr), io.Discard, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Errorf("run did not stop within %v", wait)
		}
	})
	client := &http.Client{Timeout: 2 * time.Second}
	status := func(path string) int {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deadline := time.Now().Add(wait)
	for status("/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never answered 200 within %v (last: %d)", wait, status("/readyz"))
		}
		select {
		case code := <-done:
			t.Fatalf("run ended with %d before it was ready", code)
		case <-time.After(50 * time.Millisecond):
		}
	}
	if got := status("/healthz"); got != http.StatusOK {
		t.Fatalf("/healthz answered %d", got)
	}
}
