// Package config finds loanctl's folder and reads its configuration file.
//
// Settings come, first found first, from a flag, the environment
// (LOANCTL_<FLAG NAME>, such as LOANCTL_COMMAND_ADDR), the configuration
// file (the flag's name as its key) and the built-in defaults, which are
// those of `make run`.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Defaults are those of `make run`.
const (
	DefaultCommandAddr = "127.0.0.1:8081"
	DefaultQueryAddr   = "127.0.0.1:8083"
	DefaultIssuerURL   = "http://127.0.0.1:8090"
	DefaultClientID    = "loans-cli"
)

// DirEnv names a folder that replaces the default one (tests, several
// profiles side by side).
const DirEnv = "LOANCTL_CONFIG_DIR"

// Dir is loanctl's folder: $LOANCTL_CONFIG_DIR, else loanctl/ in the user's
// configuration folder (os.UserConfigDir: $XDG_CONFIG_HOME or ~/.config on
// Linux, ~/Library/Application Support on macOS, %AppData% on Windows).
func Dir(getenv func(string) string) (string, error) {
	if d := getenv(DirEnv); d != "" {
		return d, nil
	}
	base, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the configuration folder (set %s): %w", DirEnv, err)
	}
	return filepath.Join(base, "loanctl"), nil
}

// EnvName is the environment variable of a flag: command-addr is
// LOANCTL_COMMAND_ADDR.
func EnvName(flag string) string {
	return "LOANCTL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// File is a configuration file: flag names to values, such as
//
//	command-addr: loans.example.com:443
//	tls: true
//	output: yaml
type File map[string]string

// ReadFile reads a configuration file. A missing file is an empty one
// unless mustExist (a file named with --config).
func ReadFile(path string, mustExist bool) (File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		return File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the configuration: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("configuration file %s: %w", path, err)
	}
	f := File{}
	for k, v := range raw {
		switch v := v.(type) {
		case map[string]any, []any:
			return nil, fmt.Errorf("configuration file %s: %s: want a single value", path, k)
		case nil:
		default:
			f[k] = fmt.Sprint(v)
		}
	}
	return f, nil
}
