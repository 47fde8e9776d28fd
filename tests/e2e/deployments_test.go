package e2e

// The monitoring files in deployments/ (the Grafana dashboard, the Prometheus alert rules and
// scrape configuration) are checked here: that they parse, that every PromQL expression in
// them is well formed enough to extract its metric names, and that those names are ones lynkr
// exports. checkMetricNamesExported is the live half: given the /metrics text of a running
// system, it fails for every name the dashboard or the alerts use that nothing exports.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Files under deployments/, relative to the repository root.
const (
	dashboardFile  = "deployments/grafana/lynkr-dashboard.json"
	alertRulesFile = "deployments/prometheus/alerts.yaml"
	promConfigFile = "deployments/prometheus/prometheus.yaml"
)

// repoFile is the path of a file given relative to the repository root, found by walking up
// from the test's working directory to the directory that holds go.work.
func repoFile(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(rel))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("no go.work above the working directory: cannot find %s", rel)
		}
		dir = parent
	}
}

// --- the Grafana dashboard

type grafanaDashboard struct {
	Title         string         `json:"title"`
	UID           string         `json:"uid"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []grafanaVariable `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Collapsed  bool               `json:"collapsed"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []grafanaTarget `json:"targets"`
	Panels  []grafanaPanel  `json:"panels"` // a collapsed row's panels
}

type grafanaTarget struct {
	RefID      string             `json:"refId"`
	Expr       string             `json:"expr"`
	Datasource *grafanaDatasource `json:"datasource"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaVariable struct {
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Query      json.RawMessage    `json:"query"`
	Datasource *grafanaDatasource `json:"datasource"`
}

// queryText is a query variable's query: Grafana writes it as a string or, since the
// Prometheus variable editor, as {"query": "...", "refId": "..."}.
func (v grafanaVariable) queryText() (string, error) {
	if len(v.Query) == 0 {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &o); err != nil {
		return "", fmt.Errorf("variable %q: query is neither a string nor {\"query\": ...}: %s", v.Name, v.Query)
	}
	return o.Query, nil
}

// loadDashboard reads and decodes the dashboard; raw is its top level as a map.
func loadDashboard(t testing.TB) (d grafanaDashboard, raw map[string]any) {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, dashboardFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d, raw
}

// allPanels is every panel of the dashboard, rows and the panels of collapsed rows included,
// in document order.
func allPanels(panels []grafanaPanel) []grafanaPanel {
	var out []grafanaPanel
	for _, p := range panels {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// --- the Prometheus rules and configuration

type promRuleFile struct {
	Groups []promRuleGroup `yaml:"groups"`
}

type promRuleGroup struct {
	Name     string     `yaml:"name"`
	Interval string     `yaml:"interval"`
	Limit    int        `yaml:"limit"`
	Rules    []promRule `yaml:"rules"`
}

type promRule struct {
	Alert         string            `yaml:"alert"`
	Record        string            `yaml:"record"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for"`
	KeepFiringFor string            `yaml:"keep_firing_for"`
	Labels        map[string]string `yaml:"labels"`
	Annotations   map[string]string `yaml:"annotations"`
}

type promConfig struct {
	Global        map[string]string `yaml:"global"`
	RuleFiles     []string          `yaml:"rule_files"`
	Alerting      yaml.Node         `yaml:"alerting"`
	ScrapeConfigs []struct {
		JobName        string `yaml:"job_name"`
		MetricsPath    string `yaml:"metrics_path"`
		ScrapeInterval string `yaml:"scrape_interval"`
		StaticConfigs  []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// decodeYAMLStrict decodes the single YAML document in file into v, failing on any field v
// does not have.
func decodeYAMLStrict(t testing.TB, file string, v any) {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, file))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		t.Fatalf("%s: more than one YAML document (%v)", file, err)
	}
}

func loadAlertRules(t testing.TB) promRuleFile {
	t.Helper()
	var f promRuleFile
	decodeYAMLStrict(t, alertRulesFile, &f)
	return f
}

// --- collecting the expressions

// deploymentExpr is one PromQL expression of deployments/ and where it is.
type deploymentExpr struct {
	Where string
	Expr  string
}

// deploymentExprs is every PromQL expression of the dashboard (panel targets, and the
// selectors inside the template variables' queries) and of the alert rules.
func deploymentExprs(t testing.TB) []deploymentExpr {
	t.Helper()
	var out []deploymentExpr
	d, _ := loadDashboard(t)
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			out = append(out, deploymentExpr{fmt.Sprintf("%s panel %d %q target %s", dashboardFile, p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, err := v.queryText()
		if err != nil {
			t.Fatalf("%s: %v", dashboardFile, err)
		}
		expr, err := grafanaVariableExpr(q)
		if err != nil {
			t.Fatalf("%s: variable %q: %v", dashboardFile, v.Name, err)
		}
		if expr != "" {
			out = append(out, deploymentExpr{fmt.Sprintf("%s variable %q", dashboardFile, v.Name), expr})
		}
	}
	for _, g := range loadAlertRules(t).Groups {
		for _, r := range g.Rules {
			out = append(out, deploymentExpr{fmt.Sprintf("%s group %q alert %q", alertRulesFile, g.Name, r.Alert), r.Expr})
		}
	}
	return out
}

// deploymentMetricNames is the sorted set of metric names the dashboard and the alert rules
// use, as written (a histogram's buckets as X_bucket). It fails the test on an expression it
// cannot read.
func deploymentMetricNames(t testing.TB) []string {
	t.Helper()
	var names []string
	for _, e := range deploymentExprs(t) {
		n, err := promqlMetricNames(e.Expr)
		if err != nil {
			t.Errorf("%s: %v\n\t%s", e.Where, err, e.Expr)
			continue
		}
		names = append(names, n...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// grafanaVariableExpr is the PromQL inside a Prometheus query variable's query: the selector
// of label_values(selector, label), the expression of query_result(expr), nothing for
// label_values(label), label_names() and metrics(regex), and any other query as it is.
func grafanaVariableExpr(q string) (string, error) {
	q = strings.TrimSpace(q)
	open := strings.IndexByte(q, '(')
	if open < 0 || !strings.HasSuffix(q, ")") {
		return q, nil
	}
	fn, inner := strings.TrimSpace(q[:open]), q[open+1:len(q)-1]
	switch fn {
	case "label_values":
		args, err := promqlSplitArgs(inner)
		if err != nil {
			return "", err
		}
		switch len(args) {
		case 1:
			return "", nil // label_values(label)
		case 2:
			return args[0], nil
		}
		return "", fmt.Errorf("label_values takes one or two arguments, got %d: %s", len(args), q)
	case "query_result":
		return inner, nil
	case "label_names", "metrics":
		return "", nil
	}
	return q, nil
}

// promqlSplitArgs splits a function's argument list at its top-level commas.
func promqlSplitArgs(s string) ([]string, error) {
	toks, err := promqlLex(s)
	if err != nil {
		return nil, err
	}
	var args []string
	depth, start := 0, 0
	for _, tk := range toks {
		switch tk.text {
		case "(", "{":
			depth++
		case ")", "}":
			depth--
		case ",":
			if depth == 0 && tk.kind == promqlPunct {
				args = append(args, strings.TrimSpace(s[start:tk.pos]))
				start = tk.pos + 1
			}
		}
	}
	return append(args, strings.TrimSpace(s[start:])), nil
}

// --- a small PromQL tokenizer

type promqlKind int

const (
	promqlIdent    promqlKind = iota // a metric, label, function or keyword name
	promqlNumber                     // a number or a duration: 0.95, 5m, 1h30m, 0x1f, 1e3
	promqlString                     // "...", '...' or `...`
	promqlRange                      // [5m], [1h:1m], [$__rate_interval], brackets included
	promqlVariable                   // a Grafana variable: $provider, ${provider}, $__rate_interval
	promqlPunct                      // ( ) { } , and the operators
)

type promqlToken struct {
	kind promqlKind
	text string
	pos  int
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

// promqlLex splits expr into tokens. Comments (# to the end of the line) are dropped.
func promqlLex(expr string) ([]promqlToken, error) {
	var toks []promqlToken
	for i := 0; i < len(expr); {
		c := expr[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			i++
			for i < len(expr) && expr[i] != c {
				if expr[i] == '\\' && c != '`' {
					i++
				}
				i++
			}
			if i >= len(expr) {
				return nil, fmt.Errorf("unterminated string at offset %d", start)
			}
			i++
			toks = append(toks, promqlToken{promqlString, expr[start:i], start})
		case c == '[':
			end := strings.IndexAny(expr[i+1:], "[]")
			if end < 0 || expr[i+1+end] != ']' {
				return nil, fmt.Errorf("unbalanced [ at offset %d", start)
			}
			i += end + 2
			toks = append(toks, promqlToken{promqlRange, expr[start:i], start})
		case c == ']':
			return nil, fmt.Errorf("unbalanced ] at offset %d", start)
		case c == '$':
			i++
			if i < len(expr) && expr[i] == '{' {
				end := strings.IndexByte(expr[i:], '}')
				if end < 0 {
					return nil, fmt.Errorf("unterminated ${ at offset %d", start)
				}
				i += end + 1
			} else {
				for i < len(expr) && isIdentChar(expr[i]) && expr[i] != ':' {
					i++
				}
			}
			if i == start+1 {
				return nil, fmt.Errorf("lone $ at offset %d", start)
			}
			toks = append(toks, promqlToken{promqlVariable, expr[start:i], start})
		case '0' <= c && c <= '9' || c == '.' && i+1 < len(expr) && '0' <= expr[i+1] && expr[i+1] <= '9':
			for i < len(expr) && (isIdentChar(expr[i]) && expr[i] != ':' || expr[i] == '.') {
				if (expr[i] == 'e' || expr[i] == 'E') && i+1 < len(expr) && (expr[i+1] == '+' || expr[i+1] == '-') {
					i++
				}
				i++
			}
			toks = append(toks, promqlToken{promqlNumber, expr[start:i], start})
		case isIdentStart(c):
			for i < len(expr) && isIdentChar(expr[i]) {
				i++
			}
			toks = append(toks, promqlToken{promqlIdent, expr[start:i], start})
		case strings.IndexByte("(){},+-*/%^@", c) >= 0:
			i++
			toks = append(toks, promqlToken{promqlPunct, expr[start:i], start})
		case strings.IndexByte("=!<>", c) >= 0:
			i++
			if i < len(expr) && (expr[i] == '=' || expr[i] == '~') {
				i++
			}
			if expr[start:i] == "!" {
				return nil, fmt.Errorf("lone ! at offset %d", start)
			}
			toks = append(toks, promqlToken{promqlPunct, expr[start:i], start})
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", c, start)
		}
	}
	return toks, nil
}

// promqlFunctions are PromQL's functions (and start/end of the @ modifier).
var promqlFunctions = map[string]bool{}

// promqlAggregations are PromQL's aggregation operators (case-insensitive in PromQL).
var promqlAggregations = map[string]bool{}

// promqlKeywords are PromQL's binary operators, modifiers and clause keywords; Inf and NaN are
// numbers.
var promqlKeywords = map[string]bool{}

// promqlLabelClauses are the keywords a parenthesised list of label names follows.
var promqlLabelClauses = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

func init() {
	for _, f := range strings.Fields(`abs absent absent_over_time ceil changes clamp clamp_max
		clamp_min day_of_month day_of_week day_of_year days_in_month delta deriv exp floor
		histogram_avg histogram_count histogram_fraction histogram_quantile histogram_stddev
		histogram_stdvar histogram_sum holt_winters double_exponential_smoothing hour idelta
		increase info irate label_join label_replace ln log2 log10 minute month predict_linear
		rate resets round scalar sgn sort sort_desc sort_by_label sort_by_label_desc sqrt time
		timestamp vector year avg_over_time min_over_time max_over_time sum_over_time
		count_over_time quantile_over_time stddev_over_time stdvar_over_time last_over_time
		present_over_time mad_over_time acos acosh asin asinh atan atanh cos cosh sin sinh tan
		tanh deg pi rad start end`) {
		promqlFunctions[f] = true
	}
	for _, a := range strings.Fields(`sum min max avg group stddev stdvar count count_values
		bottomk topk quantile limitk limit_ratio`) {
		promqlAggregations[a] = true
	}
	for _, k := range strings.Fields(`and or unless atan2 bool offset inf nan`) {
		promqlKeywords[k] = true
	}
	for k := range promqlLabelClauses {
		promqlKeywords[k] = true
	}
}

// promqlMetricNames is the metric names expr selects, in order of first appearance: every
// identifier that is not a function, aggregation, keyword or label name, plus the value of a
// __name__="..." matcher. It checks that (), {} and [] balance and that every call is of a
// known function, but is no full parser.
func promqlMetricNames(expr string) ([]string, error) {
	toks, err := promqlLex(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	var open []string // the unclosed ( and {
	next := func(i int) string {
		if i+1 < len(toks) {
			return toks[i+1].text
		}
		return ""
	}
	for i := 0; i < len(toks); i++ {
		tk := toks[i]
		inBraces := len(open) > 0 && open[len(open)-1] == "{"
		switch tk.kind {
		case promqlPunct:
			switch tk.text {
			case "(", "{":
				if inBraces {
					return nil, fmt.Errorf("%q inside a label matcher at offset %d", tk.text, tk.pos)
				}
				open = append(open, tk.text)
			case ")", "}":
				want := map[string]string{")": "(", "}": "{"}[tk.text]
				if len(open) == 0 || open[len(open)-1] != want {
					return nil, fmt.Errorf("unbalanced %s at offset %d", tk.text, tk.pos)
				}
				open = open[:len(open)-1]
			}
		case promqlRange:
			if inBraces {
				return nil, fmt.Errorf("range inside a label matcher at offset %d", tk.pos)
			}
		case promqlIdent:
			if inBraces {
				// A label name; __name__="x" selects the metric x.
				if tk.text == "__name__" && next(i) == "=" && i+2 < len(toks) && toks[i+2].kind == promqlString {
					add(strings.Trim(toks[i+2].text, "\"'`"))
				}
				continue
			}
			lower := strings.ToLower(tk.text)
			switch {
			case promqlLabelClauses[lower]:
				if next(i) != "(" {
					if lower == "group_left" || lower == "group_right" {
						continue // group_left without labels
					}
					return nil, fmt.Errorf("%s without a label list at offset %d", tk.text, tk.pos)
				}
				j := i + 2
				for ; j < len(toks) && toks[j].text != ")"; j++ {
					if toks[j].kind != promqlIdent && toks[j].text != "," {
						return nil, fmt.Errorf("%q in the label list of %s at offset %d", toks[j].text, tk.text, toks[j].pos)
					}
				}
				if j == len(toks) {
					return nil, fmt.Errorf("unbalanced ( after %s at offset %d", tk.text, tk.pos)
				}
				i = j
			case promqlKeywords[lower]:
			case promqlAggregations[lower] && (next(i) == "(" || promqlLabelClauses[strings.ToLower(next(i))]):
			case next(i) == "(":
				if !promqlFunctions[tk.text] {
					return nil, fmt.Errorf("unknown function %s at offset %d", tk.text, tk.pos)
				}
			default:
				add(tk.text)
			}
		}
	}
	if len(open) > 0 {
		return nil, fmt.Errorf("unbalanced %s: %d left open", open[len(open)-1], len(open))
	}
	return names, nil
}

// --- the exposition check

// checkMetricNamesExported fails t for each name in names, other than Prometheus's own up,
// that exposition (the text of one or more /metrics scrapes, concatenated) neither has a
// sample of nor declares with # TYPE. X_bucket is also found by a "# TYPE X histogram", and
// X_sum and X_count by a histogram or summary X. Mind that a labelled metric no request has
// touched yet is not in the exposition at all.
func checkMetricNamesExported(t testing.TB, names []string, exposition string) {
	t.Helper()
	types := map[string]string{}
	samples := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "#") {
			if f := strings.Fields(line); len(f) >= 4 && f[1] == "TYPE" {
				types[f[2]] = f[3]
			}
			continue
		}
		if end := strings.IndexAny(line, "{ \t"); end > 0 {
			samples[line[:end]] = true
		}
	}
	for _, n := range names {
		if n == "up" || samples[n] || types[n] != "" {
			continue
		}
		if base, ok := strings.CutSuffix(n, "_bucket"); ok && types[base] == "histogram" {
			continue
		}
		base, ok := strings.CutSuffix(n, "_sum")
		if !ok {
			base, ok = strings.CutSuffix(n, "_count")
		}
		if ok && (types[base] == "histogram" || types[base] == "summary") {
			continue
		}
		t.Errorf("metric %s is used in deployments/ (dashboard or alert rules) but no scraped /metrics exports it", n)
	}
}

// --- tests

var grafanaDurationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// grafanaBuiltinVariables are the variables Grafana defines itself.
var grafanaBuiltinVariables = map[string]bool{
	"__rate_interval": true, "__interval": true, "__interval_ms": true, "__range": true,
	"__range_s": true, "__range_ms": true, "__dashboard": true, "__from": true, "__to": true,
}

var grafanaVariableRefRE = regexp.MustCompile(`\$\{?(\w+)`)

func TestDeploymentsParse(t *testing.T) {
	t.Run("dashboard", func(t *testing.T) {
		d, raw := loadDashboard(t)
		for _, k := range []string{"title", "uid", "schemaVersion", "panels", "templating", "time", "annotations"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("dashboard has no top-level %q", k)
			}
		}
		if d.Title == "" || d.UID == "" {
			t.Errorf("dashboard title %q, uid %q: both must be set", d.Title, d.UID)
		}
		if d.SchemaVersion < 36 {
			t.Errorf("schemaVersion %d: want a current one (36 or later)", d.SchemaVersion)
		}

		vars := map[string]grafanaVariable{}
		for _, v := range d.Templating.List {
			if _, dup := vars[v.Name]; dup {
				t.Errorf("template variable %q defined twice", v.Name)
			}
			vars[v.Name] = v
		}
		if v := vars["DS_PROMETHEUS"]; v.Type != "datasource" {
			t.Errorf("want a datasource variable DS_PROMETHEUS, got %+v", v)
		}
		for _, name := range []string{"provider", "instance"} {
			v := vars[name]
			q, err := v.queryText()
			if v.Type != "query" || err != nil || !strings.HasPrefix(q, "label_values(") {
				t.Errorf("want a label_values query variable %q, got type %q query %q (%v)", name, v.Type, q, err)
			}
		}

		ids := map[int]string{}
		nTargets := 0
		checkPanel := func(p grafanaPanel, nested bool) {
			if p.Title == "" {
				t.Errorf("panel %d (%s) has no title", p.ID, p.Type)
			}
			if other, dup := ids[p.ID]; dup {
				t.Errorf("panel id %d used by %q and %q", p.ID, other, p.Title)
			}
			ids[p.ID] = p.Title
			if g := p.GridPos; g == nil || g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 || g.Y < 0 {
				t.Errorf("panel %d %q: bad gridPos %+v", p.ID, p.Title, p.GridPos)
			}
			if p.Type == "row" {
				if nested {
					t.Errorf("row %d %q inside a row", p.ID, p.Title)
				}
				if !p.Collapsed && len(p.Panels) > 0 {
					t.Errorf("row %d %q is expanded but holds panels: Grafana keeps only a collapsed row's panels inside it", p.ID, p.Title)
				}
				return
			}
			if p.Datasource == nil || p.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %d %q: datasource %+v, want uid ${DS_PROMETHEUS}", p.ID, p.Title, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %d %q has no targets", p.ID, p.Title)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				nTargets++
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("panel %d %q target %s has an empty expr", p.ID, p.Title, tg.RefID)
				}
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("panel %d %q: target refId %q empty or repeated", p.ID, p.Title, tg.RefID)
				}
				refs[tg.RefID] = true
				for _, m := range grafanaVariableRefRE.FindAllStringSubmatch(tg.Expr, -1) {
					if _, ok := vars[m[1]]; !ok && !grafanaBuiltinVariables[m[1]] {
						t.Errorf("panel %d %q uses undefined variable $%s", p.ID, p.Title, m[1])
					}
				}
			}
		}
		for _, p := range d.Panels {
			checkPanel(p, false)
			for _, c := range p.Panels {
				checkPanel(c, true)
			}
		}
		if len(ids) < 20 || nTargets < 30 {
			t.Errorf("dashboard has %d panels and %d targets: fewer than expected", len(ids), nTargets)
		}
	})

	t.Run("alert rules", func(t *testing.T) {
		f := loadAlertRules(t)
		if len(f.Groups) == 0 {
			t.Fatal("no rule groups")
		}
		seen := map[string]bool{}
		for _, g := range f.Groups {
			if g.Name == "" || len(g.Rules) == 0 {
				t.Errorf("group %q: want a name and rules", g.Name)
			}
			for _, r := range g.Rules {
				if r.Alert == "" || r.Record != "" {
					t.Errorf("group %q: rule %q/%q: this file holds alerting rules only", g.Name, r.Alert, r.Record)
				}
				if seen[r.Alert] {
					t.Errorf("alert %q defined twice", r.Alert)
				}
				seen[r.Alert] = true
				if strings.TrimSpace(r.Expr) == "" {
					t.Errorf("alert %q has no expr", r.Alert)
				}
				if !grafanaDurationRE.MatchString(r.For) {
					t.Errorf("alert %q: for %q is not a duration", r.Alert, r.For)
				}
				if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
					t.Errorf("alert %q: severity %q, want critical, warning or info", r.Alert, s)
				}
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("alert %q has no annotations.%s", r.Alert, a)
					}
				}
			}
		}
		for _, want := range []string{"LynkrHighErrorRate", "LynkrHighLatencyP95", "LynkrCircuitBreakerOpen",
			"LynkrLoadShedding", "LynkrInstanceDown", "LynkrClusterInstancesDropped",
			"LynkrJetStreamBacklogGrowing", "LynkrRedeliveries", "LynkrHighRetryRate"} {
			if !seen[want] {
				t.Errorf("no alert %s", want)
			}
		}
	})

	t.Run("prometheus config", func(t *testing.T) {
		var c promConfig
		decodeYAMLStrict(t, promConfigFile, &c)
		dir := filepath.Dir(repoFile(t, promConfigFile))
		if !slices.Contains(c.RuleFiles, "alerts.yaml") {
			t.Errorf("rule_files %q does not load alerts.yaml", c.RuleFiles)
		}
		for _, rf := range c.RuleFiles {
			if _, err := os.Stat(filepath.Join(dir, rf)); err != nil {
				t.Errorf("rule file %s: %v", rf, err)
			}
		}
		jobs := map[string]bool{}
		for _, sc := range c.ScrapeConfigs {
			jobs[sc.JobName] = true
			if !strings.HasPrefix(sc.JobName, "lynkr") {
				t.Errorf("job %q: the alerts and the dashboard select job=~\"lynkr.*\"", sc.JobName)
			}
			if len(sc.StaticConfigs) == 0 || len(sc.StaticConfigs[0].Targets) == 0 {
				t.Errorf("job %q has no targets", sc.JobName)
			}
		}
		for _, want := range []string{"lynkr-gateway", "lynkr-worker", "lynkr-aggregator"} {
			if !jobs[want] {
				t.Errorf("no scrape job %s", want)
			}
		}
	})

	t.Run("expressions", func(t *testing.T) {
		// deploymentMetricNames fails for an expression whose brackets do not balance, that
		// calls an unknown function, or that it cannot otherwise read.
		names := deploymentMetricNames(t)
		if len(names) < 30 {
			t.Errorf("only %d metric names found in deployments/: %q", len(names), names)
		}
	})
}

