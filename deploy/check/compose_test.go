package check

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestCompose_Load(t *testing.T) {
	project, err := LoadCompose(context.Background(), repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ImagesArePinned", func(t *testing.T) {
		for name, s := range project.Services {
			if err := ImagePinned(s.Image); err != nil {
				t.Errorf("service %s: %v", name, err)
			}
		}
	})

	t.Run("ServicesRunReadOnlyAndNonRoot", func(t *testing.T) {
		for name := range Services {
			s, ok := project.Services[name]
			if !ok {
				t.Errorf("no service %s", name)
				continue
			}
			if !s.ReadOnly || s.User == "" || strings.HasPrefix(s.User, "0") || strings.HasPrefix(s.User, "root") {
				t.Errorf("service %s: want read_only and a non-root user (got read_only %v, user %q)", name, s.ReadOnly, s.User)
			}
			if s.Build == nil || s.Build.Target != name || filepath.Base(s.Build.Dockerfile) != "Dockerfile" {
				t.Errorf("service %s: want it built from deploy/Dockerfile, target %s", name, name)
			}
		}
	})

	t.Run("StoresAreClustered", func(t *testing.T) {
		for _, name := range []string{"node1", "node2", "node3", "mongo1", "mongo2", "mongo3", "certs", "mongo-init",
			"rabbitmq", "identity", "prometheus", "grafana", "otel-collector", "jaeger"} {
			if _, ok := project.Services[name]; !ok {
				t.Errorf("no service %s", name)
			}
		}
		for _, name := range []string{"node1", "node2", "node3"} {
			dep, ok := project.Services[name].DependsOn["certs"]
			if !ok || dep.Condition != "service_completed_successfully" {
				t.Errorf("%s must wait for certs to complete successfully", name)
			}
		}
	})
}

func TestDockerfile_ImagesArePinned(t *testing.T) {
	stages, err := ParseDockerfile(filepath.Join(repoRoot(t), DockerfilePath))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range stages {
		names = append(names, s.Name)
		if slices.ContainsFunc(stages, func(o Stage) bool { return o.Name == s.From }) {
			continue // built on an earlier stage
		}
		if err := ImagePinned(s.From); err != nil {
			t.Errorf("stage %s: %v", s.Name, err)
		}
	}
	for name := range Services {
		if !slices.Contains(names, name) {
			t.Errorf("no target %s", name)
		}
	}
}
