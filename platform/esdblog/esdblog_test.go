package esdblog_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/loanflow/loans/platform/esdblog"
)

func TestTo(t *testing.T) {
	for _, c := range []struct {
		level esdb.LogLevel
		msg   string
		want  string // the slog level written, or "" for nothing
	}{
		{esdb.LogDebug, "read stream x", ""},
		{esdb.LogInfo, "connected", ""},
		{esdb.LogWarn, "node unreachable", "WARN"},
		{esdb.LogError, "subscription dropped: rpc error: code = Unavailable", "WARN"},
		{esdb.LogError, "subscription dropped: context canceled", "DEBUG"},
		{esdb.LogError, "append: rpc error: code = DeadlineExceeded desc = x", "DEBUG"},
	} {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
		esdblog.To(logger)(c.level, "%s", c.msg)
		got := buf.String()
		switch {
		case c.want == "" && got != "":
			t.Errorf("%v %q: logged %q, want nothing", c.level, c.msg, got)
		case c.want != "" && !strings.Contains(got, "level="+c.want):
			t.Errorf("%v %q: logged %q, want level %s", c.level, c.msg, got, c.want)
		case c.want != "" && !strings.Contains(got, c.msg):
			t.Errorf("%v %q: logged %q without the message", c.level, c.msg, got)
		}
	}
}
