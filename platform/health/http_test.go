package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/health"
)

// get sends method to the probe server and reads the answer.
func get(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func readyz(t *testing.T, base string) (int, health.Report) {
	t.Helper()
	code, header, body := get(t, http.MethodGet, base+health.ReadinessPath)
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var rep health.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return code, rep
}

// TestServe: the projector's probes on a listener of their own.
func TestServe(t *testing.T) {
	subscription := &switchable{}
	r := start(t, 5*time.Millisecond, time.Second, health.Check{Name: "subscription", Func: subscription.check})
	srv, err := health.Serve("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr()
	ch := changes(t, r)
	next(t, ch, true)

	t.Run("Liveness", func(t *testing.T) {
		code, _, body := get(t, http.MethodGet, base+health.LivenessPath)
		if code != http.StatusOK || string(body) != `{"status":"alive"}`+"\n" {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("Ready", func(t *testing.T) {
		code, rep := readyz(t, base)
		if code != http.StatusOK || rep.Status != health.StatusReady || len(rep.Checks) != 1 || rep.Checks[0].Name != "subscription" || !rep.Checks[0].OK {
			t.Fatalf("%d %+v", code, rep)
		}
	})
	t.Run("NotReady", func(t *testing.T) {
		subscription.set(errors.New("catching up"))
		next(t, ch, false)
		code, rep := readyz(t, base)
		if code != http.StatusServiceUnavailable || rep.Status != health.StatusNotReady || rep.Checks[0].OK || rep.Checks[0].Error != "catching up" {
			t.Fatalf("%d %+v", code, rep)
		}
		if code, _, _ := get(t, http.MethodGet, base+health.LivenessPath); code != http.StatusOK {
			t.Errorf("liveness %d while not ready; want 200", code)
		}
		subscription.set(nil)
		next(t, ch, true)
		if code, rep := readyz(t, base); code != http.StatusOK {
			t.Fatalf("%d %+v once the check passes again", code, rep)
		}
	})
	t.Run("Head", func(t *testing.T) {
		if code, _, body := get(t, http.MethodHead, base+health.ReadinessPath); code != http.StatusOK || len(body) != 0 {
			t.Fatalf("%d %q", code, body)
		}
	})
	t.Run("OtherMethods", func(t *testing.T) {
		code, header, _ := get(t, http.MethodPost, base+health.ReadinessPath)
		if code != http.StatusMethodNotAllowed || header.Get("Allow") != "GET, HEAD" {
			t.Fatalf("%d, Allow %q", code, header.Get("Allow"))
		}
	})
	t.Run("OtherPaths", func(t *testing.T) {
		if code, _, _ := get(t, http.MethodGet, base+"/metrics"); code != http.StatusNotFound {
			t.Fatalf("%d", code)
		}
	})
	t.Run("ShutdownIsNotReady", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), waitFor)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		next(t, ch, false)
		if rep := r.Report(); rep.Status != health.StatusShuttingDown {
			t.Errorf("report %+v", rep)
		}
		if _, err := http.Get(base + health.LivenessPath); err == nil {
			t.Error("still serving after Shutdown")
		}
	})
}

func TestServe_PortTaken(t *testing.T) {
	r := start(t, time.Hour, time.Second)
	srv, err := health.Serve("127.0.0.1:0", r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	if other, err := health.Serve(srv.Addr(), r); err == nil {
		_ = other.Shutdown(context.Background())
		t.Fatal("bound a port already taken")
	}
}
