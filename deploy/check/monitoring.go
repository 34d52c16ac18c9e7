package check

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

// Paths of the monitoring files, relative to the repository root.
const (
	AlertsFile     = "deploy/monitoring/alerts.yaml"
	DashboardFile  = "deploy/monitoring/dashboards/loans.json"
	MetricsFile    = "deploy/monitoring/metrics.txt"
	OperationsFile = "docs/OPERATIONS.md"
)

// RuleFile is a Prometheus rule file. It is decoded strictly (unknown or duplicate fields are errors)
// instead of with prometheus/model/rulefmt, which would bring Prometheus's template engine and storage
// into this module for the same check.
type RuleFile struct {
	Groups []RuleGroup `json:"groups"`
}

// RuleGroup is one group of rules.
type RuleGroup struct {
	Name     string `json:"name"`
	Interval string `json:"interval,omitempty"`
	Rules    []Rule `json:"rules"`
}

// Rule is an alerting or a recording rule.
type Rule struct {
	Alert         string            `json:"alert,omitempty"`
	Record        string            `json:"record,omitempty"`
	Expr          string            `json:"expr"`
	For           string            `json:"for,omitempty"`
	KeepFiringFor string            `json:"keep_firing_for,omitempty"`
	Labels        map[string]string `json:"labels,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// LoadRules decodes a rule file strictly and checks every rule: one of alert and record, an expression
// that parses, valid durations, and for alerts a summary, a description and a runbook_url.
func LoadRules(path string) (*RuleFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f RuleFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &f, nil
}

func (f *RuleFile) validate() error {
	if len(f.Groups) == 0 {
		return fmt.Errorf("no rule groups")
	}
	groups := map[string]bool{}
	for _, g := range f.Groups {
		if g.Name == "" || groups[g.Name] {
			return fmt.Errorf("group name %q is empty or repeated", g.Name)
		}
		groups[g.Name] = true
		if err := checkDuration(g.Interval); err != nil {
			return fmt.Errorf("group %s: interval: %w", g.Name, err)
		}
		for i, r := range g.Rules {
			name := r.Alert + r.Record
			where := fmt.Sprintf("group %s, rule %d (%s)", g.Name, i, name)
			if (r.Alert == "") == (r.Record == "") {
				return fmt.Errorf("%s: exactly one of alert and record must be set", where)
			}
			if r.Record != "" && !model.IsValidLegacyMetricName(r.Record) {
				return fmt.Errorf("%s: record %q is not a metric name", where, r.Record)
			}
			if _, err := ParseExpr(r.Expr); err != nil {
				return fmt.Errorf("%s: expr: %w", where, err)
			}
			if err := checkDuration(r.For); err != nil {
				return fmt.Errorf("%s: for: %w", where, err)
			}
			if err := checkDuration(r.KeepFiringFor); err != nil {
				return fmt.Errorf("%s: keep_firing_for: %w", where, err)
			}
			if r.Alert != "" {
				for _, a := range []string{"summary", "description", "runbook_url"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						return fmt.Errorf("%s: annotation %s is missing", where, a)
					}
				}
			}
		}
	}
	return nil
}

func checkDuration(s string) error {
	if s == "" {
		return nil
	}
	_, err := model.ParseDuration(s)
	return err
}

// ParseExpr parses a PromQL expression as Prometheus does.
func ParseExpr(expr string) (parser.Expr, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("empty expression")
	}
	return parser.NewParser(parser.Options{}).ParseExpr(expr)
}

// Dashboard is the part of a Grafana dashboard the checks read.
type Dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []Panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query string `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

// Panel is a dashboard panel (rows hold panels of their own when collapsed).
type Panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *Datasource `json:"datasource"`
	Targets    []Target    `json:"targets"`
	Panels     []Panel     `json:"panels"`
}

// Target is a panel's query.
type Target struct {
	RefID      string      `json:"refId"`
	Expr       string      `json:"expr"`
	Datasource *Datasource `json:"datasource"`
}

