// Package esdblog sends the EventStoreDB client's log lines to slog.
package esdblog

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
)

// To sends the client's warnings and errors to logger at Warn: the client
// logs as errors what the services handle themselves (a subscription dropped
// at shutdown, a call cancelled by its caller, a server away for a while),
// and they log their own real failures. Cancellations and deadlines are
// Debug; the client's debug and info lines (one a call) are dropped.
func To(logger *slog.Logger) esdb.LoggingFunc {
	return func(level esdb.LogLevel, format string, args ...any) {
		if level != esdb.LogError && level != esdb.LogWarn {
			return
		}
		msg := "eventstore client: " + fmt.Sprintf(format, args...)
		if IsCancellation(msg) {
			logger.Debug(msg)
			return
		}
		logger.Warn(msg)
	}
}

// IsCancellation tells whether a client message reports a call ended by
// its caller's context.
func IsCancellation(msg string) bool {
	return strings.Contains(msg, "context canceled") || strings.Contains(msg, "code = Canceled") ||
		strings.Contains(msg, "context deadline exceeded") || strings.Contains(msg, "code = DeadlineExceeded")
}
