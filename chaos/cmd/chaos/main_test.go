package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// finalLine is the last line of every run that reached its checks.
var finalLine = regexp.MustCompile(`^chaos: (\d+) rounds, (\d+) kills, (\d+) acknowledged commands, (\d+) lost, (\d+) duplicated, read model equals replay: (yes|no)$`)

// TestMain_ShortChaosRun is `make chaos` in small: ten rounds, three users.
// It builds the binaries from this checkout (or takes CHAOS_BIN), so it
// tests the code as it stands; CHAOS_SEED replays a failing run's schedule.
func TestMain_ShortChaosRun(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the chaos run builds and starts five processes and takes about a minute")
	}
	args := []string{"-rounds", "10", "-users", "3", "-round", "1500ms", "-settle", "45s"}
	if bin := os.Getenv("CHAOS_BIN"); bin != "" {
		args = append(args, "-bin", bin)
	}
	var out bytes.Buffer
	code := Main(t.Context(), args, &out, &out)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	m := finalLine.FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("the run did not end with the final line (exit %d):\n%s", code, out.String())
	}
	rounds, _ := strconv.Atoi(m[1])
	kills, _ := strconv.Atoi(m[2])
	acked, _ := strconv.Atoi(m[3])
	if rounds != 10 || kills < rounds || acked == 0 {
		t.Errorf("want 10 rounds, at least one kill a round and some acknowledged commands; got %s", m[0])
	}
	if code != 0 {
		t.Fatalf("the chaos run failed (exit %d); its report, with the seed to replay it (CHAOS_SEED) and its logs:\n%s", code, out.String())
	}
	if m[4] != "0" || m[5] != "0" || m[6] != "yes" {
		t.Fatalf("exit 0 with a failing final line: %s", m[0])
	}
	t.Log(lines[len(lines)-1])
}

func TestMain_HelpExitsZero(t *testing.T) {
	var stderr strings.Builder
	if code := Main(t.Context(), []string{"-h"}, io.Discard, &stderr); code != 0 {
		t.Fatalf("-h: exit status %d; want 0\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "-rounds") {
		t.Errorf("-h printed no usage:\n%s", stderr.String())
	}
}
