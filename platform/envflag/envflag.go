// Package envflag lets environment variables stand in for command-line
// flags, as containers and `make run` set them, with the same parsing and
// the same errors: a malformed LOAN_MAX_AMOUNT is refused, not ignored.
// The command line wins over the environment, which wins over the default.
package envflag

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
)

// Parse parses args into fs, then applies the environment (see Apply).
func Parse(fs *flag.FlagSet, args []string, vars map[string]string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return Apply(fs, vars)
}

// Apply sets every flag of fs that the command line left unset from its
// environment variable, if that is set; vars maps flag names to variable
// names. Call it after fs.Parse.
func Apply(fs *flag.FlagSet, vars map[string]string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range slices.Sorted(maps.Keys(vars)) { // the same error first, run after run
		variable := vars[name]
		if fs.Lookup(name) == nil {
			return fmt.Errorf("envflag: no flag -%s for %s", name, variable)
		}
		v, ok := os.LookupEnv(variable)
		if !ok || set[name] {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			return fmt.Errorf("%s=%q (for -%s): %w", variable, v, name, err)
		}
	}
	return nil
}

// Merge joins the flag-to-variable maps of several packages (a service's
// own, platform/auth's, platform/apiserver's) into one for Parse.
func Merge(vars ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range vars {
		maps.Copy(out, m)
	}
	return out
}
