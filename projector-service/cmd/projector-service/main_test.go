package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/platform/loanevents"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/readmodel/sqlitestore"
	"github.com/loanflow/loans/projector-service/internal/projectortest"
)

const wait = 30 * time.Second

var t0 = time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)

func TestMain_Usage(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		code int
		say  string
	}{
		"Help":              {[]string{"-h"}, exitOK, "usage: projector-service"},
		"UnknownSubcommand": {[]string{"project"}, exitUsage, "unknown subcommand"},
		"ExtraArgument":     {[]string{"rebuild", "now"}, exitUsage, "unknown subcommand or argument"},
		"BadLogLevel":       {[]string{"run", "-log-level", "loud"}, exitUsage, "-log-level"},
		"BadReadModelURL":   {[]string{"run", "-readmodel", "postgres://db/x"}, exitError, "want sqlite:PATH or a mongodb:// URI"},
		"BadEventStoreURL":  {[]string{"run", "-eventstore", "http://x"}, exitUsage, "-eventstore"},
		"FlagsThenUnknown":  {[]string{"-log-level", "warn", "nope"}, exitUsage, "unknown subcommand or argument \"nope\""},
		"FlagsThenCommand":  {[]string{"-log-level", "warn", "rebuild", "-h"}, exitOK, "usage: projector-service"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(t.Context(), tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String()+stdout.String(), tc.say) {
				t.Errorf("output does not say %q:\n%s%s", tc.say, stdout.String(), stderr.String())
			}
		})
	}
}

// service is an event store and a read model file for Main.
type service struct {
	es     *eventstoretest.Server
	client *esdb.Client
	path   string
	reader *sqlitestore.Store
}

func newService(t *testing.T) *service {
	t.Helper()
	es := eventstoretest.Start(t, eventstore.Config{})
	s := &service{es: es, client: es.Client(t), path: filepath.Join(t.TempDir(), "data", "readmodel.db")}
	return s
}

func (s *service) args(sub string) []string {
	return []string{sub, "-eventstore", s.es.ConnectionString, "-readmodel", "sqlite:" + s.path, "-log-level", "warn"}
}

// open opens the query side's view of the read model (after Main created it).
func (s *service) open(t *testing.T) *sqlitestore.Store {
	t.Helper()
	if s.reader == nil {
		r, err := sqlitestore.Open(t.Context(), s.path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		s.reader = r
	}
	return s.reader
}

// run runs Main run until stop is called.
func (s *service) run(t *testing.T) (stop func() string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, s.args("run"), &stdout, &stderr) }()
	stopped := false
	stop = func() string {
		if stopped {
			return stderr.String()
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != exitOK {
				t.Errorf("run: exit code %d\n%s", code, stderr.String())
			}
		case <-time.After(wait):
			t.Fatalf("run did not stop within %v", wait)
		}
		return stderr.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

func (s *service) main(t *testing.T, sub string, wantCode int) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if code := Main(ctx, s.args(sub), &stdout, &stderr); code != wantCode {
		t.Fatalf("%s: exit code %d, want %d\n%s%s", sub, code, wantCode, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestMain_Subcommands(t *testing.T) {
	s := newService(t)
	g := eventgen.New(21, t0)
	projectortest.AppendLifecycles(t, s.client, g, 50, 4)
	md, _ := loanevents.MarshalMetadata(loanevents.Metadata{Actor: "ada", OccurredAt: t0})
	bad := projectortest.Append(t, s.client, eventgen.Append{Stream: "loanRequest-poison", Expected: -1, Events: []esdb.EventData{
		{EventID: uuid.New(), EventType: loanevents.TypeLoanRequested, ContentType: esdb.ContentTypeJson, Data: []byte(`{"amount":`), Metadata: md},
	}})
	projectortest.AppendLifecycles(t, s.client, g, 50, 4)
	model, last := projectortest.Fold(t, s.client)

	stop := s.run(t)
	// run creates the read model's file; the query side opens it then.
	poll.Until(t, wait, 10*time.Millisecond, func() (bool, string) {
		return fileExists(s.path), "run did not create " + s.path
	})
	projectortest.WaitCheckpoint(t, s.open(t), last, wait)
	log := stop()
	if !strings.Contains(log, `"msg":"projector: event parked"`) || !strings.Contains(log, `"level":"ERROR"`) {
		t.Errorf("run did not log the parked event as a JSON error:\n%s", log)
	}
	projectortest.Equal(t, s.open(t), model)

	t.Run("ReplayParkedReportsWhatStillFails", func(t *testing.T) {
		out := s.main(t, "replay-parked", exitStillParked)
		if !strings.Contains(out, "still failing  position "+itoa(bad)+"  LoanRequested  loanRequest-poison") ||
			!strings.Contains(out, "1 parked, 0 unparked, 1 still failing") {
			t.Errorf("replay-parked said:\n%s", out)
		}
	})
	t.Run("RebuildSwitchesGenerations", func(t *testing.T) {
		out := s.main(t, "rebuild", exitOK)
		if !strings.Contains(out, "rebuild: generation 2 active (replaced 1, dropped: true)") {
			t.Errorf("rebuild said:\n%s", out)
		}
		projectortest.Equal(t, s.open(t), model)
	})
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
