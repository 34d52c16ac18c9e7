package benchcpu_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/loanflow/loans/devstack/benchcpu"
)

func TestSince_CountsThisProcessBusy(t *testing.T) {
	a := benchcpu.Now()
	deadline := time.Now().Add(200 * time.Millisecond)
	n := 0
	for time.Now().Before(deadline) { // one core busy
		n++
	}
	u := benchcpu.Since(a)
	if runtime.GOOS != "linux" {
		if u.OK || u.String() != "" {
			t.Errorf("got %+v %q off Linux, want nothing", u, u.String())
		}
		return
	}
	if !u.OK {
		t.Fatal("no figure on Linux")
	}
	if u.Self < 0.2 || u.Self > float64(runtime.NumCPU())+0.5 {
		t.Errorf("this process used %.2f cores while spinning one; want about 1", u.Self)
	}
	if u.Others < 0 {
		t.Errorf("others %.2f < 0", u.Others)
	}
	if u.String() == "" {
		t.Error("empty String")
	}
}

func TestSettle_ReturnsWhenIdle(t *testing.T) {
	if waited := benchcpu.Settle(5 * time.Second); waited > 5*time.Second+time.Second {
		t.Errorf("Settle(5s) took %v", waited)
	}
}