func TestDeploymentsPromQLNames(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`histogram_quantile(0.95, sum by (le, provider) (rate(lynkr_request_duration_seconds_bucket{provider=~"$provider"}[5m])))`,
			[]string{"lynkr_request_duration_seconds_bucket"}},
		{`sum by (provider) (rate(lynkr_errors_total[5m])) / sum by (provider) (rate(lynkr_requests_total[5m])) > 0.05`,
			[]string{"lynkr_errors_total", "lynkr_requests_total"}},
		{`sum(rate(a_total[$__rate_interval])) without (instance, job)`, []string{"a_total"}},
		{`SUM BY (le) (rate(b_bucket[1h30m]))`, []string{"b_bucket"}}, // aggregations ignore case
		{`sum(RATE(b_bucket[1h30m]))`, nil},                           // functions do not
		{`a / on(instance) group_left(version) b * ignoring (x) group_right c`, []string{"a", "b", "c"}},
		{`up{job=~"lynkr.*"} == 0`, []string{"up"}},
		{`max_over_time(lynkr_cluster_instances[15m] offset 1h) > bool 2`, []string{"lynkr_cluster_instances"}},
		{`{__name__="lynkr_active_requests", instance="a"}`, []string{"lynkr_active_requests"}},
		{`label_replace(foo, "dst", "$1", "src", "(.*)")`, []string{"foo"}},
		{`count(y{state="open", provider=~"${provider}"} == 1) or vector(0)`, []string{"y"}},
		{"sum_over_time(z[1h:5m]) # not_a_metric here\n + w @ start()", []string{"z", "w"}},
		{`rate(job:lynkr_requests:rate5m[1m]) > Inf or x < -NaN and x > .5e-3`, []string{"job:lynkr_requests:rate5m", "x"}},
		{`topk(5, sum by (provider) (q)) unless quantile(0.9, q)`, []string{"q"}},
		{`max by (provider) (2 * s{state="open"} or s{state="half_open"} or 0 * s{state="closed"})`, []string{"s"}},
	} {
		got, err := promqlMetricNames(tc.expr)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%s: want an error, got %q", tc.expr, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q, %v\nwant %q", tc.expr, got, err, tc.want)
		}
	}
	for _, bad := range []string{
		`rate(x[5m]`, `rate(x[5m]))`, `x{a="b"`, `x}`, `rate(x[5m)`, `x]`, `"unterminated`,
		`histogram_quantil(0.9, x)`, `sum by le (x)`, `x{a=~"b"[5m]}`, `x ! y`, `x & y`,
	} {
		if got, err := promqlMetricNames(bad); err == nil {
			t.Errorf("%s: want an error, got %q", bad, got)
		}
	}
	for q, want := range map[string]string{
		`label_values(up{job=~"lynkr.*"}, job)`:          `up{job=~"lynkr.*"}`,
		`label_values(lynkr_requests_total, provider)`:   `lynkr_requests_total`,
		`label_values(provider)`:                         ``,
		`query_result(max by (a, b) (foo))`:              `max by (a, b) (foo)`,
		`metrics(lynkr_.*)`:                              ``,
		`sum(bar)`:                                       `sum(bar)`,
		`label_values(x{a="1,2", b=~"(c|d)"}, provider)`: `x{a="1,2", b=~"(c|d)"}`,
	} {
		if got, err := grafanaVariableExpr(q); err != nil || got != want {
			t.Errorf("grafanaVariableExpr(%s) = %q, %v; want %q", q, got, err, want)
		}
	}
}

