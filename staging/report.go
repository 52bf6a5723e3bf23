package staging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/cluster/model"
)

// Status of one check.
type Status string

const (
	StatusPass Status = "pass"
	StatusWarn Status = "warn" // reported, never blocks
	StatusFail Status = "fail" // the verification fails
)

// Kind of check.
type Kind string

const (
	KindProbe    Kind = "probe"
	KindFallback Kind = "fallback"
	KindForward  Kind = "forward"
)

// Report is the outcome of one verification. It is what `dnsctl verify`
// prints and what is recorded in git for a promotion.
type Report struct {
	Revision    string    `json:"revision"`
	Cluster     string    `json:"cluster"`
	Environment string    `json:"environment"`
	Canary      bool      `json:"canary,omitempty"`
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	Wait        string    `json:"wait"`

	Pass     bool `json:"pass"`
	Failures int  `json:"failures"`
	Warnings int  `json:"warnings"`
	Passed   int  `json:"passed"`

	Nodes  []NodeResult `json:"nodes"`
	Checks []Check      `json:"checks"`
	Graph  Graph        `json:"graph"`
}

// NodeResult says which revision a node served.
type NodeResult struct {
	Name           string `json:"name"`
	Address        string `json:"address"`
	Served         string `json:"served"`
	ServesRevision bool   `json:"serves_revision"`
	Polls          int    `json:"polls"`
	Detail         string `json:"detail,omitempty"`
}

// Check is one probe, fallback comparison or forward target check.
type Check struct {
	Kind     Kind   `json:"kind"`
	Node     string `json:"node,omitempty"` // "" for forward targets (asked from the verifier)
	Subject  string `json:"subject"`
	Query    string `json:"query"`
	Gate     bool   `json:"gate,omitempty"`
	Status   Status `json:"status"`
	Expected string `json:"expected,omitempty"`
	Answer   string `json:"answer,omitempty"`
	Detail   string `json:"detail,omitempty"`

	order [3]int
}

// Graph is the forwarder graph of the revision, as the HTML page draws it.
type Graph struct {
	Clusters []GraphCluster `json:"clusters"`
	External []string       `json:"external,omitempty"` // targets outside the repo
	Edges    []GraphEdge    `json:"edges"`
}

// GraphCluster is one cluster of the revision.
type GraphCluster struct {
	Name     string `json:"name"`
	Verified bool   `json:"verified,omitempty"` // the cluster this report is about
}

// GraphEdge is one target of one forward rule.
type GraphEdge struct {
	From   string `json:"from"`
	To     string `json:"to"` // a cluster name, or the target address when outside the repo
	Zone   string `json:"zone"`
	Target string `json:"target"`
	Peer   bool   `json:"peer,omitempty"`
	Cycle  bool   `json:"cycle,omitempty"`
	Status Status `json:"status,omitempty"` // the forward check, for the verified cluster's edges
}

func graphOf(rev *model.Revision, verified string, checks []Check) Graph {
	fg := cluster.ForwardGraph(rev)
	g := Graph{}
	for _, c := range fg.Clusters {
		g.Clusters = append(g.Clusters, GraphCluster{Name: c, Verified: c == verified})
	}
	status := map[string]Status{}
	for _, ch := range checks {
		if ch.Kind == KindForward {
			status[ch.Subject] = ch.Status
		}
	}
	ext := map[string]bool{}
	for _, e := range fg.Edges {
		ge := GraphEdge{From: e.From, To: e.To, Zone: e.Rule.Zone, Target: e.Target.String(), Peer: e.Peer || e.Self, Cycle: e.InCycle}
		if ge.To == "" {
			ge.To = ge.Target
			if !ext[ge.Target] {
				ext[ge.Target] = true
				g.External = append(g.External, ge.Target)
			}
		}
		if e.From == verified {
			ge.Status = status[e.Rule.Zone+" -> "+ge.Target]
		}
		g.Edges = append(g.Edges, ge)
	}
	sort.Strings(g.External)
	return g
}

