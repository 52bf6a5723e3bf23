package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// selector is one series selector of a PromQL expression: a metric name
// and its equality matchers (the only ones a presence check can use).
type selector struct {
	name  string
	equal map[string]string
}

func (s selector) String() string {
	var m []string
	for k, v := range s.equal {
		m = append(m, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(m)
	return s.name + "{" + strings.Join(m, ",") + "}"
}

var (
	promqlStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promqlGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlRanges   = regexp.MustCompile(`\[[^\]]*\]`)
	promqlIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promqlMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"`)
	promqlKeywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true}
)

// selectors returns every series selector of a PromQL expression (an
// alerting rule's expr or a dashboard query; Grafana's $variables allowed).
// It knows PromQL's shape, not its whole grammar: identifiers that are
// not functions, keywords, label names or durations are metric names.
func selectors(expr string) []selector {
	// Label matchers first, with their braces, before strings go.
	type pending struct {
		at    int
		equal map[string]string
	}
	var matchers []pending
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		if expr[i] != '{' {
			b.WriteByte(expr[i])
			continue
		}
		j := strings.IndexByte(expr[i:], '}')
		if j < 0 {
			break
		}
		eq := map[string]string{}
		for _, m := range promqlMatcher.FindAllStringSubmatch(expr[i+1:i+j], -1) {
			if m[2] == "=" && !strings.Contains(m[3], "$") { // a Grafana variable matches anything
				eq[m[1]] = m[3]
			}
		}
		matchers = append(matchers, pending{at: b.Len(), equal: eq})
		b.WriteString(" \x00 ") // where the matcher was
		i += j
	}
	s := b.String()
	s = promqlStrings.ReplaceAllString(s, " ")
	s = promqlRanges.ReplaceAllStringFunc(s, func(r string) string { return strings.Repeat(" ", len(r)) })
	s = promqlGrouping.ReplaceAllStringFunc(s, func(r string) string { return strings.Repeat(" ", len(r)) })
	var out []selector
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if promqlKeywords[strings.ToLower(name)] {
			continue
		}
		if loc[0] > 0 && (s[loc[0]-1] == '$' || s[loc[0]-1] >= '0' && s[loc[0]-1] <= '9') {
			continue // a Grafana variable, or a duration's unit (offset 1h)
		}
		rest := strings.TrimLeft(s[loc[1]:], " \t\n")
		if strings.HasPrefix(rest, "(") { // a function or aggregation
			continue
		}
		sel := selector{name: name, equal: map[string]string{}}
		if strings.HasPrefix(rest, "\x00") {
			at := len(s) - len(rest) - 1 // position of the space before \x00
			for _, m := range matchers {
				if m.at == at {
					sel.equal = m.equal
				}
			}
		}
		out = append(out, sel)
	}
	return out
}

func TestSelectors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`up{job="resolverd"} == 0`, []string{`up{job="resolverd"}`}},
		{`sum by (instance, job) (rate(coredns_recursor_requests_total{result="servfail"}[5m])) / sum by (instance) (rate(coredns_recursor_requests_total[5m])) > 0.05`,
			[]string{`coredns_recursor_requests_total{result="servfail"}`, `coredns_recursor_requests_total{}`}},
		{`max by (cluster) (a * on (instance) group_left (cluster, node) b_info) - on (cluster) group_right () (c > 0)`,
			[]string{`a{}`, `b_info{}`, `c{}`}},
		{`ceil(max_over_time(resolverd:cluster_nodes[1h]) * 0.5) or x offset 1h`, []string{`resolverd:cluster_nodes{}`, `x{}`}},
		{`histogram_quantile(0.9, sum by (le, to) (rate(m_bucket{instance=~"$instance",a="b"}[$__rate_interval])))`,
			[]string{`m_bucket{a="b"}`}},
		{`time() - last_sync_seconds{instance=~"$instance"} > 900`, []string{`last_sync_seconds{}`}},
		{`node_info{cluster="$cluster",a="b"}`, []string{`node_info{a="b"}`}},
	} {
		var got []string
		for _, s := range selectors(tc.expr) {
			got = append(got, s.String())
		}
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("selectors(%s)\n got %q\nwant %q", tc.expr, got, tc.want)
		}
	}
}

// ruleSelectors reads every expression of a Prometheus rules file: the
// selectors and the names of the rules it records (not the node's).
func ruleSelectors(t *testing.T, path string) (sels []selector, recorded map[string]bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record, Alert, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	recorded = map[string]bool{}
	seen := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			for _, s := range selectors(r.Expr) {
				if !seen[s.String()] {
					seen[s.String()] = true
					sels = append(sels, s)
				}
			}
		}
	}
	if len(sels) == 0 {
		t.Fatalf("%s: no expressions", path)
	}
	return sels, recorded
}

// scrape is one scrape of a node's metrics: family name -> family.
type scrape map[string]*dto.MetricFamily

func scrapeNode(t *testing.T, port int) scrape {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return fams
}

// series returns the samples of name (histogram: name may end in _bucket,
// _sum or _count) whose labels include equal, with their values.
func (s scrape) series(name string, equal map[string]string) []float64 {
	fam, suffix := s[name], ""
	if fam == nil {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if f := s[strings.TrimSuffix(name, suf)]; f != nil && strings.HasSuffix(name, suf) {
				fam, suffix = f, suf
			}
		}
	}
	if fam == nil {
		return nil
	}
	var out []float64
next:
	for _, m := range fam.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range equal {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			out = append(out, m.Counter.GetValue())
		case m.Gauge != nil:
			out = append(out, m.Gauge.GetValue())
		case m.Histogram != nil && suffix == "_sum":
			out = append(out, m.Histogram.GetSampleSum())
		case m.Histogram != nil:
			out = append(out, float64(m.Histogram.GetSampleCount()))
		case m.Untyped != nil:
			out = append(out, m.Untyped.GetValue())
		}
	}
	return out
}

// value is the one sample of name with labels equal; the test fails
// unless there is exactly one.
func (s scrape) value(t *testing.T, name string, equal map[string]string) float64 {
	t.Helper()
	v := s.series(name, equal)
	if len(v) != 1 {
		t.Fatalf("%s%v: %d series, want 1", name, equal, len(v))
	}
	return v[0]
}
