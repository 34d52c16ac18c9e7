package check

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
)

var overlays = []string{"dev", "prod"}

func renderOverlay(t *testing.T, overlay string) []Object {
	t.Helper()
	objs, err := Render(filepath.Join(repoRoot(t), "deploy/k8s/overlays", overlay))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find[T any](objs []Object) map[string]T {
	out := map[string]T{}
	for _, o := range objs {
		if v, ok := o.Obj.(T); ok {
			out[o.Name] = v
		}
	}
	return out
}

func TestOverlays_Render(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			objs := renderOverlay(t, overlay)
			deployments := find[*appsv1.Deployment](objs)
			cronJobs := find[*batchv1.CronJob](objs)

			t.Run("EveryServiceHasADeploymentAndAService", func(t *testing.T) {
				services := find[*corev1.Service](objs)
				for name := range Services {
					if deployments[name] == nil || services[name] == nil {
						t.Errorf("%s: Deployment or Service missing", name)
					}
					if s := services[name]; s != nil && !slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "admin" }) {
						t.Errorf("Service %s has no port admin (the ServiceMonitor scrapes it)", name)
					}
				}
			})

			t.Run("PodsAreHardened", func(t *testing.T) {
				for name, d := range deployments {
					checkPod(t, "Deployment "+name, d.Spec.Template.Spec, true)
				}
				for name, c := range cronJobs {
					checkPod(t, "CronJob "+name, c.Spec.JobTemplate.Spec.Template.Spec, false)
				}
			})

			t.Run("ProjectorAndPublisherAreSingleActive", func(t *testing.T) {
				for _, name := range []string{"projector-service", "publisher-service"} {
					d := deployments[name]
					if d == nil {
						continue
					}
					if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
						t.Errorf("%s: replicas %v, want 1", name, d.Spec.Replicas)
					}
					if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
						t.Errorf("%s: strategy %q, want Recreate", name, d.Spec.Strategy.Type)
					}
				}
				for _, hpa := range find[*autoscalingv2.HorizontalPodAutoscaler](objs) {
					if n := hpa.Spec.ScaleTargetRef.Name; n == "projector-service" || n == "publisher-service" {
						t.Errorf("HPA %s scales the single-active %s", hpa.Name, n)
					}
				}
			})

			t.Run("APIServicesScaleWithHPAAndPDB", func(t *testing.T) {
				hpas := find[*autoscalingv2.HorizontalPodAutoscaler](objs)
				pdbs := find[*policyv1.PodDisruptionBudget](objs)
				for _, name := range []string{"command-service", "query-service"} {
					hpa := hpas[name]
					if hpa == nil || hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != name {
						t.Errorf("%s: no HorizontalPodAutoscaler targeting its Deployment", name)
					} else if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas > hpa.Spec.MaxReplicas {
						t.Errorf("%s: HPA bounds %v..%d", name, hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
					}
					if pdbs[name] == nil {
						t.Errorf("%s: no PodDisruptionBudget", name)
					}
				}
			})

			t.Run("NetworkPoliciesDenyByDefault", func(t *testing.T) {
				deny := find[*networkingv1.NetworkPolicy](objs)["default-deny"]
				if deny == nil || len(deny.Spec.PodSelector.MatchLabels)+len(deny.Spec.PodSelector.MatchExpressions) != 0 ||
					len(deny.Spec.Ingress)+len(deny.Spec.Egress) != 0 || len(deny.Spec.PolicyTypes) != 2 {
					t.Error("no NetworkPolicy default-deny selecting every pod and denying ingress and egress")
				}
			})

			t.Run("MonitoringObjects", func(t *testing.T) {
				sms := find[*monitoringv1.ServiceMonitor](objs)
				if len(sms) != 1 {
					t.Fatalf("%d ServiceMonitors, want 1", len(sms))
				}
				for name, sm := range sms {
					if !slices.ContainsFunc(sm.Spec.Endpoints, func(e monitoringv1.Endpoint) bool { return e.Port == "admin" }) {
						t.Errorf("ServiceMonitor %s does not scrape the port admin", name)
					}
				}
				if len(find[*monitoringv1.PrometheusRule](objs)) != 1 {
					t.Error("no PrometheusRule")
				}
			})

			if overlay == "prod" {
				t.Run("SecretsComeFromTheSecretManager", func(t *testing.T) {
					if n := len(find[*corev1.Secret](objs)); n != 0 {
						t.Errorf("prod renders %d Secrets: they must come from the secret manager", n)
					}
				})
			}
		})
	}
}

