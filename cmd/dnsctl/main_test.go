package main

import (
	"encoding/json"
	"html"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckOutputs(t *testing.T) {
	g, _, _ := monorepo(t)
	dnsDir := filepath.Join(g.dir, "dns")
	for _, tc := range []struct {
		name   string
		cwd    string
		args   []string
		code   int
		golden string
	}{
		{"human", dnsDir, []string{"check"}, exitFindings, "check-head.human"},
		{"json", dnsDir, []string{"check", "--format", "json"}, exitFindings, "check-head.json"},
		{"github", dnsDir, []string{"check", "--format", "github"}, exitFindings, "check-head.github"},
		{"clean base revision", dnsDir, []string{"check", "HEAD~1"}, exitOK, "check-base.human"},
		{"-C from the repo root", g.dir, []string{"-C", "dns", "check", "HEAD"}, exitFindings, "check-head.human"},
		{"-C after the subcommand", g.dir, []string{"check", "-C", "dns"}, exitFindings, "check-head.human"},
		{"explicit base", dnsDir, []string{"check", "--base", "HEAD~1", "HEAD"}, exitFindings, "check-head.human"},
		{"no base", dnsDir, []string{"check", "--no-base"}, exitFindings, "check-head-nobase.human"},
		{"flags after the revision", dnsDir, []string{"check", "HEAD", "--format", "json"}, exitFindings, "check-head.json"},
		{"revision after --", dnsDir, []string{"check", "--format", "github", "--", "HEAD"}, exitFindings, "check-head.github"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := dnsctl(t, tc.cwd, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			if errOut != "" {
				t.Errorf("unexpected stderr: %s", errOut)
			}
			golden(t, tc.golden, out)
		})
	}
}

// TestCheckJSONShape decodes the JSON output: CI scripts rely on its fields.
func TestCheckJSONShape(t *testing.T) {
	g, base, head := monorepo(t)
	out, _, code := dnsctl(t, filepath.Join(g.dir, "dns"), "check", "--format", "json")
	if code != exitFindings {
		t.Fatalf("exit %d", code)
	}
	var r struct {
		Dir, Revision, Base string
		Errors, Warnings    int
		Findings            []struct {
			File, Severity, Rule, Message string
			Line, Col                     int
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Dir != "dns" || r.Revision != head.String() || r.Base != base.String() {
		t.Errorf("dir %q revision %q base %q", r.Dir, r.Revision, r.Base)
	}
	if r.Errors == 0 || len(r.Findings) != r.Errors+r.Warnings {
		t.Errorf("counts: %d errors, %d warnings, %d findings", r.Errors, r.Warnings, len(r.Findings))
	}
	rules := map[string]bool{}
	for _, f := range r.Findings {
		rules[f.Rule] = true
		if !strings.HasPrefix(f.File, "dns/") {
			t.Errorf("finding path %q is not repo-relative", f.File)
		}
	}
	for _, want := range []string{"forward-cycle", "forward-self", "yaml-unknown-field", "serial-not-increased", "fallback-deleted"} {
		if !rules[want] {
			t.Errorf("missing rule %s in %v", want, rules)
		}
	}
}

func TestCheckCannotRun(t *testing.T) {
	g, _, _ := monorepo(t)
	notRepo := t.TempDir()
	// A folder of the work tree that no commit holds.
	if err := os.Mkdir(filepath.Join(g.dir, "uncommitted"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, cwd string
		args      []string
		stderr    string
	}{
		{"not a repository", notRepo, []string{"check"}, "dnsctl check: no git repository at or above " + notRepo},
		{"unknown revision", g.dir, []string{"check", "-C", "dns", "nope"}, `dnsctl check: resolving "nope"`},
		{"missing folder", g.dir, []string{"check", "-C", "missing"}, "dnsctl check: opening " + filepath.Join(g.dir, "missing")},
		{"folder not in the revision", g.dir, []string{"check", "-C", "uncommitted"}, "dnsctl check: commit "},
		{"bad format", g.dir, []string{"check", "--format", "xml"}, `dnsctl check: unknown --format "xml" (want human, json, github)`},
		{"unknown command", g.dir, []string{"frobnicate"}, `dnsctl: unknown command "frobnicate"`},
		{"no command", g.dir, nil, "usage: dnsctl"},
		{"two revisions", g.dir, []string{"check", "HEAD", "HEAD~1"}, "dnsctl check: one revision at most, got 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := dnsctl(t, tc.cwd, tc.args...)
			if code != exitCannotRun {
				t.Errorf("exit code %d, want 2; stdout %s", code, out)
			}
			if !strings.HasPrefix(errOut, tc.stderr) {
				t.Errorf("stderr %q, want prefix %q", errOut, tc.stderr)
			}
		})
	}
}

// TestCheckRootRepo: a config repo at the root of its repository, checked
// from the root and from a subfolder... of the config (which is not the
// config folder: it must say so).
func TestCheckRootRepo(t *testing.T) {
	g := newGitRepo(t)
	g.commitTree("config at the root", ".", "testdata/base", nil)
	out, errOut, code := dnsctl(t, g.dir, "check")
	if code != exitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %s, stdout %s", code, errOut, out)
	}
	if !strings.Contains(out, "0 errors, 0 warnings in . at") || !strings.Contains(out, "without a base revision") {
		t.Errorf("stdout: %s", out)
	}
	// From zones/, the folder checked is zones/: it has no clusters.
	out, _, code = dnsctl(t, filepath.Join(g.dir, "zones"), "check")
	if code != exitFindings || !strings.Contains(out, "zones/clusters: error: repo-layout") {
		t.Errorf("exit %d, stdout %s", code, out)
	}
}

// TestCheckMassDeleteTrailer: the trailer turns a refused deletion into a
// warning and the exit code into 0.
func TestCheckMassDeleteTrailer(t *testing.T) {
	g := newGitRepo(t)
	g.commitTree("base", "dns", "testdata/base", nil)
	if err := os.Remove(filepath.Join(g.dir, "dns/zones/18.198.in-addr.arpa.zone")); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	copyTree(t, "testdata/base", tmp)
	os.Remove(filepath.Join(tmp, "zones/18.198.in-addr.arpa.zone"))
	writeFile(t, filepath.Join(tmp, "clusters/us-east.yaml"), strings.Replace(readFile(t, "testdata/base/clusters/us-east.yaml"), ", 18.198.in-addr.arpa.", "", 1))
	writeFile(t, filepath.Join(tmp, "clusters/eu-west.yaml"), strings.Replace(readFile(t, "testdata/base/clusters/eu-west.yaml"), "forward:\n  - zone: 18.198.in-addr.arpa.\n    to: [198.18.1.1, 198.18.1.2]\n", "", 1))
	g.commitTree("Drop the reverse zone", "dns", tmp, nil)
	out, _, code := dnsctl(t, filepath.Join(g.dir, "dns"), "check")
	if code != exitFindings || !strings.Contains(out, "dns/zones/18.198.in-addr.arpa.zone: error: zone-deleted:") {
		t.Fatalf("without trailer: exit %d\n%s", code, out)
	}
	g.commitTree("Drop the reverse zone\n\nDNS-Allow-Mass-Delete: reverse DNS moved to IPAM (OPS-7)\n", "dns", tmp, nil)
	out, _, code = dnsctl(t, filepath.Join(g.dir, "dns"), "check", "--base", "HEAD~2")
	if code != exitOK || !strings.Contains(out, "warning: zone-deleted: zone 18.198.in-addr.arpa. is deleted (5 records) (allowed by DNS-Allow-Mass-Delete: reverse DNS moved to IPAM (OPS-7))") {
		t.Fatalf("with trailer: exit %d\n%s", code, out)
	}
}

func TestDiffOutputs(t *testing.T) {
	g, _, _ := monorepo(t)
	dnsDir := filepath.Join(g.dir, "dns")
	for _, f := range []string{"text", "markdown", "json"} {
		t.Run(f, func(t *testing.T) {
			out, errOut, code := dnsctl(t, dnsDir, "diff", "--format", f, "HEAD~1", "HEAD")
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, "diff."+f, out)
		})
	}
	out, _, code := dnsctl(t, dnsDir, "diff", "HEAD", "HEAD")
	if code != exitOK || !strings.Contains(out, "no change") {
		t.Errorf("diff of a revision with itself: exit %d\n%s", code, out)
	}
	_, errOut, code := dnsctl(t, dnsDir, "diff", "HEAD")
	if code != exitCannotRun || !strings.Contains(errOut, "usage: dnsctl diff") {
		t.Errorf("one argument: exit %d, stderr %s", code, errOut)
	}
}

func TestGraphOutputs(t *testing.T) {
	g, _, _ := monorepo(t)
	dnsDir := filepath.Join(g.dir, "dns")
	out, errOut, code := dnsctl(t, dnsDir, "graph")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "graph-head.dot", out)
	out, _, code = dnsctl(t, dnsDir, "graph", "HEAD~1")
	if code != exitOK {
		t.Fatalf("exit %d", code)
	}
	golden(t, "graph-base.dot", out)

	t.Run("svg without dot", func(t *testing.T) {
		saved := lookDot
		lookDot = func() (string, error) { return "", os.ErrNotExist }
		defer func() { lookDot = saved }()
		_, errOut, code := dnsctl(t, dnsDir, "graph", "--format", "svg")
		if code != exitCannotRun || !strings.Contains(errOut, "--format svg needs Graphviz's dot on the PATH") {
			t.Errorf("exit %d, stderr %s", code, errOut)
		}
	})
	t.Run("svg", func(t *testing.T) {
		if _, err := lookDot(); err != nil {
			t.Skip("Graphviz dot not installed")
		}
		out, errOut, code := dnsctl(t, dnsDir, "graph", "--format", "svg")
		// Graphviz writes "-" in names as the entity &#45;.
		if code != exitOK || !strings.Contains(out, "<svg") || !strings.Contains(html.UnescapeString(out), "us-east") {
			t.Errorf("exit %d, stderr %s, stdout %.200s", code, errOut, out)
		}
	})
}

