//go:build unix

package eventstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/loanflow/loans/devstack/eventstore"
	"github.com/loanflow/loans/devstack/eventstore/eventstoretest"
	"github.com/loanflow/loans/devstack/proctest"
)

// The crash test runs the event store in a child process (this test binary,
// re-executed to run TestCrashChildProcess), appends to it from several
// goroutines, kills it with SIGKILL at a random moment, restarts it on the
// same directory and checks what survived, round after round on one
// directory. A last round stops the child with SIGTERM to check that a clean
// shutdown is recognised as one.
//
// A SIGKILL kills the process, not the machine: what the process handed to
// the kernel survives even if it was never synced. So this test proves that
// nothing is acknowledged before it is written, that a multi-event append is
// never torn, and that recovery after a crash is consistent; it cannot prove
// that acknowledged writes survive a power loss.

const (
	// crashChildDirEnv makes TestCrashChildProcess serve the event store on
	// the directory it names.
	crashChildDirEnv = "EVENTSTORE_CRASH_CHILD_DIR"
	// crashSeedEnv replays a run: the kill delays, append sizes and stream
	// choices come from this seed (goroutine scheduling still varies).
	crashSeedEnv = "EVENTSTORE_CRASH_SEED"
	// crashAddrPrefix starts the line on which the child prints its address.
	crashAddrPrefix = "EVENTSTORE_CRASH_CHILD_ADDR="
	// uncleanWarning is part of what the store logs when it opens after a crash.
	uncleanWarning = "did not shut down cleanly"
	// shutdownOverrun is what the server logs when calls outlive the
	// shutdown deadline.
	shutdownOverrun = "calls still running at the shutdown deadline"

	crashWorkers          = 8
	crashStreamsPerWorker = 3
	crashEventType        = "CrashTestEvent"
	crashProbeStream      = "crash-probe"
)

