//go:build unix

package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/devstack/proctest"
	"github.com/loanflow/loans/platform/esdbconn/esdbconntest"
	"github.com/loanflow/loans/platform/loanevents/eventgen"
	"github.com/loanflow/loans/platform/poll"
	"github.com/loanflow/loans/platform/rabbit/rabbittest"
	"github.com/loanflow/loans/publisher-service/internal/publisher"
	"github.com/loanflow/loans/publisher-service/internal/publishertest"
)

// crashSeedEnv replays a run's kill moments and events.
const crashSeedEnv = "PUBLISHER_CRASH_SEED"

const wait = 60 * time.Second

// The publisher service, built with go build and run as its own process
// against an event store and the broker on loopback, is killed with
// SIGKILL at random moments while lifecycles are appended and published,
// and started again each time; then appending stops and a last process
// catches up and is stopped with SIGTERM. Every loan event arrived at
// least once, the first arrivals in commit order; the last process
// stopped cleanly, its checkpoint at the last event, ready while it ran.
func TestCrash_KillWhilePublishingLosesNothing(t *testing.T) {
	url := rabbittest.URL(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (replay the kill moments and events with %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	kills := 3
	if testing.Short() {
		kills = 1
	}

	bin := proctest.Build(t, ".")
	es := eventstoretest.Start(t, eventstore.Config{})
	client := es.Client(t)
	exchange := rabbittest.Name("loans.events-crash")
	queue := publishertest.Bind(t, url, exchange)
	h := &harness{t: t, bin: bin, env: []string{
		"AMQP_URL=" + url, "EVENTSTORE_URL=" + es.ConnectionString, "PUBLISHER_EXCHANGE=" + exchange,
		"PUBLISHER_CHECKPOINT_INTERVAL=100ms", "LOG_LEVEL=info",
	}}

	// A backlog to catch up with, then appenders all along the kills.
	for w := range 2 {
		publishertest.AppendLifecycles(t, client, eventgen.New(seed+uint64(10+w), time.Date(2026, 11, 20, 8, 0, 0, 0, time.UTC)), 300)
	}
	var (
		stopAppending atomic.Bool
		appenders     sync.WaitGroup
	)
	for w := range 2 {
		g := eventgen.New(seed+uint64(w), time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC))
		c := eventstoretest.Connect(t, es.ConnectionString)
		appenders.Go(func() {
			for i := 0; i < 20_000 && !stopAppending.Load(); i++ {
				if err := publishertest.TryAppendLifecycles(c, g, 1); err != nil {
					t.Errorf("appender %d: %v", w, err)
					return
				}
			}
		})
	}

	for round := 1; round <= kills; round++ {
		before := queue.Count()
		child := h.start(nil)
		poll.Until(t, wait, 5*time.Millisecond, func() (bool, string) {
			select {
			case <-child.Exited():
				t.Fatalf("round %d: %s exited by itself: %v\n%s", round, child, child.ExitErr(), child.Log())
			default:
			}
			return queue.Count() > before+100, fmt.Sprintf("round %d: child publishing? %d arrivals since it started", round, queue.Count()-before)
		})
		// The random moment of the kill, somewhere in the stream.
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		if !child.Kill() {
			t.FailNow()
		}
		t.Logf("round %d: SIGKILL after %d arrivals in all", round, queue.Count())
	}
	stopAppending.Store(true)
	appenders.Wait()

	want := publishertest.LoanEvents(t, client)
	last := h.start([]string{"PUBLISHER_ADMIN_ADDR=127.0.0.1:0"})
	readyz := "http://" + last.WaitLog(adminRE, wait)[1] + "/readyz"
	poll.Until(t, wait, 20*time.Millisecond, func() (bool, string) {
		code, body := get(readyz)
		return code == http.StatusOK, fmt.Sprintf("GET %s: %d %s", readyz, code, body)
	})
	got := queue.WaitFor(t, want, wait)
	last.Terminate(30 * time.Second)
	dups := publishertest.Check(t, want, got)
	t.Logf("%d kills: %d loan events, %d arrivals, %d duplicates", kills, len(want), len(got), dups)
	log := last.Log()
	for _, say := range []string{`"msg":"publisher-service: stopped"`, `"service":"publisher-service"`, `"msg":"publisher: stopped"`} {
		if !strings.Contains(log, say) {
			t.Errorf("the last child's log lacks %s:\n%s", say, log)
		}
	}
	conn := esdbconntest.Dial(t, es.ConnectionString)
	saved, ok, err := publisher.ReadCheckpoint(t.Context(), conn, publisher.CheckpointStream(exchange))
	if end := want[len(want)-1].Position.Commit; err != nil || !ok || saved.Commit < end {
		t.Errorf("checkpoint after SIGTERM: %+v (found %v, %v); want %d or later", saved, ok, err, end)
	}
}

type harness struct {
	t        *testing.T
	bin      string
	env      []string
	children int
}

func (h *harness) start(env []string) *proctest.Process {
	t := h.t
	t.Helper()
	h.children++
	cmd := exec.Command(h.bin)
	cmd.Env = append(append(os.Environ(), h.env...), env...)
	return proctest.Start(t, fmt.Sprintf("child %d", h.children), cmd)
}

// adminRE finds where the admin listener serves in telemetry's log line.
var adminRE = regexp.MustCompile(`"msg":"telemetry: admin listener".*?"addr":"([^"]+)"`)

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
