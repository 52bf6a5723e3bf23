package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/cluster/model"
)

func init() {
	register(command{
		name:    "graph",
		usage:   "graph [--format dot|svg] [REV]",
		summary: "the forwarder graph of REV (default HEAD) as Graphviz DOT or SVG",
		run:     runGraph,
	})
}

// dotTimeout bounds the Graphviz run for --format svg.
const dotTimeout = 30 * time.Second

// lookDot finds Graphviz's dot; a variable so tests can hide it.
var lookDot = func() (string, error) { return exec.LookPath("dot") }

func runGraph(e *env, args []string) int {
	fs, common := e.flags("graph", "dot", "dot", "svg")
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		fmt.Fprintln(e.stderr, "usage: dnsctl graph [--format dot|svg] [REV]")
		return exitCannotRun
	}
	revName := "HEAD"
	if len(pos) == 1 {
		revName = pos[0]
	}
	var dotPath string
	if common.format == "svg" {
		p, err := lookDot()
		if err != nil {
			return e.fail(errors.New("--format svg needs Graphviz's dot on the PATH (e.g. apt-get install graphviz); --format dot prints the graph for rendering elsewhere"))
		}
		dotPath = p
	}
	repo, err := e.openRepo(common.dir)
	if err != nil {
		return e.fail(err)
	}
	rev, _, err := repo.load(revName)
	if err != nil {
		return e.fail(err)
	}
	var buf bytes.Buffer
	writeDOT(&buf, rev, cluster.ForwardGraph(rev))
	if common.format == "dot" {
		if _, err := e.stdout.Write(buf.Bytes()); err != nil {
			return e.fail(err)
		}
		return exitOK
	}
	ctx, cancel := context.WithTimeout(context.Background(), dotTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, dotPath, "-Tsvg")
	cmd.Stdin = &buf
	cmd.Stdout = e.stdout
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return e.fail(fmt.Errorf("running %s -Tsvg: %w: %s", dotPath, err, strings.TrimSpace(stderr.String())))
	}
	return exitOK
}

// dotQuote quotes s as a DOT string; "\n" in s must already be the two
// characters backslash and n.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`"`, `\"`).Replace(s) + `"`
}

func dotLabel(lines ...string) string {
	for i, l := range lines {
		lines[i] = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(l)
	}
	return `"` + strings.Join(lines, `\n`) + `"`
}

// writeDOT draws clusters as boxes and forward rules as labelled edges:
// edges of a cycle and peer edges in red, unreachable targets dashed grey.
func writeDOT(w io.Writer, rev *model.Revision, g *cluster.Graph) {
	title := fmt.Sprintf("forwarder graph of %s at %s", displayDir(rev.Dir), model.ShortID(rev.ID))
	fmt.Fprintf(w, "digraph forwarders {\n")
	fmt.Fprintf(w, "  graph [rankdir=LR, labelloc=t, fontname=Helvetica, label=%s];\n", dotLabel(title))
	fmt.Fprintf(w, "  node [fontname=Helvetica];\n  edge [fontname=Helvetica, fontsize=10];\n")
	for _, c := range rev.Clusters {
		lines := []string{c.Name, string(c.Environment)}
		if c.Canary {
			lines[1] += ", canary"
		}
		for _, n := range c.Nodes {
			lines = append(lines, n.Name+" "+n.AddrPort().String())
		}
		fmt.Fprintf(w, "  %s [shape=box, style=rounded, label=%s];\n", dotQuote("cluster:"+c.Name), dotLabel(lines...))
	}
	// External targets, once each.
	seenExt := map[string]bool{}
	for _, e := range g.Edges {
		if e.To != "" {
			continue
		}
		id := e.Target.String()
		if seenExt[id] {
			continue
		}
		seenExt[id] = true
		attrs := "shape=ellipse"
		label := []string{id}
		if e.Unreachable != "" || e.Self {
			attrs += ", style=dashed, color=gray50, fontcolor=gray50"
			label = append(label, "unreachable")
		}
		fmt.Fprintf(w, "  %s [%s, label=%s];\n", dotQuote("addr:"+id), attrs, dotLabel(label...))
	}
	// Edges to clusters, one per rule and target cluster.
	type key struct{ from, zone, to string }
	var order []key
	nodes := map[key][]string{}
	flags := map[key][2]bool{} // peer, cycle
	for _, e := range g.Edges {
		if e.To == "" {
			continue
		}
		k := key{e.From, e.Rule.Zone, e.To}
		if _, ok := nodes[k]; !ok {
			order = append(order, k)
		}
		nodes[k] = append(nodes[k], e.ToNode)
		f := flags[k]
		f[0] = f[0] || e.Peer
		f[1] = f[1] || e.InCycle
		flags[k] = f
	}
	for _, k := range order {
		f := flags[k]
		label := []string{k.zone, "(" + strings.Join(nodes[k], ", ") + ")"}
		attrs := ""
		switch {
		case f[0]:
			label = append(label, "peer!")
			attrs = ", color=red, fontcolor=red, penwidth=2"
		case f[1]:
			label = append(label, "cycle!")
			attrs = ", color=red, fontcolor=red, penwidth=2"
		}
		fmt.Fprintf(w, "  %s -> %s [label=%s%s];\n", dotQuote("cluster:"+k.from), dotQuote("cluster:"+k.to), dotLabel(label...), attrs)
	}
	for _, e := range g.Edges {
		if e.To != "" {
			continue
		}
		attrs := ""
		if e.Self {
			attrs = ", color=red, fontcolor=red, penwidth=2"
		} else if e.Unreachable != "" {
			attrs = ", style=dashed, color=gray50, fontcolor=gray50"
		}
		fmt.Fprintf(w, "  %s -> %s [label=%s%s];\n", dotQuote("cluster:"+e.From), dotQuote("addr:"+e.Target.String()), dotLabel(e.Rule.Zone), attrs)
	}
	fmt.Fprintf(w, "}\n")
}

func displayDir(d string) string {
	if d == "" {
		return "."
	}
	return d
}
