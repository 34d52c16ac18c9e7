package envflag_test

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/loanflow/loans/platform/envflag"
)

type flags struct {
	fs      *flag.FlagSet
	addr    *string
	amount  *int64
	enabled *bool
	wait    *time.Duration
}

func newFlags() flags {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return flags{
		fs:      fs,
		addr:    fs.String("addr", "127.0.0.1:1", ""),
		amount:  fs.Int64("max-amount", 10, ""),
		enabled: fs.Bool("enabled", true, ""),
		wait:    fs.Duration("wait", time.Second, ""),
	}
}

var vars = map[string]string{"addr": "T_ADDR", "max-amount": "T_MAX_AMOUNT", "enabled": "T_ENABLED", "wait": "T_WAIT"}

func TestParse_DefaultsWhenNothingIsSet(t *testing.T) {
	f := newFlags()
	if err := envflag.Parse(f.fs, nil, vars); err != nil {
		t.Fatal(err)
	}
	if *f.addr != "127.0.0.1:1" || *f.amount != 10 || !*f.enabled || *f.wait != time.Second {
		t.Errorf("got %q %d %v %v, want the defaults", *f.addr, *f.amount, *f.enabled, *f.wait)
	}
}

func TestParse_EnvironmentOverDefaults(t *testing.T) {
	t.Setenv("T_ADDR", "127.0.0.1:2")
	t.Setenv("T_MAX_AMOUNT", "500")
	t.Setenv("T_ENABLED", "false")
	t.Setenv("T_WAIT", "250ms")
	f := newFlags()
	if err := envflag.Parse(f.fs, nil, vars); err != nil {
		t.Fatal(err)
	}
	if *f.addr != "127.0.0.1:2" || *f.amount != 500 || *f.enabled || *f.wait != 250*time.Millisecond {
		t.Errorf("got %q %d %v %v, want the environment's values", *f.addr, *f.amount, *f.enabled, *f.wait)
	}
}

func TestParse_CommandLineOverEnvironment(t *testing.T) {
	t.Setenv("T_MAX_AMOUNT", "500")
	t.Setenv("T_ENABLED", "false")
	f := newFlags()
	if err := envflag.Parse(f.fs, []string{"-max-amount", "700", "-enabled"}, vars); err != nil {
		t.Fatal(err)
	}
	if *f.amount != 700 || !*f.enabled {
		t.Errorf("got %d %v, want the command line's 700 true", *f.amount, *f.enabled)
	}
}

func TestParse_MalformedVariableIsAnError(t *testing.T) {
	for variable, value := range map[string]string{"T_MAX_AMOUNT": "lots", "T_ENABLED": "perhaps", "T_WAIT": "5"} {
		t.Run(variable, func(t *testing.T) {
			t.Setenv(variable, value)
			err := envflag.Parse(newFlags().fs, nil, vars)
			if err == nil {
				t.Fatalf("%s=%s: no error", variable, value)
			}
			if !strings.Contains(err.Error(), variable) || !strings.Contains(err.Error(), value) {
				t.Errorf("error %q names neither the variable nor its value", err)
			}
		})
	}
}

func TestParse_MalformedVariableIgnoredWhenTheFlagIsGiven(t *testing.T) {
	t.Setenv("T_MAX_AMOUNT", "lots")
	f := newFlags()
	if err := envflag.Parse(f.fs, []string{"-max-amount=900"}, vars); err != nil {
		t.Fatalf("the command line's value should win without reading the variable: %v", err)
	}
	if *f.amount != 900 {
		t.Errorf("got %d, want 900", *f.amount)
	}
}

func TestParse_UnknownFlagInVars(t *testing.T) {
	if err := envflag.Parse(newFlags().fs, nil, map[string]string{"nope": "T_NOPE"}); err == nil {
		t.Error("a variable for a flag that does not exist: no error")
	}
}

func TestParse_BadCommandLine(t *testing.T) {
	if err := envflag.Parse(newFlags().fs, []string{"-max-amount", "x"}, vars); err == nil {
		t.Error("a malformed flag: no error")
	}
}