func checkPod(t *testing.T, what string, spec corev1.PodSpec, probes bool) {
	t.Helper()
	sc := spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 ||
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod securityContext must set runAsNonRoot, runAsUser 65532 and seccompProfile RuntimeDefault", what)
	}
	if len(spec.InitContainers) > 0 {
		t.Errorf("%s: init containers are not checked; add them to the checks", what)
	}
	for _, c := range spec.Containers {
		where := what + ", container " + c.Name
		if err := ImagePinned(c.Image); err != nil {
			t.Errorf("%s: %v", where, err)
		}
		csc := c.SecurityContext
		if csc == nil || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
			csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation ||
			csc.RunAsNonRoot == nil || !*csc.RunAsNonRoot ||
			csc.Capabilities == nil || !slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("%s: securityContext must set readOnlyRootFilesystem, runAsNonRoot, allowPrivilegeEscalation false and drop ALL", where)
		}
		for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[res]; !ok {
				t.Errorf("%s: no %s request", where, res)
			}
			if _, ok := c.Resources.Limits[res]; !ok {
				t.Errorf("%s: no %s limit", where, res)
			}
		}
		if probes {
			checkProbe(t, where+": readinessProbe", c.ReadinessProbe, "/readyz")
			checkProbe(t, where+": livenessProbe", c.LivenessProbe, "/healthz")
		}
	}
}

func checkProbe(t *testing.T, what string, p *corev1.Probe, path string) {
	t.Helper()
	if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "admin" {
		t.Errorf("%s: want GET %s on the port admin", what, path)
	}
}

// manifestEnv is a variable a manifest sets for a service, and where.
type manifestEnv struct{ service, name, where string }

// kubeEnv returns the variables the rendered workloads set for our services, resolving envFrom through
// the rendered ConfigMaps and Secrets, and the names of the Deployments by service.
func kubeEnv(objs []Object) ([]manifestEnv, map[string]bool, error) {
	configMaps := find[*corev1.ConfigMap](objs)
	secrets := find[*corev1.Secret](objs)
	var out []manifestEnv
	deployed := map[string]bool{}
	add := func(kind, name string, spec corev1.PodSpec) error {
		for _, c := range spec.Containers {
			service := imageService(c.Image)
			if _, ok := Services[service]; !ok {
				continue
			}
			if kind == "Deployment" {
				deployed[service] = true
			}
			where := fmt.Sprintf("%s %s", kind, name)
			for _, e := range c.Env {
				out = append(out, manifestEnv{service, e.Name, where})
			}
			for _, src := range c.EnvFrom {
				switch {
				case src.ConfigMapRef != nil:
					cm := configMaps[src.ConfigMapRef.Name]
					if cm == nil {
						return fmt.Errorf("%s: envFrom ConfigMap %s is not rendered", where, src.ConfigMapRef.Name)
					}
					for k := range cm.Data {
						out = append(out, manifestEnv{service, src.Prefix + k, where + " (ConfigMap " + cm.Name + ")"})
					}
				case src.SecretRef != nil:
					s := secrets[src.SecretRef.Name]
					if s == nil {
						return fmt.Errorf("%s: envFrom Secret %s: its keys cannot be checked (use env with secretKeyRef)", where, src.SecretRef.Name)
					}
					for k := range s.StringData {
						out = append(out, manifestEnv{service, src.Prefix + k, where + " (Secret " + s.Name + ")"})
					}
					for k := range s.Data {
						out = append(out, manifestEnv{service, src.Prefix + k, where + " (Secret " + s.Name + ")"})
					}
				}
			}
		}
		return nil
	}
	for name, d := range find[*appsv1.Deployment](objs) {
		if err := add("Deployment", name, d.Spec.Template.Spec); err != nil {
			return nil, nil, err
		}
	}
	for name, c := range find[*batchv1.CronJob](objs) {
		if err := add("CronJob", name, c.Spec.JobTemplate.Spec.Template.Spec); err != nil {
			return nil, nil, err
		}
	}
	return out, deployed, nil
}

// imageService is the service an image runs: loanflow/command-service:1.0.0 -> command-service.
func imageService(image string) string {
	name := image[strings.LastIndex(image, "/")+1:]
	if i := strings.IndexAny(name, ":@"); i >= 0 {
		name = name[:i]
	}
	return name
}

func TestRender_IsStrict(t *testing.T) {
	cases := map[string]string{
		"UnknownField": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndatta:\n  K: v\n",
		"UnknownKind":  "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: a\n",
		"DuplicateField": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\nspec:\n  replicas: 1\n  replicas: 2\n" +
			"  selector:\n    matchLabels: {a: b}\n  template:\n    metadata:\n      labels: {a: b}\n    spec:\n      containers: [{name: a, image: a:1}]\n",
	}
	for name, manifest := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "kustomization.yaml"), "resources: [object.yaml]\n")
			writeFile(t, filepath.Join(dir, "object.yaml"), manifest)
			if _, err := Render(dir); err == nil {
				t.Fatal("rendered without an error")
			}
		})
	}
}

func TestImagePinned(t *testing.T) {
	for ref, ok := range map[string]bool{
		"mongo:8.0.4": true, "docker.kurrent.io/kurrent-latest/kurrentdb:25.0.0": true, "localhost:5000/a:1": true,
		"a@sha256:0123": true, "mongo": false, "mongo:latest": false, "localhost:5000/a": false, "": false,
	} {
		if err := ImagePinned(ref); (err == nil) != ok {
			t.Errorf("ImagePinned(%q) = %v, want pinned %v", ref, err, ok)
		}
	}
}
