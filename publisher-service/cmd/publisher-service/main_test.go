package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestMain_Usage(t *testing.T) {
	t.Setenv("AMQP_URL", "") // the machine's own must not leak in
	const broker = "amqp://guest:guest@127.0.0.1:5672/"
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		code int
		say  string
	}{
		"Help":               {[]string{"-h"}, nil, exitOK, "usage: publisher-service"},
		"NoBroker":           {nil, nil, exitUsage, "no broker: set -amqp-url or AMQP_URL"},
		"BadBrokerURL":       {[]string{"-amqp-url", "http://x"}, nil, exitUsage, "-amqp-url"},
		"BrokerFromEnv":      {[]string{"-eventstore", "http://x"}, map[string]string{"AMQP_URL": broker}, exitUsage, "-eventstore"},
		"BadEventStoreURL":   {[]string{"-amqp-url", broker, "-eventstore", "http://x"}, nil, exitUsage, "-eventstore"},
		"BadLogLevel":        {[]string{"-amqp-url", broker, "-log-level", "loud"}, nil, exitUsage, "-log-level"},
		"BadBatch":           {[]string{"-amqp-url", broker, "-batch", "0"}, nil, exitUsage, "-batch 0"},
		"MalformedBatchEnv":  {[]string{"-amqp-url", broker}, map[string]string{"PUBLISHER_MAX_BATCH": "lots"}, exitUsage, "PUBLISHER_MAX_BATCH"},
		"BadInFlight":        {[]string{"-amqp-url", broker, "-in-flight", "-1"}, nil, exitUsage, "-in-flight -1"},
		"BadInterval":        {[]string{"-amqp-url", broker, "-checkpoint-interval", "0s"}, nil, exitUsage, "-checkpoint-interval"},
		"EmptyExchange":      {[]string{"-amqp-url", broker, "-exchange", ""}, nil, exitUsage, "-exchange is empty"},
		"UnexpectedArgument": {[]string{"-amqp-url", broker, "run"}, nil, exitUsage, `unexpected argument "run"`},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stderr bytes.Buffer
			if code := Main(t.Context(), tc.args, &stderr); code != tc.code {
				t.Errorf("exit code %d, want %d\n%s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.say) {
				t.Errorf("output does not say %q:\n%s", tc.say, stderr.String())
			}
		})
	}
}
