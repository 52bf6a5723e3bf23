package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const stagingCluster = `name: staging
environment: staging
track: refs/heads/main
nodes:
  - {name: stg1, address: 127.0.0.2}
recursion:
  allow: [127.0.0.0/8]
`

const productionCluster = `name: prod
environment: production
track: refs/heads/production
nodes:
  - {name: p1, address: 127.0.0.3}
recursion:
  allow: [127.0.0.0/8]
`

const gateProbe = `probes:
  - name: db
    query: db.corp.internal.
    type: A
    expect: {rcode: NOERROR, answers: [198.18.5.10]}
    gate: true
`

// gitCLI runs the git CLI in dir (the operator's clone).
func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir, "-c", "user.name=SRE", "-c", "user.email=sre@corp.internal"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// dnsctl runs the operators' tool from the clone; it returns the exit code
// and everything it printed.
func dnsctl(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dnsctlBin, append([]string{"-C", dir}, args...)...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatalf("dnsctl %v: %v", args, err)
	}
	return 0, string(out)
}

// TestStagingVerifyPromote is the change flow of DESIGN.md with real nodes: a
// merge reaches staging, `dnsctl verify` probes it there, `dnsctl promote`
// moves the production ref, and the production node picks the revision up.
// A revision that breaks a probed name is stopped at staging.
func TestStagingVerifyPromote(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git CLI not installed")
	}
	// The shared remote (what the git server holds) and an operator's clone.
	origin := t.TempDir()
	gitCLI(t, origin, "init", "-q", "--bare", "-b", "main")
	work := newConfigRepo(t, map[string]string{
		"policy.yaml":              policyYAML,
		"root.hints":               rootHints,
		"clusters/staging.yaml":    stagingCluster,
		"clusters/prod.yaml":       productionCluster,
		"probes.yaml":              gateProbe,
		"zones/corp.internal.zone": corpZone("2026112101", "198.18.5.80"),
	})
	gitCLI(t, work.dir, "remote", "add", "origin", origin)
	gitCLI(t, work.dir, "push", "-q", "origin", "main", "main:refs/heads/production")
	rev1 := gitCLI(t, work.dir, "rev-parse", "HEAD")

	stg := newClusterNode(t, origin, t.TempDir(), nodeSpec{bind: "127.0.0.2", ref: "refs/heads/main", cluster: "staging", name: "stg1"})
	prod := newClusterNode(t, origin, t.TempDir(), nodeSpec{bind: "127.0.0.3", ref: "refs/heads/production", cluster: "prod", name: "p1"})
	stg.start()
	prod.start()
	stg.waitServed(rev1, 30*time.Second)
	prod.waitServed(rev1, 30*time.Second)
	stgNode := fmt.Sprintf("stg1=%s", stg.addr())

	// A good change: merged to main, served by staging, verified, promoted.
	rev2 := work.commit("www moves", map[string]string{"zones/corp.internal.zone": corpZone("2026112102", "198.18.5.80") + "api IN A 198.18.5.90\n"})
	gitCLI(t, work.dir, "push", "-q", "origin", "main")
	if code, out := dnsctl(t, work.dir, "promote", rev2, "--to", "production", "--node", stgNode); code == 0 {
		t.Fatalf("promote of an unverified revision succeeded:\n%s", out)
	}
	if code, out := dnsctl(t, work.dir, "verify", "--cluster", "staging", "--node", stgNode, "--wait", "20s", rev2); code != 0 {
		t.Fatalf("verify of a good revision exited %d:\n%s", code, out)
	}
	if code, out := dnsctl(t, work.dir, "promote", rev2, "--to", "production", "--node", stgNode); code != 0 {
		t.Fatalf("promote of a verified revision exited %d:\n%s", code, out)
	}
	if got := gitCLI(t, origin, "rev-parse", "refs/heads/production"); got != rev2 {
		t.Fatalf("production ref on the remote = %s, want %s", got, rev2)
	}
	prod.waitServed(rev2, 20*time.Second)
	r, err := prod.query("udp", "api.corp.internal.", dns.TypeA, dns.ClassINET)
	if err != nil || len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.5.90" {
		t.Fatalf("production node after promotion: api A = %v %v", r, err)
	}

	// A change that breaks the probed (gate) name: staging refuses to keep it,
	// verify fails, promote refuses, production never sees it.
	broken := strings.Replace(corpZone("2026112103", "198.18.5.80"), "db       IN A   198.18.5.10", "db       IN A   198.18.5.99", 1)
	rev3 := work.commit("db moves to the wrong address", map[string]string{"zones/corp.internal.zone": broken})
	gitCLI(t, work.dir, "push", "-q", "origin", "main")
	if code, out := dnsctl(t, work.dir, "verify", "--cluster", "staging", "--node", stgNode, "--wait", "5s", rev3); code != 1 {
		t.Fatalf("verify of a revision breaking a probed name exited %d, want 1:\n%s", code, out)
	}
	if code, out := dnsctl(t, work.dir, "promote", rev3, "--to", "production", "--node", stgNode); code == 0 {
		t.Fatalf("promote of a failed revision succeeded:\n%s", out)
	}
	if got := gitCLI(t, origin, "rev-parse", "refs/heads/production"); got != rev2 {
		t.Fatalf("production ref moved to %s after a failed verify", got)
	}
	if got := prod.servedRevision(); got != rev2 {
		t.Fatalf("production serves %s, want %s", got, rev2)
	}
}