// Datasource names a data source by type and UID (here the dashboard variable ${datasource}).
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// grafanaVars are Grafana's built-in interval variables, replaced by a duration before parsing.
var grafanaVars = regexp.MustCompile(`\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}`)

// LoadDashboard parses the dashboard and checks it: a Prometheus data source variable, every panel with a
// query, every query on that variable and parsing as PromQL, panel IDs distinct.
func LoadDashboard(path string) (*Dashboard, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d Dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := d.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &d, nil
}

func (d *Dashboard) validate() error {
	if d.UID == "" || d.Title == "" {
		return fmt.Errorf("uid and title are required")
	}
	hasVar := slices.ContainsFunc(d.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query string `json:"query"`
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasVar {
		return fmt.Errorf(`no templating variable "datasource" of type datasource with query prometheus`)
	}
	ids := map[int]bool{}
	n := 0
	var walk func([]Panel) error
	walk = func(panels []Panel) error {
		for _, p := range panels {
			if ids[p.ID] {
				return fmt.Errorf("panel id %d is repeated", p.ID)
			}
			ids[p.ID] = true
			if p.Type == "row" {
				if err := walk(p.Panels); err != nil {
					return err
				}
				continue
			}
			n++
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if len(p.Targets) == 0 {
				return fmt.Errorf("%s has no query", where)
			}
			if !usesVariable(p.Datasource) {
				return fmt.Errorf("%s: datasource is not the ${datasource} variable", where)
			}
			for _, t := range p.Targets {
				if t.Datasource != nil && !usesVariable(t.Datasource) {
					return fmt.Errorf("%s, query %s: datasource is not the ${datasource} variable", where, t.RefID)
				}
				if _, err := ParseExpr(grafanaExpr(t.Expr)); err != nil {
					return fmt.Errorf("%s, query %s: %w", where, t.RefID, err)
				}
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("no panels")
	}
	return nil
}

func usesVariable(ds *Datasource) bool {
	return ds != nil && ds.Type == "prometheus" && (ds.UID == "${datasource}" || ds.UID == "$datasource")
}

func grafanaExpr(expr string) string { return grafanaVars.ReplaceAllString(expr, "5m") }

// Exprs returns every query of the dashboard.
func (d *Dashboard) Exprs() []string {
	var out []string
	var walk func([]Panel)
	walk = func(panels []Panel) {
		for _, p := range panels {
			for _, t := range p.Targets {
				out = append(out, grafanaExpr(t.Expr))
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// synthetic are series Prometheus makes itself, not exported by any service.
var synthetic = map[string]bool{"up": true, "scrape_duration_seconds": true, "scrape_samples_scraped": true}

// MetricNames returns, sorted and once each, the metric names used by the alert rules and the dashboard of
// the repository at repoRoot: histogram series by their base name (without _bucket, _sum, _count), and
// without the series Prometheus makes itself (up). These are the names the services must export.
func MetricNames(repoRoot string) ([]string, error) {
	rules, err := LoadRules(filepath.Join(repoRoot, AlertsFile))
	if err != nil {
		return nil, err
	}
	dash, err := LoadDashboard(filepath.Join(repoRoot, DashboardFile))
	if err != nil {
		return nil, err
	}
	exprs := dash.Exprs()
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
		}
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		names, err := exprMetricNames(e)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", e, err)
		}
		for _, n := range names {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

func exprMetricNames(expr string) ([]string, error) {
	e, err := ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	var bad error
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			bad = fmt.Errorf("selector %s names no metric", vs)
			return nil
		}
		if !synthetic[name] {
			names = append(names, baseName(name))
		}
		return nil
	})
	return names, bad
}

func baseName(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

// ReadNameList reads a list of names, one a line; blank lines and lines starting with # are skipped.
func ReadNameList(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}

var headingRE = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*$`)

// MarkdownAnchors returns the anchors GitHub gives the headings of a Markdown file.
func MarkdownAnchors(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(string(data), -1) {
		out[githubAnchor(m[1])] = true
	}
	return out, nil
}

func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}