// TestCrashChildProcess is not a test: it is the child process of
// TestCrash_KillAtRandomMomentLosesNoAcknowledgedAppend, and does nothing
// unless re-executed by it.
func TestCrashChildProcess(t *testing.T) {
	dir := os.Getenv(crashChildDirEnv)
	if dir == "" {
		t.Skip("helper process of TestCrash_KillAtRandomMomentLosesNoAcknowledgedAppend; runs only when re-executed by it")
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := eventstore.New(eventstore.Config{Dir: dir, Logger: logger})
	if err != nil {
		t.Fatalf("open event store: %v", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// End when the parent goes away, whatever killed it, rather than serve
	// forever.
	proctest.WhenParentGone(func() {
		logger.Warn("crash child: stdin closed, the parent is gone")
		stop()
	})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	fmt.Printf("%s%s\n", crashAddrPrefix, lis.Addr())
	select {
	case err := <-served:
		t.Fatalf("serve ended before a signal: %v", err)
	case <-ctx.Done():
	}
	started := time.Now()
	logger.Info("crash child: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		t.Fatalf("shut down: %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	logger.Info("crash child: stopped", "shutdown_took", time.Since(started).String())
}

// TestCrash_KillAtRandomMomentLosesNoAcknowledgedAppend: see the comment at
// the top of this file.
func TestCrash_KillAtRandomMomentLosesNoAcknowledgedAppend(t *testing.T) {
	if os.Getenv(crashChildDirEnv) != "" {
		t.Skip("this is the child process")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(crashSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", crashSeedEnv, s, err)
		}
	}
	t.Logf("seed %d (replay the same kill delays and appends with %s=%d)", seed, crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	kills := 5
	if testing.Short() {
		kills = 2
	}
	h := &crashHarness{t: t, dataDir: t.TempDir(), records: map[string]*crashAppend{}}
	for w := range crashWorkers {
		for s := range crashStreamsPerWorker {
			h.streams = append(h.streams, fmt.Sprintf("crash-w%d-s%d", w, s))
		}
	}
	h.streams = append(h.streams, crashProbeStream)

	started := time.Now()
	child, conn := h.start()
	h.checkLog(child, false)
	for round := 1; round <= kills+1; round++ {
		clean := round == kills+1
		client := eventstoretest.Connect(t, conn)
		view := h.verify(client, round)
		h.probe(client, round, view)
		view.head++
		view.streamLen[crashProbeStream]++
		if t.Failed() {
			t.FailNow()
		}
		delay := 100*time.Millisecond + time.Duration(rng.IntN(700))*time.Millisecond
		how := "SIGKILL"
		if clean {
			how = "SIGTERM"
		}
		t.Logf("round %d: %d events in the log, %s after %v", round, view.head, how, delay)
		h.runWorkers(round, rng.Uint64(), conn, view, delay, func() {
			if clean {
				terminate(t, child)
			} else {
				child.Kill()
			}
		})
		_ = client.Close()
		if t.Failed() {
			t.FailNow()
		}
		child, conn = h.start()
		h.checkLog(child, !clean)
	}
	client := eventstoretest.Connect(t, conn)
	view := h.verify(client, kills+2)
	h.probe(client, kills+2, view)
	_ = client.Close()
	terminate(t, child)
	t.Logf("%d rounds, %d appends attempted (%d acknowledged), %d events in the log at the end, in %v",
		kills+1, len(h.records), h.acked(), view.head+1, time.Since(started).Round(time.Millisecond))
}

// crashHarness holds what the test knows across rounds.
type crashHarness struct {
	t       *testing.T
	dataDir string
	starts  int
	streams []string // every stream the test writes
	// records has every append ever attempted, by append ID.
	records map[string]*crashAppend
}

// crashAppend is one attempted append.
type crashAppend struct {
	id       string
	round    int
	stream   string
	expected int64 // last revision expected; -1 for no stream
	eventIDs []uuid.UUID
	acked    bool
	// From the WriteResult, when acked.
	lastRevision uint64
	position     uint64
}

// crashEventMeta is the user metadata of every event the test writes; the
// event's data is derived from it (crashEventData), so that every event
// read back can be checked by itself.
type crashEventMeta struct {
	Append string `json:"append"`
	Index  int    `json:"index"`
	Size   int    `json:"size"`
	Pad    int    `json:"pad"`
}

func crashEventData(m crashEventMeta) []byte {
	return fmt.Appendf(nil, `{"append":%q,"index":%d,"size":%d,"pad":%q}`, m.Append, m.Index, m.Size, strings.Repeat("x", m.Pad))
}

// newCrashAppend prepares an append of size events with the given pads.
func newCrashAppend(id string, round int, stream string, expected int64, pads []int) (*crashAppend, []esdb.EventData) {
	rec := &crashAppend{id: id, round: round, stream: stream, expected: expected}
	events := make([]esdb.EventData, len(pads))
	for i, pad := range pads {
		m := crashEventMeta{Append: id, Index: i, Size: len(pads), Pad: pad}
		meta, _ := json.Marshal(m)
		eid := uuid.New()
		rec.eventIDs = append(rec.eventIDs, eid)
		events[i] = esdb.EventData{EventID: eid, EventType: crashEventType, ContentType: esdb.ContentTypeJson,
			Data: crashEventData(m), Metadata: meta}
	}
	return rec, events
}

func expectedRevision(last int64) esdb.ExpectedRevision {
	if last < 0 {
		return esdb.NoStream{}
	}
	return esdb.Revision(uint64(last))
}

func (h *crashHarness) acked() int {
	n := 0
	for _, r := range h.records {
		if r.acked {
			n++
		}
	}
	return n
}

// ---- the child process ----

// crashAddrLine is the line on which the child says where it serves.
var crashAddrLine = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(crashAddrPrefix) + `(\S+)\n`)

// start runs a child on the data directory and waits until it serves.
func (h *crashHarness) start() (child *proctest.Process, connectionString string) {
	t := h.t
	t.Helper()
	h.starts++
	cmd := proctest.Reexec(t, "TestCrashChildProcess")
	cmd.Env = append(os.Environ(), crashChildDirEnv+"="+h.dataDir)
	child = proctest.Start(t, fmt.Sprintf("child %d", h.starts), cmd)
	addr := child.WaitLog(crashAddrLine, 20*time.Second)[1]
	return child, fmt.Sprintf("esdb://%s?tls=false", addr)
}

// terminate sends SIGTERM and checks that the child shuts down cleanly and
// in time.
func terminate(t *testing.T, c *proctest.Process) {
	t.Helper()
	c.Terminate(15 * time.Second)
	log := c.Log()
	if !strings.Contains(log, "crash child: stopped") {
		t.Errorf("%s did not report a completed shutdown\n%s", c, log)
	}
	if strings.Contains(log, shutdownOverrun) {
		t.Errorf("%s: calls were still running at the 5 s shutdown deadline (an append was left waiting?)\n%s", c, log)
	}
}

// checkLog checks what a freshly started child logged on opening the store.
func (h *crashHarness) checkLog(c *proctest.Process, wantUncleanWarning bool) {
	t := h.t
	t.Helper()
	log := c.Log()
	switch warned := strings.Contains(log, uncleanWarning); {
	case wantUncleanWarning && !warned:
		t.Errorf("%s opened the store after a SIGKILL without warning that it %q\n%s", c, uncleanWarning, log)
	case !wantUncleanWarning && warned:
		t.Errorf("%s warned that the store %q, after a clean shutdown or on a new directory\n%s", c, uncleanWarning, log)
	}
	for line := range strings.Lines(log) {
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Errorf("%s logged an error: %s", c, line)
		}
	}
}

// ---- appending ----

// runWorkers appends from crashWorkers goroutines, each to its own streams
// with exact expected revisions, until stop is called after delay; stop
// ends the child. Each worker has its own client: after the child dies, a
// client whose connection failed must not be used again (the official
// client's reconnection gives up and its later calls can block), and one
// worker stops at its first error.
func (h *crashHarness) runWorkers(round int, seed uint64, conn string, view crashView, delay time.Duration, stop func()) {
	t := h.t
	t.Helper()
	var stopping atomic.Bool
	type result struct {
		records   []*crashAppend
		errBefore error // an error before the stop: a failure
	}
	results := make([]result, crashWorkers)
	clients := make([]*esdb.Client, crashWorkers)
	for w := range crashWorkers {
		clients[w] = eventstoretest.Connect(t, conn)
	}
	var wg sync.WaitGroup
	for w := range crashWorkers {
		rng := rand.New(rand.NewPCG(seed, uint64(w)))
		last := make([]int64, crashStreamsPerWorker)
		for s := range last {
			last[s] = int64(view.streamLen[fmt.Sprintf("crash-w%d-s%d", w, s)]) - 1
		}
		wg.Go(func() {
			res := &results[w]
			c := clients[w]
			deadline := 5 * time.Second
			for seq := 0; seq < 1_000_000 && !stopping.Load(); seq++ {
				s := rng.IntN(crashStreamsPerWorker)
				pads := make([]int, 1+rng.IntN(5))
				for i := range pads {
					if rng.IntN(8) == 0 {
						pads[i] = rng.IntN(8 << 10)
					} else {
						pads[i] = rng.IntN(100)
					}
				}
				stream := fmt.Sprintf("crash-w%d-s%d", w, s)
				rec, events := newCrashAppend(fmt.Sprintf("r%d-w%d-%d", round, w, seq), round, stream, last[s], pads)
				res.records = append(res.records, rec)
				wr, err := c.AppendToStream(context.Background(), stream,
					esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(last[s]), Deadline: &deadline}, events...)
				if err != nil {
					if !stopping.Load() {
						res.errBefore = fmt.Errorf("append %s to %s expecting %d: %w", rec.id, stream, last[s], err)
					}
					return
				}
				rec.acked = true
				rec.lastRevision = wr.NextExpectedVersion
				rec.position = wr.CommitPosition
				last[s] += int64(len(events))
			}
		})
	}
	time.Sleep(delay)
	stopping.Store(true)
	stop()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("round %d: appenders still running 20 s after the child was stopped", round)
	}
	for _, c := range clients {
		_ = c.Close()
	}
	var attempted, acked, events int
	for w, res := range results {
		if res.errBefore != nil {
			t.Errorf("round %d, worker %d: append failed while the child was up: %v", round, w, res.errBefore)
		}
		for _, rec := range res.records {
			h.records[rec.id] = rec
			attempted++
			if rec.acked {
				acked++
				events += len(rec.eventIDs)
			}
		}
	}
	t.Logf("round %d: %d appends attempted, %d acknowledged (%d events), %d cut off by the stop", round, attempted, acked, events, attempted-acked)
	if acked == 0 {
		t.Logf("round %d: no append was acknowledged before the stop", round)
	}
}

// ---- checking ----

// crashView is the log as read back after a restart.
type crashView struct {
	head      uint64            // last position in $all
	streamLen map[string]uint64 // events per stream
}

// problems reports failures, at most a few dozen of them.
type problems struct {
	t *testing.T
	n int
}

func (p *problems) add(format string, args ...any) {
	p.t.Helper()
	if p.n < 40 {
		p.t.Errorf(format, args...)
	} else if p.n == 40 {
		p.t.Errorf("(more problems not shown)")
	}
	p.n++
}

type crashFound struct {
	position uint64
	revision uint64
	index    int
	id       uuid.UUID
}

// verify reads everything back from the child started for round (start 1
// is on the new directory, every later one after a SIGKILL or, for the last,
// a SIGTERM) and checks it against what was attempted and acknowledged.
func (h *crashHarness) verify(c *esdb.Client, round int) crashView {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := &problems{t: t}
	events := readAllCrash(ctx, t, c)
	view := crashView{streamLen: map[string]uint64{}}
	byAppend := map[string][]crashFound{}
	byStream := map[string][]crashFound{}
	seenIDs := map[uuid.UUID]uint64{}

	for i, e := range events {
		pos := e.Position.Commit
		if pos != uint64(i)+1 {
			p.add("start %d: the %d-th event of $all has position %d, want %d: positions must run 1..N without gaps",
				round, i+1, pos, i+1)
		}
		if i > 0 && pos <= events[i-1].Position.Commit {
			p.add("start %d: $all position %d follows position %d", round, pos, events[i-1].Position.Commit)
		}
		view.head = pos
		if prev, dup := seenIDs[e.EventID]; dup {
			p.add("start %d: event %s is in $all twice, at positions %d and %d", round, e.EventID, prev, pos)
		}
		seenIDs[e.EventID] = pos
		if want := view.streamLen[e.StreamID]; e.EventNumber != want {
			p.add("start %d: stream %s: the event at position %d has revision %d, want %d: revisions must run from 0 without gaps",
				round, e.StreamID, pos, e.EventNumber, want)
		}
		view.streamLen[e.StreamID]++
		byStream[e.StreamID] = append(byStream[e.StreamID], crashFound{position: pos, revision: e.EventNumber, id: e.EventID})

		var m crashEventMeta
		if err := json.Unmarshal(e.UserMetadata, &m); err != nil {
			p.add("start %d: position %d: metadata %q is not the test's: %v", round, pos, e.UserMetadata, err)
			continue
		}
		if e.EventType != crashEventType || !bytes.Equal(e.Data, crashEventData(m)) {
			p.add("start %d: position %d: event %s of append %s has type %q and %d bytes of data that do not match its metadata %s",
				round, pos, e.EventID, m.Append, e.EventType, len(e.Data), e.UserMetadata)
		}
		rec := h.records[m.Append]
		switch {
		case rec == nil:
			p.add("start %d: position %d holds an event of append %s, which was never attempted", round, pos, m.Append)
			continue
		case m.Size != len(rec.eventIDs) || m.Index < 0 || m.Index >= len(rec.eventIDs) || rec.eventIDs[m.Index] != e.EventID || rec.stream != e.StreamID:
			p.add("start %d: position %d: event %s (index %d of %d, stream %s) is not event %d of append %s (%d events to %s)",
				round, pos, e.EventID, m.Index, m.Size, e.StreamID, m.Index, rec.id, len(rec.eventIDs), rec.stream)
			continue
		}
		byAppend[m.Append] = append(byAppend[m.Append], crashFound{position: pos, revision: e.EventNumber, index: m.Index, id: e.EventID})
	}

	// Every append in the log is whole: all its events, at consecutive
	// positions and revisions, where its expected revision put them.
	for id, found := range byAppend {
		rec := h.records[id]
		if len(found) != len(rec.eventIDs) {
			p.add("start %d: append %s (round %d, %d events to %s, acknowledged=%v) is torn: %d of its events are in the log",
				round, id, rec.round, len(rec.eventIDs), rec.stream, rec.acked, len(found))
			continue
		}
		for k, f := range found {
			if f.index != k || f.position != found[0].position+uint64(k) || f.revision != found[0].revision+uint64(k) {
				p.add("start %d: append %s (%d events to %s) is not contiguous: event %d is at index %d, position %d, revision %d; its first at position %d, revision %d",
					round, id, len(rec.eventIDs), rec.stream, k, f.index, f.position, f.revision, found[0].position, found[0].revision)
				break
			}
		}
		if int64(found[0].revision) != rec.expected+1 {
			p.add("start %d: append %s to %s expected the stream at revision %d but starts at revision %d",
				round, id, rec.stream, rec.expected, found[0].revision)
		}
	}

	// Every acknowledged append is there, where it was acknowledged.
	var lost, unacked, landed int
	for id, rec := range h.records {
		found, ok := byAppend[id]
		if !rec.acked {
			unacked++
			if ok && len(found) == len(rec.eventIDs) {
				landed++
			}
			continue
		}
		first := rec.lastRevision + 1 - uint64(len(rec.eventIDs))
		if !ok {
			lost++
			p.add("start %d: LOST: acknowledged append %s (round %d, %d events to %s at revisions %d..%d, last at position %d) is not in the log",
				round, id, rec.round, len(rec.eventIDs), rec.stream, first, rec.lastRevision, rec.position)
			continue
		}
		if int64(rec.lastRevision) != rec.expected+int64(len(rec.eventIDs)) {
			p.add("start %d: append %s expecting revision %d with %d events was acknowledged with revision %d",
				round, id, rec.expected, len(rec.eventIDs), rec.lastRevision)
		}
		last := found[len(found)-1]
		if last.revision != rec.lastRevision || last.position != rec.position {
			p.add("start %d: append %s was acknowledged at revision %d, position %d, but is at revision %d, position %d",
				round, id, rec.lastRevision, rec.position, last.revision, last.position)
		}
	}
	if round > 1 {
		t.Logf("start %d: %d events in the log; %d acknowledged appends checked, %d lost; of %d unacknowledged appends so far, %d landed whole",
			round, view.head, h.acked(), lost, unacked, landed)
	}

	// Each stream read by itself agrees with $all.
	names := slices.Clone(h.streams)
	for name := range byStream {
		if !slices.Contains(names, name) {
			p.add("start %d: $all holds stream %s, which the test never wrote", round, name)
			names = append(names, name)
		}
	}
	for _, name := range names {
		got := readStreamCrash(ctx, t, c, name)
		want := byStream[name]
		if len(got) != len(want) {
			p.add("start %d: stream %s reads back %d events, $all has %d", round, name, len(got), len(want))
			continue
		}
		for i := range got {
			if got[i] != want[i] {
				p.add("start %d: stream %s event %d reads back as %+v, $all has %+v", round, name, i, got[i], want[i])
				break
			}
		}
	}
	return view
}

// probe appends one event after a restart and checks that positions and
// revisions carry on where the log ends.
func (h *crashHarness) probe(c *esdb.Client, round int, view crashView) {
	t := h.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	last := int64(view.streamLen[crashProbeStream]) - 1
	rec, events := newCrashAppend(fmt.Sprintf("r%d-probe", round), round, crashProbeStream, last, []int{round})
	h.records[rec.id] = rec
	wr, err := c.AppendToStream(ctx, crashProbeStream, esdb.AppendToStreamOptions{ExpectedRevision: expectedRevision(last)}, events...)
	if err != nil {
		t.Fatalf("start %d: append to %s expecting revision %d: %v", round, crashProbeStream, last, err)
	}
	rec.acked, rec.lastRevision, rec.position = true, wr.NextExpectedVersion, wr.CommitPosition
	if wr.CommitPosition != view.head+1 {
		t.Errorf("start %d: the first append went to position %d; the log ended at %d, so want %d", round, wr.CommitPosition, view.head, view.head+1)
	}
	if int64(wr.NextExpectedVersion) != last+1 {
		t.Errorf("start %d: the first append to %s got revision %d, want %d", round, crashProbeStream, wr.NextExpectedVersion, last+1)
	}
}

func readAllCrash(ctx context.Context, t *testing.T, c *esdb.Client) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Forwards}, 1<<40)
	if err != nil {
		t.Fatalf("read $all: %v", err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read $all after %d events: %v", len(out), err)
		}
		out = append(out, e.Event)
	}
}

func readStreamCrash(ctx context.Context, t *testing.T, c *esdb.Client, name string) []crashFound {
	t.Helper()
	rs, err := c.ReadStream(ctx, name, esdb.ReadStreamOptions{From: esdb.Start{}, Direction: esdb.Forwards}, 1<<40)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	defer rs.Close()
	var out []crashFound
	for {
		e, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out
		}
		var esErr *esdb.Error
		if len(out) == 0 && errors.As(err, &esErr) && esErr.Code() == esdb.ErrorCodeResourceNotFound {
			return nil
		}
		if err != nil {
			t.Fatalf("read %s after %d events: %v", name, len(out), err)
		}
		out = append(out, crashFound{position: e.Event.Position.Commit, revision: e.Event.EventNumber, id: e.Event.EventID})
	}
}
