package check

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func TestRules_Parse(t *testing.T) {
	root := repoRoot(t)
	rules, err := LoadRules(filepath.Join(root, AlertsFile))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("RunbookURLsPointToOperationsSections", func(t *testing.T) {
		anchors, err := MarkdownAnchors(filepath.Join(root, OperationsFile))
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				url := r.Annotations["runbook_url"]
				page, anchor, ok := strings.Cut(url, "#")
				if !ok || !strings.HasSuffix(page, "/"+OperationsFile) {
					t.Errorf("%s: runbook_url %q does not point into %s", r.Alert, url, OperationsFile)
					continue
				}
				if !anchors[anchor] {
					t.Errorf("%s: runbook_url %q: %s has no heading with anchor #%s", r.Alert, url, OperationsFile, anchor)
				}
				if anchor != strings.ToLower(r.Alert) {
					t.Errorf("%s: runbook_url anchor #%s, want #%s (the section named after the alert)", r.Alert, anchor, strings.ToLower(r.Alert))
				}
			}
		}
	})

	t.Run("PrometheusRuleHasTheSameGroups", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(root, "deploy/k8s/base/prometheusrule.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var pr struct {
			Spec RuleFile `json:"spec"`
		}
		if err := yaml.Unmarshal(data, &pr); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pr.Spec, *rules) {
			t.Errorf("deploy/k8s/base/prometheusrule.yaml and %s differ: keep their groups equal", AlertsFile)
		}
	})
}

func TestDashboard_Parse(t *testing.T) {
	d, err := LoadDashboard(filepath.Join(repoRoot(t), DashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Exprs()) == 0 {
		t.Fatal("the dashboard has no query")
	}
}

func TestMetricNames_EqualTheList(t *testing.T) {
	root := repoRoot(t)
	used, err := MetricNames(root)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := ReadNameList(filepath.Join(root, MetricsFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range used {
		if !slices.Contains(listed, n) {
			t.Errorf("%s is used by the alert rules or the dashboard but not listed in %s (is it exported?)", n, MetricsFile)
		}
	}
	for _, n := range listed {
		if !slices.Contains(used, n) {
			t.Errorf("%s is listed in %s but no alert rule or dashboard panel uses it", n, MetricsFile)
		}
	}
	if !slices.IsSorted(listed) {
		t.Errorf("%s is not sorted", MetricsFile)
	}
}

func TestMetricNames_StripsHistogramSuffixes(t *testing.T) {
	names, err := exprMetricNames(`histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket[5m]))) / b_total + {__name__="c_seconds_count"} + up`)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	if want := []string{"a_seconds", "b_total", "c_seconds"}; !slices.Equal(names, want) {
		t.Errorf("got %v, want %v", names, want)
	}
}
