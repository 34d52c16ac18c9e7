// Package rabbit is what every process that talks to RabbitMQ shares: a
// connection that names itself to the broker, a session loop that reconnects
// with backoff after the broker closed the connection or went away, and the
// -amqp-url flag.
//
// Topology and message handling stay with the processes (the command
// consumer, the event publisher): this package only keeps them connected.
package rabbit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/loanflow/loans/platform/backoff"
)

// Heartbeat is how often client and broker check the connection is alive: a
// broker that silently went away is noticed within two of them.
const Heartbeat = 10 * time.Second

// DialTimeout bounds connecting (TCP and the AMQP handshake).
const DialTimeout = 10 * time.Second

// Dial connects to the broker at rawURL; name shows in the broker's
// connection list (rabbitmqctl list_connections client_properties) so that
// operators see who is connected.
func Dial(rawURL, name string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	conn, err := amqp.DialConfig(rawURL, amqp.Config{
		Heartbeat:  Heartbeat,
		Locale:     "en_US",
		Properties: props,
		Dial:       amqp.DefaultDial(DialTimeout),
	})
	if err != nil {
		return nil, fmt.Errorf("rabbit: connect to %s: %w", Redact(rawURL), err)
	}
	return conn, nil
}

// Redact is a URL fit for logs: its password replaced.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable AMQP URL)"
	}
	return u.Redacted()
}

// Validate checks an AMQP URL without connecting.
func Validate(rawURL string) error {
	if _, err := amqp.ParseURI(rawURL); err != nil {
		return fmt.Errorf("rabbit: %s: %w", Redact(rawURL), err)
	}
	return nil
}

// Config tunes Reconnect.
type Config struct {
	// URL is the broker (amqp:// or amqps://).
	URL string
	// Name names the connection to the broker.
	Name   string
	Logger *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between attempts (defaults
	// 100 ms and 10 s); it doubles after each failure, with jitter, and
	// starts over once a session has lasted a minute.
	MinBackoff, MaxBackoff time.Duration
}

// ErrConnectionLost is what a session returns when its connection closed
// under it; Reconnect then connects again.
var ErrConnectionLost = errors.New("rabbit: connection lost")

// Reconnect connects and runs session on the connection, again and again,
// until ctx ends: a session returns when it is done with its connection (it
// closed, or ctx ended). A failed dial or a session's error is logged and
// followed by a backoff; a session that returns nil while ctx is still live
// ends Reconnect. The connection is closed after each session.
func Reconnect(ctx context.Context, cfg Config, session func(ctx context.Context, conn *amqp.Connection) error) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(10*time.Second, cfg.MinBackoff)
	}
	log := cfg.Logger.With("broker", Redact(cfg.URL), "connection_name", cfg.Name)
	wait := cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return nil
		}
		conn, err := Dial(cfg.URL, cfg.Name)
		if err == nil {
			if attempt > 1 {
				log.Info("rabbit: connected again", "attempts", attempt)
			}
			started := time.Now()
			err = session(ctx, conn)
			_ = conn.Close()
			if err == nil || ctx.Err() != nil {
				return err
			}
			if time.Since(started) > time.Minute {
				wait, attempt = cfg.MinBackoff, 1
			}
		}
		log.Warn("rabbit: disconnected; connecting again", "error", err, "attempt", attempt, "backoff", wait)
		if !backoff.Sleep(ctx, backoff.Jitter(wait)) {
			return nil
		}
		wait = min(2*wait, cfg.MaxBackoff)
	}
}

// Closed is a channel that is closed (with the reason, when the broker gave
// one) once conn closes.
func Closed(conn *amqp.Connection) <-chan *amqp.Error {
	return conn.NotifyClose(make(chan *amqp.Error, 1))
}

// FlagName and EnvVar name the broker setting shared by every process.
const (
	FlagName = "amqp-url"
	EnvVar   = "AMQP_URL"
)

// EnvVars maps the flag to its environment variable (for envflag.Merge).
var EnvVars = map[string]string{FlagName: EnvVar}

// RegisterFlag adds -amqp-url to fs, with usage saying what it enables.
func RegisterFlag(fs *flag.FlagSet, defaultURL, usage string) *string {
	return fs.String(FlagName, defaultURL, usage+" ("+EnvVar+")")
}
