package proctest

import (
	"os/exec"
	"strings"
	"testing"
)

// RequireHelp builds each package (a path relative to the test's
// directory, as go build takes it) and runs its binary with the arguments
// given for it: every run must exit 0 and print its usage, as asking for
// help (-h) is answered, not refused. args maps a package to the argument
// lists to try ({"-h"}, {"subcommand", "-h"}, …).
func RequireHelp(t *testing.T, args map[string][][]string) {
	t.Helper()
	for pkg, runs := range args {
		bin := Build(t, pkg)
		for _, a := range runs {
			name := pkg + " " + strings.Join(a, " ")
			t.Run(name, func(t *testing.T) {
				out, err := exec.CommandContext(t.Context(), bin, a...).CombinedOutput()
				if err != nil {
					t.Fatalf("%s: %v; want exit status 0\n%s", name, err, out)
				}
				if !strings.Contains(strings.ToLower(string(out)), "usage") {
					t.Errorf("%s printed no usage:\n%s", name, out)
				}
			})
		}
	}
}