// TestExampleConfigRepo checks the project's example config repo, from its
// own folder of this repository, as an operator would.
func TestExampleConfigRepo(t *testing.T) {
	dir, err := filepath.Abs("../../examples/dns-config")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "clusters")); err != nil {
		t.Skip("example config repo not present")
	}
	out, errOut, code := dnsctl(t, dir, "check", "--no-base")
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "0 errors") || !strings.Contains(out, "in examples/dns-config at") {
		t.Errorf("stdout: %s", out)
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		writeFile(t, filepath.Join(dst, rel), readFile(t, p))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSeed004 is the Let's Encrypt outage (2025-07-21) through the tool:
// four replicas whose forwarders point at each other in turn. check refuses
// the revision naming the whole chain; graph draws the loop in red.
func TestSeed004(t *testing.T) {
	g := newGitRepo(t)
	g.commitTree("Replicas forward to each other", "dns", "testdata/le", nil)
	dnsDir := filepath.Join(g.dir, "dns")
	out, _, code := dnsctl(t, dnsDir, "check")
	if code != exitFindings {
		t.Errorf("exit %d, want 1", code)
	}
	golden(t, "check-le.human", out)
	if !strings.Contains(out, "r1 -[.]-> r2 -[.]-> r3 -[.]-> r4 -[.]-> r1") {
		t.Errorf("the chain is not named: %s", out)
	}
	out, _, code = dnsctl(t, dnsDir, "graph")
	if code != exitOK {
		t.Errorf("graph exit %d", code)
	}
	golden(t, "graph-le.dot", out)
}

// TestMarkerFile: at the root of a monorepo, .dnsctl names the config
// folder; inside a folder (or with -C) that folder wins; a bad marker is
// one line that says what to fix.
func TestMarkerFile(t *testing.T) {
	g, _, _ := monorepo(t)
	writeFile(t, filepath.Join(g.dir, markerFile), "# the config repo of this monorepo\npath dns   # as the nodes' gitops path\n")
	out, errOut, code := dnsctl(t, g.dir, "check", "HEAD~1") // the clean base revision
	if code != exitOK || !strings.Contains(out, "0 errors, 0 warnings in dns at") {
		t.Fatalf("from the root with a marker: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	// -C a folder: that folder, whatever the marker says.
	out, _, code = dnsctl(t, g.dir, "-C", "app", "check")
	if code != exitFindings || !strings.Contains(out, "app/clusters: error: repo-layout") {
		t.Errorf("-C app: exit %d, stdout %s", code, out)
	}
	for _, tc := range []struct{ marker, want string }{
		{"path ../elsewhere\n", "a folder inside the repository"},
		{"path /etc\n", "a folder inside the repository"},
		{"folder dns\n", ".dnsctl:1: want one line `path FOLDER`"},
		{"path dns\npath other\n", ".dnsctl:2: want one line `path FOLDER`"},
		{"path\n", ".dnsctl:1: want one line"},
	} {
		writeFile(t, filepath.Join(g.dir, markerFile), tc.marker)
		_, errOut, code := dnsctl(t, g.dir, "check")
		if code != exitCannotRun || !strings.Contains(errOut, tc.want) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("marker %q: exit %d, stderr %q, want one line with %q", tc.marker, code, errOut, tc.want)
		}
	}
}

// TestCheckForwardOverTLS: forward targets over TLS (tls://ADDR@NAME) and
// their tls_ca files, every mistake at its file:line:col; a tls:// target
// at a peer's address is a forward to a peer whatever its port.
func TestCheckForwardOverTLS(t *testing.T) {
	g := newGitRepo(t)
	g.commitTree("Forward over TLS", "dns", "testdata/dot", nil)
	out, errOut, code := dnsctl(t, filepath.Join(g.dir, "dns"), "check")
	if code != exitFindings || errOut != "" {
		t.Errorf("exit %d, want 1; stderr %s", code, errOut)
	}
	golden(t, "check-dot.human", out)
}
