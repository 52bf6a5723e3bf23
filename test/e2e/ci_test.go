package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCIExamples runs the dnsctl commands of examples/ci/dns-config.yml
// (as a pull request against origin/main would) and the pre-commit hook of
// examples/ci on the example config repo: a good change passes and shows
// its plan; a broken zone fails with an annotation (workflow) or a refusal
// (hook) naming the file.
func TestCIExamples(t *testing.T) {
	wf, err := os.ReadFile("../../examples/ci/dns-config.yml")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, m := range regexp.MustCompile(`(?m)run: (dnsctl .*)$`).FindAllStringSubmatch(string(wf), -1) {
		steps = append(steps, m[1])
	}
	if len(steps) != 2 || !strings.HasPrefix(steps[0], "dnsctl check") || !strings.HasPrefix(steps[1], "dnsctl diff") {
		t.Fatalf("the workflow's dnsctl steps are %q; want check, then diff", steps)
	}
	hook, err := filepath.Abs("../../examples/ci/pre-commit")
	if err != nil {
		t.Fatal(err)
	}

	dir := readmeRepo(t)
	runIn(t, dir, "git", "update-ref", "refs/remotes/origin/main", "HEAD~1") // the pull request's base
	path := filepath.Dir(dnsctlBin) + string(os.PathListSeparator) + os.Getenv("PATH")
	sh := func(script string) (string, int) {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "PATH="+path, "BASE=origin/main")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}

	// The pull request adds the zone us.corp.internal.
	out, code := sh(steps[0])
	if code != 0 || !strings.Contains(out, "dnsctl check: 0 errors") {
		t.Fatalf("%s: exit %d\n%s", steps[0], code, out)
	}
	if out, code := sh(steps[1]); code != 0 {
		t.Fatalf("%s: exit %d\n%s", steps[1], code, out)
	}
	plan, err := os.ReadFile(filepath.Join(dir, "plan.md"))
	if err != nil || !strings.Contains(string(plan), "us.corp.internal.") {
		t.Fatalf("plan.md (%v):\n%s", err, plan)
	}
	os.Remove(filepath.Join(dir, "plan.md"))

	// A pull request with a broken zone: an annotation on the file, exit 1.
	zone := filepath.Join(dir, "examples", "dns-config", "zones", "corp.internal.zone")
	good, err := os.ReadFile(zone)
	if err != nil {
		t.Fatal(err)
	}
	broken := append(append([]byte{}, good...), []byte("oops IN A not-an-address\n")...)
	if err := os.WriteFile(zone, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	runIn(t, dir, "git", "commit", "-qam", "a broken zone")
	out, code = sh(steps[0])
	if code != 1 || !strings.Contains(out, "::error file=examples/dns-config/zones/corp.internal.zone,line=") {
		t.Fatalf("%s on a broken zone: exit %d\n%s", steps[0], code, out)
	}
	runIn(t, dir, "git", "reset", "-q", "--hard", "HEAD~1")

	// The hook: a staged broken zone is refused, nothing is committed.
	if err := os.WriteFile(zone, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	runIn(t, dir, "git", "add", "-A")
	out, code = sh(hook)
	if code != 1 || !strings.Contains(out, "examples/dns-config/zones/corp.internal.zone:") || !strings.Contains(out, "pre-commit: dnsctl check found errors") {
		t.Fatalf("hook on a broken zone: exit %d\n%s", code, out)
	}
	// A good staged change passes and prints its plan.
	if err := os.WriteFile(zone, good, 0o644); err != nil {
		t.Fatal(err)
	}
	probes := filepath.Join(dir, "examples", "dns-config", "probes.yaml")
	p, err := os.ReadFile(probes)
	if err != nil {
		t.Fatal(err)
	}
	p = append(p, []byte("  - name: git-host-again\n    query: git.corp.internal.\n    type: A\n    expect: {rcode: NOERROR, answers: [198.18.5.20]}\n")...)
	if err := os.WriteFile(probes, p, 0o644); err != nil {
		t.Fatal(err)
	}
	runIn(t, dir, "git", "add", "-A")
	out, code = sh(hook)
	if code != 0 || !strings.Contains(out, "git-host-again") || !strings.Contains(out, "probes +1") {
		t.Fatalf("hook on a good change: exit %d\n%s", code, out)
	}
	if head := strings.TrimSpace(runIn(t, dir, "git", "rev-list", "--count", "HEAD")); head != "2" {
		t.Errorf("the hook committed something: %s commits", head)
	}
}
