package cmd_test

import (
	"testing"

	"github.com/loanflow/loans/devstack/proctest"
)

// TestBinaries_HelpExitsZero builds this module's binaries as a user runs
// them and asks each (and each subcommand) for -h: the usage is the answer,
// so the exit status is 0.
func TestBinaries_HelpExitsZero(t *testing.T) {
	proctest.RequireHelp(t, map[string][][]string{
		"./publisher-service": {{"-h"}},
		"./publisher-bench":   {{"-h"}},
	})
}