func (r *Report) tally() {
	r.Failures, r.Warnings, r.Passed = 0, 0, 0
	for _, n := range r.Nodes {
		if n.ServesRevision {
			r.Passed++
		} else {
			r.Failures++
		}
	}
	for _, c := range r.Checks {
		switch c.Status {
		case StatusPass:
			r.Passed++
		case StatusWarn:
			r.Warnings++
		default:
			r.Failures++
		}
	}
	r.Pass = r.Failures == 0
}

// Formats Render accepts.
var Formats = []string{"text", "markdown", "json", "html"}

// Render writes the report in format (text, markdown, json or html).
func (r *Report) Render(w io.Writer, format string) error {
	switch format {
	case "", "text":
		return r.renderText(w)
	case "markdown", "md":
		return r.renderMarkdown(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "html":
		return r.renderHTML(w)
	}
	return fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", "))
}

// ParseReport reads a report rendered as JSON.
func ParseReport(data []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &r, nil
}

func (r *Report) verdict() string {
	if r.Pass {
		return "PASS"
	}
	return "FAIL"
}

func (r *Report) title() string {
	canary := ""
	if r.Canary {
		canary = ", canary"
	}
	return fmt.Sprintf("verify %s on cluster %s (%s%s)", r.Revision, r.Cluster, r.Environment, canary)
}

func (r *Report) summary() string {
	return fmt.Sprintf("%d failures, %d warnings, %d passed", r.Failures, r.Warnings, r.Passed)
}

func (n NodeResult) status() Status {
	if n.ServesRevision {
		return StatusPass
	}
	return StatusFail
}

func (n NodeResult) text() string {
	if n.ServesRevision {
		return "serves the revision"
	}
	return n.Detail
}

func (c Check) subject() string {
	if c.Kind == KindProbe {
		s := c.Subject + " (" + c.Query + ")"
		if c.Gate {
			s += " gate"
		}
		return s
	}
	return c.Subject
}

func (c Check) text() string {
	if c.Detail != "" {
		return c.Detail
	}
	return c.Answer
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (r *Report) renderText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: %s\n", r.title(), r.verdict())
	fmt.Fprintf(&b, "started %s, finished %s\n\n", r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339))
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tADDRESS\tSTATUS\tREVISION")
	for _, n := range r.Nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Address, strings.ToUpper(string(n.status())), n.text())
	}
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tCHECK\tNODE\tSUBJECT\tRESULT")
	for _, c := range r.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", strings.ToUpper(string(c.Status)), c.Kind, orDash(c.Node), c.subject(), c.text())
	}
	tw.Flush()
	fmt.Fprintf(&b, "\n%s: %s\n", r.verdict(), r.summary())
	_, err := w.Write(b.Bytes())
	return err
}

var mdEscaper = strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")

func md(s string) string { return mdEscaper.Replace(s) }

func mdStatus(s Status) string {
	switch s {
	case StatusPass:
		return "✅ pass"
	case StatusWarn:
		return "⚠️ warn"
	}
	return "❌ fail"
}

func (r *Report) renderMarkdown(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## %s %s\n\n", mdStatus(map[bool]Status{true: StatusPass, false: StatusFail}[r.Pass]), md(r.title()))
	fmt.Fprintf(&b, "**%s**: %s. Started %s, finished %s.\n\n", r.verdict(), r.summary(), r.Started.Format(time.RFC3339), r.Finished.Format(time.RFC3339))
	b.WriteString("### Nodes\n\n| node | address | status | revision |\n|---|---|---|---|\n")
	for _, n := range r.Nodes {
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", md(n.Name), md(n.Address), mdStatus(n.status()), md(n.text()))
	}
	b.WriteString("\n### Checks\n\n| status | check | node | subject | result |\n|---|---|---|---|---|\n")
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdStatus(c.Status), c.Kind, md(orDash(c.Node)), md(c.subject()), md(c.text()))
	}
	_, err := w.Write(b.Bytes())
	return err
}

var htmlPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{.R.Verdict}}: {{.R.Title}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.3em; }
.pass { color: #1a7f37; } .warn { color: #9a6700; } .fail { color: #cf222e; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
code { font-size: 0.95em; }
svg { border: 1px solid #ddd; background: #fcfcfc; }
</style>
</head>
<body>
<h1 class="{{.Class}}">{{.R.Verdict}}: {{.R.Title}}</h1>
<p>{{.R.Summary}}. Started {{.Started}}, finished {{.Finished}}.</p>
<h2>Nodes</h2>
<table>
<tr><th>node</th><th>address</th><th>status</th><th>revision</th></tr>
{{range .R.Nodes}}<tr><td>{{.Name}}</td><td><code>{{.Address}}</code></td><td class="{{.Status}}">{{.Status}}</td><td>{{.Text}}</td></tr>
{{end}}</table>
<h2>Checks</h2>
<table>
<tr><th>status</th><th>check</th><th>node</th><th>subject</th><th>result</th></tr>
{{range .R.Checks}}<tr><td class="{{.Status}}">{{.Status}}</td><td>{{.Kind}}</td><td>{{.NodeOrDash}}</td><td>{{.SubjectText}}</td><td>{{.Text}}</td></tr>
{{end}}</table>
<h2>Forwarder graph</h2>
<p>Clusters of the revision (boxes; the verified one is bold), forward rules as arrows labelled with their zone,
targets outside the repo as ellipses. Red: a peer or a cycle, or a target that did not answer.</p>
{{.SVG}}
</body>
</html>
`))

// Exported views for the template.
type htmlNode struct{ NodeResult }

func (n htmlNode) Status() Status { return n.status() }
func (n htmlNode) Text() string   { return n.text() }

type htmlCheck struct{ Check }

func (c htmlCheck) NodeOrDash() string  { return orDash(c.Node) }
func (c htmlCheck) SubjectText() string { return c.subject() }
func (c htmlCheck) Text() string        { return c.text() }

type htmlReport struct {
	Verdict, Title, Summary string
	Nodes                   []htmlNode
	Checks                  []htmlCheck
}

func (r *Report) renderHTML(w io.Writer) error {
	hr := htmlReport{Verdict: r.verdict(), Title: r.title(), Summary: r.summary()}
	for _, n := range r.Nodes {
		hr.Nodes = append(hr.Nodes, htmlNode{n})
	}
	for _, c := range r.Checks {
		hr.Checks = append(hr.Checks, htmlCheck{c})
	}
	class := "fail"
	if r.Pass {
		class = "pass"
	}
	var b bytes.Buffer
	err := htmlPage.Execute(&b, map[string]any{
		"R":        hr,
		"Class":    class,
		"Started":  r.Started.Format(time.RFC3339),
		"Finished": r.Finished.Format(time.RFC3339),
		"SVG":      template.HTML(r.Graph.SVG()),
	})
	if err != nil {
		return err
	}
	_, err = w.Write(b.Bytes())
	return err
}

// SVG draws the graph: clusters on a circle, targets outside the repo on a
// row below, one arrow per forward rule target. No script, no external
// resource.
func (g Graph) SVG() string {
	const (
		width  = 760
		boxW   = 130
		boxH   = 34
		radius = 190
		cx     = width / 2
		cy     = 240
	)
	height := 2*cy + 40
	if len(g.External) > 0 {
		height += 80
	}
	pos := map[string][2]float64{}
	n := len(g.Clusters)
	for i, c := range g.Clusters {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(max(n, 1))
		r := float64(radius)
		if n == 1 {
			r = 0
		}
		pos[c.Name] = [2]float64{cx + r*math.Cos(a), cy + r*math.Sin(a)}
	}
	extY := float64(2*cy + 50)
	for i, e := range g.External {
		step := float64(width) / float64(len(g.External)+1)
		pos[e] = [2]float64{step * float64(i+1), extY}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="forwarder graph">`+"\n", width, height, width, height)
	b.WriteString(`<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker>` +
		`<marker id="arrow-red" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#cf222e"/></marker></defs>` + "\n")
	// Edges first, so boxes are drawn over them. Parallel edges between the
	// same pair are offset so their labels stay readable.
	seen := map[[2]string]int{}
	for _, e := range g.Edges {
		p, q := pos[e.From], pos[e.To]
		k := seen[[2]string{e.From, e.To}]
		seen[[2]string{e.From, e.To}]++
		red := e.Peer || e.Cycle || e.Status == StatusFail
		color, marker, dash := "#555", "arrow", ""
		if red {
			color, marker = "#cf222e", "arrow-red"
		}
		if e.Status == StatusFail {
			dash = ` stroke-dasharray="6,4"`
		}
		off := float64(k) * 14
		if e.From == e.To { // a rule to its own cluster: a loop above the box
			x, y := p[0], p[1]-boxH/2
			fmt.Fprintf(&b, `<path d="M%.1f,%.1f C%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="%s" stroke-width="1.5" marker-end="url(#%s)"%s/>`+"\n",
				x-20, y, x-40, y-50-off, x+40, y-50-off, x+20, y, color, marker, dash)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="%s">%s</text>`+"\n", x, y-42-off, color, html.EscapeString(edgeLabel(e)))
			continue
		}
		x1, y1 := clip(p, q, boxW/2+2, boxH/2+2)
		x2, y2 := clip(q, p, boxW/2+4, boxH/2+4)
		// Perpendicular offset for parallel edges.
		dx, dy := x2-x1, y2-y1
		l := math.Hypot(dx, dy)
		if l == 0 {
			l = 1
		}
		nx, ny := -dy/l*off, dx/l*off
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5" marker-end="url(#%s)"%s/>`+"\n",
			x1+nx, y1+ny, x2+nx, y2+ny, color, marker, dash)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" fill="%s">%s</text>`+"\n",
			(x1+x2)/2+nx, (y1+y2)/2+ny-4, color, html.EscapeString(edgeLabel(e)))
	}
	for _, c := range g.Clusters {
		p := pos[c.Name]
		weight, stroke := "normal", "#333"
		if c.Verified {
			weight, stroke = "bold", "#0969da"
		}
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%d" height="%d" rx="4" fill="#fff" stroke="%s" stroke-width="2"/>`+"\n", p[0]-boxW/2, p[1]-boxH/2, boxW, boxH, stroke)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="13" font-weight="%s" text-anchor="middle" dominant-baseline="middle">%s</text>`+"\n", p[0], p[1], weight, html.EscapeString(c.Name))
	}
	for _, e := range g.External {
		p := pos[e]
		fmt.Fprintf(&b, `<ellipse cx="%.1f" cy="%.1f" rx="%d" ry="%d" fill="#fff" stroke="#888"/>`+"\n", p[0], p[1], boxW/2, boxH/2)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle" dominant-baseline="middle">%s</text>`+"\n", p[0], p[1], html.EscapeString(e))
	}
	b.WriteString("</svg>")
	return b.String()
}

func edgeLabel(e GraphEdge) string {
	l := e.Zone
	if e.To != e.Target {
		l += " " + e.Target
	}
	switch {
	case e.Cycle:
		l += " (cycle)"
	case e.Peer:
		l += " (peer)"
	}
	if e.Status == StatusFail {
		l += " (no answer)"
	}
	return l
}

// clip moves from p towards q until the border of the box of half-size hw x hh
// around p.
func clip(p, q [2]float64, hw, hh float64) (float64, float64) {
	dx, dy := q[0]-p[0], q[1]-p[1]
	if dx == 0 && dy == 0 {
		return p[0], p[1]
	}
	t := math.Inf(1)
	if dx != 0 {
		t = math.Min(t, hw/math.Abs(dx))
	}
	if dy != 0 {
		t = math.Min(t, hh/math.Abs(dy))
	}
	if t > 1 {
		t = 1
	}
	return p[0] + dx*t, p[1] + dy*t
}
