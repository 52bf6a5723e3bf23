package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
)

func init() {
	register(command{
		name:    "diff",
		usage:   "diff [--format text|markdown|json] BASE HEAD",
		summary: "the record-level plan from BASE to HEAD, per zone and per cluster",
		args: []string{
			"BASE  the revision before the change (e.g. origin/main, HEAD~1)",
			"HEAD  the revision after it",
		},
		examples: []string{
			"dnsctl diff HEAD~1 HEAD                                   # what the last commit changes",
			"dnsctl diff --format markdown origin/main HEAD > plan.md  # the plan as a pull-request comment",
		},
		exits: "findings of severity error in HEAD",
		run:   runDiff,
	})
}

func runDiff(e *env, args []string) int {
	fs, common := e.flags("diff", "text", "text", "markdown", "json")
	pos, code, ok := e.parseAll(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 2 {
		return e.badArgs("want BASE and HEAD, got %d revisions", len(pos))
	}
	repo, err := e.openRepo(common.dir)
	if err != nil {
		return e.fail(err)
	}
	base, bfs, err := repo.load(pos[0])
	if err != nil {
		return e.fail(err)
	}
	head, hfs, err := repo.loadAgainst(pos[1], base)
	if err != nil {
		return e.fail(err)
	}
	// A plan of a broken revision is still a plan; say so on stderr.
	if zones.HasErrors(bfs) || zones.HasErrors(hfs) {
		fmt.Fprintln(e.stderr, "dnsctl diff: warning: a revision has errors; run dnsctl check")
	}
	plan := cluster.Diff(base, head)
	switch common.format {
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(plan)
	case "markdown":
		err = writeMarkdownPlan(e.stdout, plan)
	default:
		err = writeTextPlan(e.stdout, plan)
	}
	if err != nil {
		return e.fail(err)
	}
	return exitOK
}

func serialNote(z cluster.ZoneDiff) string {
	switch z.Status {
	case cluster.Added:
		return fmt.Sprintf("added, serial %d", z.NewSerial)
	case cluster.Removed:
		return "removed"
	}
	return fmt.Sprintf("changed, serial %d -> %d", z.OldSerial, z.NewSerial)
}

// changeLine is one line of a setting's change: "+ what: new", "- what:
// old" or "~ what: old -> new".
func changeLine(c cluster.Change) string {
	switch c.Kind {
	case cluster.Added:
		return fmt.Sprintf("+ %s: %s", c.What, c.New)
	case cluster.Removed:
		return fmt.Sprintf("- %s: %s", c.What, c.Old)
	}
	return fmt.Sprintf("~ %s: %s -> %s", c.What, c.Old, c.New)
}

// recordLines renders a record diff: removed, added, then changed records.
// A changed record is one "~ old -> new" line, or with split (for a ```diff
// block, which colours only + and -) its old and new lines.
func recordLines(d cluster.RecordDiff, split bool) []string {
	var out []string
	for _, r := range d.Removed {
		out = append(out, "- "+r)
	}
	for _, r := range d.Added {
		out = append(out, "+ "+r)
	}
	for _, c := range d.Changed {
		if split {
			out = append(out, "- "+c.Old, "+ "+c.New)
		} else {
			out = append(out, "~ "+c.Old+" -> "+c.New)
		}
	}
	return out
}

// changeLines is changeLine of each change; with split, a changed setting
// is its old and new lines (see recordLines).
func changeLines(cs []cluster.Change, split bool) []string {
	var out []string
	for _, c := range cs {
		if split && c.Kind != cluster.Added && c.Kind != cluster.Removed {
			out = append(out,
				changeLine(cluster.Change{Kind: cluster.Removed, What: c.What, Old: c.Old}),
				changeLine(cluster.Change{Kind: cluster.Added, What: c.What, New: c.New}))
			continue
		}
		out = append(out, changeLine(c))
	}
	return out
}

func planTitle(p *cluster.Plan) string {
	return fmt.Sprintf("DNS plan %s..%s", model.ShortID(p.Base), model.ShortID(p.Head))
}

func writeTextPlan(w io.Writer, p *cluster.Plan) error {
	var b strings.Builder
	b.WriteString(planTitle(p) + "\n")
	if p.Empty() {
		b.WriteString("no change\n")
	}
	for _, z := range p.Zones {
		fmt.Fprintf(&b, "\nzone %s (%s)\n", z.Origin, serialNote(z))
		for _, l := range recordLines(z.RecordDiff, false) {
			b.WriteString("  " + l + "\n")
		}
	}
	for _, z := range p.RPZ {
		fmt.Fprintf(&b, "\nrpz %s (%s)\n", z.Origin, z.Status)
		for _, l := range recordLines(z.RecordDiff, false) {
			b.WriteString("  " + l + "\n")
		}
	}
	for _, c := range p.Clusters {
		fmt.Fprintf(&b, "\ncluster %s (%s)\n", c.Name, c.Status)
		for _, l := range changeLines(c.Changes, false) {
			b.WriteString("  " + l + "\n")
		}
	}
	if !p.Fallback.Empty() {
		b.WriteString("\nfallback\n")
		for _, l := range recordLines(p.Fallback, false) {
			b.WriteString("  " + l + "\n")
		}
	}
	if len(p.Probes) > 0 {
		b.WriteString("\nprobes\n")
		for _, l := range changeLines(p.Probes, false) {
			b.WriteString("  " + l + "\n")
		}
	}
	if len(p.Policy) > 0 {
		b.WriteString("\npolicy\n")
		for _, l := range changeLines(p.Policy, false) {
			b.WriteString("  " + l + "\n")
		}
	}
	fmt.Fprintf(&b, "\nSummary: %s\n", p.Summary)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeMarkdownPlan renders the plan for a pull-request comment: one
// section per zone and cluster with a diff block (GitHub colours + and -).
func writeMarkdownPlan(w io.Writer, p *cluster.Plan) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", planTitle(p))
	fmt.Fprintf(&b, "**Summary:** %s\n", p.Summary)
	if p.Empty() {
		b.WriteString("\nNo change.\n")
	}
	block := func(title string, lines []string) {
		fmt.Fprintf(&b, "\n#### %s\n\n```diff\n", title)
		for _, l := range lines {
			b.WriteString(l + "\n")
		}
		b.WriteString("```\n")
	}
	for _, z := range p.Zones {
		block(fmt.Sprintf("Zone `%s` (%s)", z.Origin, serialNote(z)), recordLines(z.RecordDiff, true))
	}
	for _, z := range p.RPZ {
		block(fmt.Sprintf("Response policy `%s` (%s)", z.Origin, z.Status), recordLines(z.RecordDiff, true))
	}
	for _, c := range p.Clusters {
		block(fmt.Sprintf("Cluster `%s` (%s)", c.Name, c.Status), changeLines(c.Changes, true))
	}
	if !p.Fallback.Empty() {
		block("Fallback records", recordLines(p.Fallback, true))
	}
	if len(p.Probes) > 0 {
		block("Probes", changeLines(p.Probes, true))
	}
	if len(p.Policy) > 0 {
		block("Policy", changeLines(p.Policy, true))
	}
	_, err := io.WriteString(w, b.String())
	return err
}