// lynkrExportedMetrics is every metric lynkr's services export, with its type: the table
// the static check below holds the monitoring files to until the live check against scraped
// /metrics covers them all.
var lynkrExportedMetrics = []struct{ name, typ string }{
	// gateway (and the all-in-one)
	{"lynkr_requests_total", "counter"},
	{"lynkr_request_duration_seconds", "histogram"},
	{"lynkr_time_to_first_token_seconds", "histogram"},
	{"lynkr_errors_total", "counter"},
	{"lynkr_active_requests", "gauge"},
	{"lynkr_load_shedding_rejected_total", "counter"},
	{"lynkr_load_shedding_active", "gauge"},
	{"lynkr_tokens_input_total", "counter"},
	{"lynkr_tokens_output_total", "counter"},
	{"lynkr_tokens_cached_total", "counter"},
	{"lynkr_cache_hits_total", "counter"},
	{"lynkr_cache_misses_total", "counter"},
	{"lynkr_circuit_breaker_state", "gauge"},
	{"lynkr_jetstream_backlog", "gauge"},
	// worker
	{"lynkr_loop_guard_refused_total", "counter"},
	{"lynkr_tenant_refused_total", "counter"},
	{"lynkr_tenant_store_errors_total", "counter"},
	{"lynkr_spend_charged_requests_total", "counter"},
	{"lynkr_queue_wait_seconds", "histogram"},
	{"lynkr_upstream_duration_seconds", "histogram"},
	{"lynkr_upstream_requests_total", "counter"},
	{"lynkr_retries_total", "counter"},
	{"lynkr_redeliveries_total", "counter"},
	{"lynkr_fallbacks_total", "counter"},
	{"lynkr_worker_active_requests", "gauge"},
	// aggregator
	{"lynkr_cluster_instances", "gauge"},
	{"lynkr_cluster_circuit_breaker_state", "gauge"},
	{"lynkr_cluster_backlog", "gauge"},
	{"lynkr_cluster_request_rate", "gauge"},
	{"lynkr_cluster_error_rate", "gauge"},
	{"lynkr_cluster_active_requests", "gauge"},
	{"lynkr_cluster_shedding_instances", "gauge"},
	{"lynkr_cluster_token_rate", "gauge"},
	// the standard Go and process collectors of every service
	{"go_goroutines", "gauge"},
	{"go_threads", "gauge"},
	{"go_gc_duration_seconds", "summary"},
	{"go_memstats_alloc_bytes", "gauge"},
	{"go_memstats_heap_alloc_bytes", "gauge"},
	{"go_memstats_heap_inuse_bytes", "gauge"},
	{"go_memstats_sys_bytes", "gauge"},
	{"process_cpu_seconds_total", "counter"},
	{"process_resident_memory_bytes", "gauge"},
	{"process_virtual_memory_bytes", "gauge"},
	{"process_open_fds", "gauge"},
	{"process_start_time_seconds", "gauge"},
}

