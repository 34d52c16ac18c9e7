package main

import (
	"bytes"
	"testing"
)

func TestByteSize_Set(t *testing.T) {
	for in, want := range map[string]int64{
		"128MiB": 128 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000": 1000, "1000B": 1000, "off": 0, "0": 0,
	} {
		var b byteSize
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, int64(b), err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1MiB", "12MB", "1.5GiB", "9999999999TiB"} {
		var b byteSize
		if err := b.Set(in); err == nil {
			t.Errorf("Set(%q) = %d; want an error", in, int64(b))
		}
	}
	for b, want := range map[byteSize]string{128 << 20: "128MiB", 0: "off", 1000: "1000B", 3 << 30: "3GiB"} {
		if got := b.String(); got != want {
			t.Errorf("String(%d) = %q; want %q", int64(b), got, want)
		}
	}
}

func TestMain_MemoryLimitFlag(t *testing.T) {
	t.Setenv("PROJECTOR_MEMORY_LIMIT", "lots")
	var stdout, stderr bytes.Buffer
	if code := Main(t.Context(), []string{"run"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("PROJECTOR_MEMORY_LIMIT=lots: exit code %d, want %d\n%s", code, exitUsage, stderr.String())
	}
}
