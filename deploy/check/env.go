package check

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
)

// Services are the four processes the manifests run, each with the package that builds it.
var Services = map[string]string{
	"command-service":   "./command-service/cmd/command-service",
	"query-service":     "./query-service/cmd/query-service",
	"projector-service": "./projector-service/cmd/projector-service",
	"publisher-service": "./publisher-service/cmd/publisher-service",
}

// StandardEnv are variables every service honours without a flag: the OpenTelemetry SDK's and the Go
// runtime's.
var StandardEnv = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "GOMEMLIMIT", "GOGC",
}

// RequiredEnv are the variables a manifest must set for each service to work outside `make run`.
var RequiredEnv = map[string][]string{
	"command-service":   {"EVENTSTORE_URL", "OIDC_ISSUER_URL", "OIDC_AUDIENCE"},
	"query-service":     {"READMODEL_URL", "OIDC_ISSUER_URL", "OIDC_AUDIENCE"},
	"projector-service": {"EVENTSTORE_URL", "READMODEL_URL"},
	"publisher-service": {"EVENTSTORE_URL", "AMQP_URL"},
}

// BuildServices builds the four service binaries of the repository at repoRoot into dir (with the
// workspace's go.work), returning their paths by service name.
func BuildServices(ctx context.Context, repoRoot, dir string) (map[string]string, error) {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	for _, name := range slices.Sorted(maps.Keys(Services)) {
		args = append(args, Services[name])
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(repoRoot, "go.work"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	bins := map[string]string{}
	for name := range Services {
		bins[name] = filepath.Join(dir, name)
	}
	return bins, nil
}

var usageEnvRE = regexp.MustCompile(`\(([A-Z][A-Z0-9_]+)[);]`)

// UsageEnv runs `bin -h` and returns the environment variables its usage text names: every flag's usage
// ends with its variable in parentheses. The exit status is not looked at (some binaries exit 1 on -h);
// a usage text without any variable is an error.
func UsageEnv(ctx context.Context, bin string) ([]string, error) {
	out, _ := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	seen := map[string]bool{}
	for _, m := range usageEnvRE.FindAllStringSubmatch(string(out), -1) {
		seen[m[1]] = true
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("%s -h names no environment variable:\n%s", bin, out)
	}
	return slices.Sorted(maps.Keys(seen)), nil
}