// recordingTB collects a check's failures instead of failing the test.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestDeploymentsUseKnownMetricNames(t *testing.T) {
	var expo strings.Builder
	for _, m := range lynkrExportedMetrics {
		fmt.Fprintf(&expo, "# HELP %s test\n# TYPE %s %s\n", m.name, m.name, m.typ)
	}
	names := deploymentMetricNames(t)
	checkMetricNamesExported(t, names, expo.String())

	// Every lynkr metric has a place on the dashboard or in the alerts.
	for _, m := range lynkrExportedMetrics {
		if !strings.HasPrefix(m.name, "lynkr_") {
			continue
		}
		used := slices.Contains(names, m.name) || m.typ == "histogram" && slices.Contains(names, m.name+"_bucket")
		if !used {
			t.Errorf("metric %s is exported but neither the dashboard nor the alert rules use it", m.name)
		}
	}

	// The checker itself: samples, # TYPE lines and histogram parts count; up is Prometheus's.
	rec := &recordingTB{TB: t}
	checkMetricNamesExported(rec, []string{"up", "a_total", "h_bucket", "h_sum", "s_count", "g", "missing", "s_bucket"}, `
# HELP a_total a counter
# TYPE a_total counter
a_total{provider="openai",status="200"} 3
# TYPE h histogram
# TYPE s summary
g 1
`)
	want := []string{"missing", "s_bucket"}
	if len(rec.errs) != len(want) {
		t.Fatalf("checkMetricNamesExported reported %q, want failures for %q", rec.errs, want)
	}
	for i, w := range want {
		if !strings.Contains(rec.errs[i], " "+w+" ") {
			t.Errorf("failure %d %q does not name %s", i, rec.errs[i], w)
		}
	}
}
