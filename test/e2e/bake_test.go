package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The canary's bake, with real nodes: the canary (c1) and staging (stg1)
// forward ext.test. to a scripted server whose answer the test breaks; the
// gate probe asks app.ext.test. through it. The production cluster's node
// never runs: production-baked is what the bake moves.
const bakeClusters = `name: staging
environment: staging
track: refs/heads/main
nodes:
  - {name: stg1, address: 127.0.0.2}
forward:
  - zone: ext.test.
    to: ["%[1]s"]
recursion:
  allow: [127.0.0.0/8]
---canary
name: canary
environment: production
track: refs/heads/production
canary: true
nodes:
  - {name: c1, address: 127.0.0.3}
forward:
  - zone: ext.test.
    to: ["%[1]s"]
recursion:
  allow: [127.0.0.0/8]
---prod
name: prod
environment: production
track: refs/heads/production-baked
nodes:
  - {name: p1, address: 127.0.0.4}
recursion:
  allow: [127.0.0.0/8]
`

const bakeProbe = `probes:
  - name: app
    query: app.ext.test.
    type: A
    expect: {rcode: NOERROR, answers: [198.18.7.7]}
    gate: true
`

// TestBakeWatchesTheCanary (seed 000): promote --after-bake refuses a
// canary that failed its probes in the middle of the bake and recovered
// (the re-verification at the end passes), and one that was stopped for
// part of it (its status unreachable, its self-probe history with a gap);
// it accepts one that passed throughout.
func TestBakeWatchesTheCanary(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git CLI not installed")
	}
	var broken atomic.Bool
	ext := fmt.Sprintf("127.0.0.5:%d", freePort(t))
	serveUDPAndTCP(t, ext, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		addr := "198.18.7.7"
		if broken.Load() {
			addr = "198.18.7.99"
		}
		if r.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(r.Question[0].Name + " 1 IN A " + addr)
			m.Answer = []dns.RR{rr}
		}
		w.WriteMsg(m)
	}))
	parts := strings.Split(fmt.Sprintf(bakeClusters, ext), "---")
	origin := t.TempDir()
	gitCLI(t, origin, "init", "-q", "--bare", "-b", "main")
	serial := 2026120701
	work := newConfigRepo(t, map[string]string{
		"policy.yaml":              policyYAML,
		"root.hints":               rootHints,
		"clusters/staging.yaml":    parts[0],
		"clusters/canary.yaml":     strings.TrimPrefix(parts[1], "canary\n"),
		"clusters/prod.yaml":       strings.TrimPrefix(parts[2], "prod\n"),
		"probes.yaml":              bakeProbe,
		"zones/corp.internal.zone": corpZone(fmt.Sprint(serial), "198.18.5.80"),
	})
	gitCLI(t, work.dir, "remote", "add", "origin", origin)
	gitCLI(t, work.dir, "push", "-q", "origin", "main", "main:refs/heads/production")

	// Every node probes itself 5 times a second; two runs more than
	// 2*200ms + 2*1s apart leave a gap.
	nodeOf := func(bind, ref, cluster, name string) (*node, string) {
		status := fmt.Sprintf("%s:%d", bind, freePort(t))
		n := newClusterNode(t, origin, t.TempDir(), nodeSpec{bind: bind, ref: ref, cluster: cluster, name: name,
			gitops: "http " + status + "\n        probe_interval 200ms\n        probe_timeout 1s"})
		n.start()
		return n, status
	}
	stg, _ := nodeOf("127.0.0.2", "refs/heads/main", "staging", "stg1")
	canary, canaryStatus := nodeOf("127.0.0.3", "refs/heads/production", "canary", "c1")
	stgNode := "stg1=" + stg.addr()
	canaryNode := "c1=" + canary.addr()
	const bake = 6 * time.Second

	// round makes a new revision, takes it through staging to the canary,
	// verifies the canary (the bake starts), runs during(from) in the bake
	// (from: the start of the window promote judges, the second after the
	// record), and promotes after the bake.
	round := func(during func(from time.Time)) (rev string, code int, out string) {
		t.Helper()
		serial++
		rev = work.commit("bump", map[string]string{"zones/corp.internal.zone": corpZone(fmt.Sprint(serial), "198.18.5.80")})
		gitCLI(t, work.dir, "push", "-q", "origin", "main")
		if code, out := dnsctl(t, work.dir, "verify", "--cluster", "staging", "--node", stgNode, "--wait", "20s", rev); code != 0 {
			t.Fatalf("verify on staging exited %d:\n%s", code, out)
		}
		if code, out := dnsctl(t, work.dir, "promote", rev, "--to", "production", "--node", stgNode); code != 0 {
			t.Fatalf("promote to the canary exited %d:\n%s", code, out)
		}
		if code, out := dnsctl(t, work.dir, "verify", "--cluster", "canary", "--node", canaryNode, "--wait", "20s", rev); code != 0 {
			t.Fatalf("verify on the canary exited %d:\n%s", code, out)
		}
		from := time.Now().Truncate(time.Second).Add(time.Second)
		during(from)
		time.Sleep(time.Until(from.Add(bake)))
		code, out = dnsctl(t, work.dir, "promote", rev, "--to", "production", "--after-bake", "--bake", bake.String(),
			"--node", canaryNode, "--status", "c1="+canaryStatus)
		return rev, code, out
	}
	baked := func() string {
		out, err := exec.Command("git", "-C", origin, "rev-parse", "-q", "--verify", "refs/heads/production-baked").Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}

	// Broken from 1s to 3.5s into the bake (the TTL is 1s), healthy again
	// long before its end: the re-verification alone would pass.
	_, code, out := round(func(from time.Time) {
		time.Sleep(time.Until(from.Add(time.Second)))
		broken.Store(true)
		time.Sleep(2500 * time.Millisecond)
		broken.Store(false)
	})
	t.Logf("failed mid-bake: dnsctl promote --after-bake said:\n%s", out)
	if code != 1 || !strings.Contains(out, "canary/c1: failed its gate probes from ") || !strings.Contains(out, "lacks 198.18.7.7") ||
		!strings.Contains(out, "198.18.7.99") {
		t.Fatalf("promote --after-bake of a canary that failed mid-bake exited %d:\n%s", code, out)
	}
	if got := baked(); got != "" {
		t.Fatalf("production-baked moved to %s", got)
	}

	// Stopped (SIGSTOP) for 3.5s in the bake: neither probing itself nor
	// answering its status; it serves again before the end.
	_, code, out = round(func(from time.Time) {
		time.Sleep(time.Until(from.Add(time.Second)))
		syscall.Kill(-canary.cmd.Process.Pid, syscall.SIGSTOP)
		time.Sleep(3500 * time.Millisecond)
		syscall.Kill(-canary.cmd.Process.Pid, syscall.SIGCONT)
	})
	t.Logf("stopped mid-bake: dnsctl promote --after-bake said:\n%s", out)
	if code != 1 || !strings.Contains(out, "canary/c1: no self-probe result from ") || !strings.Contains(out, "not probing itself") {
		t.Fatalf("promote --after-bake of a canary stopped mid-bake exited %d:\n%s", code, out)
	}
	if got := baked(); got != "" {
		t.Fatalf("production-baked moved to %s", got)
	}

	// Healthy throughout: promoted.
	rev, code, out := round(func(time.Time) {})
	t.Logf("healthy: dnsctl promote --after-bake said:\n%s", out)
	if code != 0 || !strings.Contains(out, "watched: canary/c1 passed its gate probes throughout the bake") {
		t.Fatalf("promote --after-bake of a healthy canary exited %d:\n%s", code, out)
	}
	if got := baked(); got != rev {
		t.Fatalf("production-baked at %q, want %s", got, rev)
	}
}
