package check

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEnv_ManifestsSetOnlyWhatServicesRead builds the four services and compares the variables their -h
// names (plus StandardEnv) with what the Kubernetes overlays, the compose file and the Dockerfile set.
func TestEnv_ManifestsSetOnlyWhatServicesRead(t *testing.T) {
	read := serviceEnv(t)

	for _, overlay := range overlays {
		t.Run("k8s/"+overlay, func(t *testing.T) {
			env, deployed, err := kubeEnv(renderOverlay(t, overlay))
			if err != nil {
				t.Fatal(err)
			}
			checkEnv(t, read, env, deployed)
		})
	}

	t.Run("compose", func(t *testing.T) {
		project, err := LoadCompose(context.Background(), repoRoot(t))
		if err != nil {
			t.Fatal(err)
		}
		var env []manifestEnv
		deployed := map[string]bool{}
		for name, s := range project.Services {
			if _, ok := Services[name]; !ok {
				continue
			}
			deployed[name] = true
			for k := range s.Environment {
				env = append(env, manifestEnv{name, k, "compose service " + name})
			}
		}
		checkEnv(t, read, env, deployed)
	})

	t.Run("Dockerfile", func(t *testing.T) {
		stages, err := ParseDockerfile(filepath.Join(repoRoot(t), DockerfilePath))
		if err != nil {
			t.Fatal(err)
		}
		var env []manifestEnv
		for _, s := range stages {
			if _, ok := Services[s.Name]; !ok {
				continue
			}
			for _, k := range s.Env {
				env = append(env, manifestEnv{s.Name, k, "Dockerfile target " + s.Name})
			}
		}
		checkEnv(t, read, env, nil)
	})
}

// checkEnv reports every variable set for a service that the service does not read, and every required
// variable missing for a service in deployed.
func checkEnv(t *testing.T, read map[string][]string, env []manifestEnv, deployed map[string]bool) {
	t.Helper()
	checkEnvTo(t, read, env, deployed)
}

type errorReporter interface {
	Helper()
	Error(args ...any)
	Errorf(format string, args ...any)
}

func checkEnvTo(t errorReporter, read map[string][]string, env []manifestEnv, deployed map[string]bool) {
	t.Helper()
	set := map[string]map[string]bool{}
	var unknown []string
	for _, e := range env {
		if set[e.service] == nil {
			set[e.service] = map[string]bool{}
		}
		set[e.service][e.name] = true
		if slices.Contains(read[e.service], e.name) {
			continue
		}
		msg := fmt.Sprintf("%s sets %s, which %s does not read (not in its -h, not a standard OTEL_*/GO* variable)", e.where, e.name, e.service)
		if strings.HasSuffix(e.name, "_ADMIN_ADDR") {
			msg += "; the admin listener's -admin-addr flag of issue 11 is not in this binary yet"
		}
		unknown = append(unknown, msg)
	}
	slices.Sort(unknown)
	for _, msg := range slices.Compact(unknown) {
		t.Error(msg)
	}
	for service := range deployed {
		for _, name := range RequiredEnv[service] {
			if !set[service][name] {
				t.Errorf("%s needs %s, which no manifest sets for it", service, name)
			}
		}
	}
}

func TestCheckEnv_ReportsUnknownAndMissing(t *testing.T) {
	read := map[string][]string{"publisher-service": {"EVENTSTORE_URL", "AMQP_URL"}}
	rec := &recorder{}
	checkEnvTo(rec, read, []manifestEnv{{"publisher-service", "EVENTSTORE_URL", "x"}, {"publisher-service", "PUBLISHER_TYPO", "x"}},
		map[string]bool{"publisher-service": true})
	if len(rec.msgs) != 2 || !strings.Contains(rec.msgs[0], "PUBLISHER_TYPO") || !strings.Contains(rec.msgs[1], "AMQP_URL") {
		t.Errorf("got %q, want one error for PUBLISHER_TYPO and one for the missing AMQP_URL", rec.msgs)
	}
}

type recorder struct{ msgs []string }

func (r *recorder) Helper()           {}
func (r *recorder) Error(args ...any) { r.msgs = append(r.msgs, fmt.Sprint(args...)) }
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
