package lab

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// zoneWith is the internal zone at serial base+n with extra records.
func zoneWith(n int, extra ...string) map[string]string {
	return map[string]string{"zones/corp.internal.zone": CorpZone(ZoneSerialBase+n, extra...)}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// statusLine renders what a node's gitops status says, for the timeline.
func statusLine(n *Node) string {
	st, _, err := n.Status()
	if err != nil {
		return "status: " + err.Error()
	}
	la := "none"
	if st.LastAttempted != nil {
		a := st.LastAttempted
		la = fmt.Sprintf("%s reason=%s class=%s rev=%s msg=%q", a.Result, a.Reason, a.Class, short(a.Revision), a.Message)
	}
	return fmt.Sprintf("applied=%s lastGood=%s failures=%d last attempt: %s; Ready=%s",
		short(st.Applied.ID), short(st.LastGood.ID), st.Failures, la, st.Condition("Ready"))
}

// TestSeed001GitServerErrors (Ironforge): the git server answers 404, then
// 500, then 403, then cannot be reached at all. Every node keeps serving
// what it served, nothing is purged, status and metrics say why; when the
// server comes back the nodes take the new revision by themselves.
func TestSeed001GitServerErrors(t *testing.T) {
	l := New(t, Options{Clusters: []string{"dc1", "dc2"}})
	nodes := l.Nodes()
	c := l.Client("dc1")
	good := l.CommitAndPublish("add printer", zoneWith(2, "printer IN A 198.18.10.40"))
	l.MustServe(good, 15*time.Second, nodes...)

	next := ""
	for i, mode := range []string{"404", "500", "403"} {
		l.Git().SetHTTPFailure(mode)
		l.Logf("git server now answers HTTP %s to every request", mode)
		if i == 0 {
			// A revision the nodes cannot see while the server fails.
			next = l.CommitAndPublish("add scanner", zoneWith(3, "printer IN A 198.18.10.40", "scanner IN A 198.18.10.41"))
		}
		if err := l.KeepsServing(good, 4*time.Second, nodes...); err != nil {
			t.Fatalf("with the git server answering %s: %v", mode, err)
		}
		if l.Git().Hits(mode) == 0 {
			t.Fatalf("no node asked the git server while it answered %s: the scenario did not happen", mode)
		}
		if got, err := c.Getent("printer"); err != nil || !sameSet(got, "198.18.10.40") {
			t.Errorf("git server answering %s: getent printer = %v, %v (records purged?)", mode, got, err)
		}
		for _, n := range []*Node{l.Node("dc1/ns1"), l.Node("dc2/ns3")} {
			st, body, err := n.Status()
			if err != nil {
				t.Errorf("%s status: %v", n.ID(), err)
				continue
			}
			l.Logf("%s %s", n.ID(), statusLine(n))
			if st.Failures == 0 || st.LastAttempted == nil || st.LastAttempted.Class == "" {
				t.Errorf("%s: status does not say the fetch fails (HTTP %s): %s", n.ID(), mode, body)
			}
			if st.Applied.ID != good {
				t.Errorf("%s: status says applied %s, want %s", n.ID(), st.Applied.ID, good)
			}
		}
	}
	expo, err := l.Node("dc1/ns2").Metrics()
	must(t, err)
	lines := MetricLines(expo, "coredns_gitops_sync_errors_total")
	l.Logf("dc1/ns2 metrics: %s", strings.Join(lines, " | "))
	if MetricSum(expo, "coredns_gitops_sync_errors_total") == 0 {
		t.Errorf("no sync error counted in coredns_gitops_sync_errors_total")
	}

	l.Git().SetHTTPFailure("")
	for _, site := range []string{"dc1", "dc2"} {
		l.Cut(site, "git")
	}
	if err := l.KeepsServing(good, 8*time.Second, nodes...); err != nil {
		t.Fatalf("with the git server unreachable: %v", err)
	}
	l.Logf("dc2/ns1 %s", statusLine(l.Node("dc2/ns1")))
	if st, body, err := l.Node("dc2/ns1").Status(); err != nil || st.LastAttempted == nil ||
		(st.LastAttempted.Class != "timeout" && st.LastAttempted.Class != "unreachable") {
		t.Errorf("git server unreachable: status does not say so: %v %s", err, body)
	}
	if got, err := l.Client("dc2").Getent("printer"); err != nil || !sameSet(got, "198.18.10.40") {
		t.Errorf("git server unreachable: dc2 getent printer = %v, %v", got, err)
	}
	for _, site := range []string{"dc1", "dc2"} {
		l.Restore(site, "git")
	}
	l.MustServe(next, 30*time.Second, nodes...)
	if got, err := c.Getent("scanner"); err != nil || !sameSet(got, "198.18.10.41") {
		t.Errorf("after recovery: getent scanner = %v, %v", got, err)
	}
	if st, body, err := l.Node("dc1/ns1").Status(); err != nil || st.Failures != 0 {
		t.Errorf("after recovery, status still reports failures: %v %s", err, body)
	}
}

// TestSeed002UntrustedAndInvalid (Aiven): nodes trust one key. A revision
// signed by another key, an unsigned one and one that fails validation are
// all refused; the nodes keep the last good revision, also across a
// restart while the git server is unreachable.
func TestSeed002UntrustedAndInvalid(t *testing.T) {
	l := New(t, Options{Clusters: []string{"dc1", "dc2"}, Trust: true})
	nodes := l.Nodes()
	c := l.Client("dc1")
	good := l.CommitAndPublish("add printer", zoneWith(2, "printer IN A 198.18.10.40"))
	l.MustServe(good, 15*time.Second, nodes...)

	evil := l.CommitWith("repoint db-primary", zoneWith(3, "printer IN A 198.18.10.40", "db IN A 198.18.10.66"),
		CommitOpts{Key: l.Repo().Untrusted})
	l.Publish(evil)
	must(t, l.KeepsServing(good, 4*time.Second, nodes...))
	st, body, err := l.Node("dc1/ns1").Status()
	must(t, err)
	l.Logf("dc1/ns1 %s; SourceVerified=%s", statusLine(l.Node("dc1/ns1")), st.Condition("SourceVerified"))
	if st.LastAttempted == nil || st.LastAttempted.Revision != evil || st.LastAttempted.Reason == "" {
		t.Errorf("status does not report the refused untrusted revision %s: %s", short(evil), body)
	}

	unsigned := l.CommitWith("unsigned change", zoneWith(4, "printer IN A 198.18.10.40", "db IN A 198.18.10.67"), CommitOpts{Unsigned: true})
	l.Publish(unsigned)
	must(t, l.KeepsServing(good, 3*time.Second, nodes...))

	broken := l.CommitAndPublish("broken zone", map[string]string{
		"zones/corp.internal.zone": CorpZone(ZoneSerialBase+5, "printer IN A 198.18.10.40", "oops IN A 300.1.2.3"),
	})
	must(t, l.KeepsServing(good, 4*time.Second, nodes...))
	st, body, err = l.Node("dc2/ns2").Status()
	must(t, err)
	l.Logf("dc2/ns2 %s", statusLine(l.Node("dc2/ns2")))
	// Status says why; the log names every error as path:line:col.
	if st.LastAttempted == nil || st.LastAttempted.Revision != broken || st.LastAttempted.Reason == "" {
		t.Errorf("status does not report the refused invalid revision %s: %s", short(broken), body)
	}
	findingInStatus := false
	for _, a := range st.History {
		for _, f := range a.Findings {
			findingInStatus = findingInStatus || (a.Revision == broken && strings.HasPrefix(f, ConfigDir+"/zones/corp.internal.zone:"))
		}
	}
	l.Logf("dc2/ns2 status history carries the zone finding: %v", findingInStatus)
	logText := l.Node("dc2/ns2").proc.Log(0)
	if !strings.Contains(logText, ConfigDir+"/zones/corp.internal.zone:") || !strings.Contains(logText, "300.1.2.3") {
		t.Errorf("dc2/ns2 log does not name the error as %s/zones/corp.internal.zone:line:col", ConfigDir)
	}
	if got, err := c.Getent("db-primary"); err != nil || !sameSet(got, DBPrimaryA) {
		t.Errorf("getent db-primary = %v, %v", got, err)
	}

	// Restart a node while the git server is unreachable: it boots from
	// its state dir and serves the last good revision.
	l.Cut("dc1", "git")
	n := l.Node("dc1/ns1")
	l.Stop(n)
	l.Start(n)
	l.MustServe(good, 15*time.Second, n)
	l.Logf("dc1/ns1 after restart %s", statusLine(n))
	r, err := Query(c.Host.NS, n.Addr, "printer.corp.internal.", dns.TypeA, 2*time.Second)
	if err != nil || !sameSet(Addrs(r), "198.18.10.40") {
		t.Errorf("restarted node: printer = %v, %v", Addrs(r), err)
	}
	l.Restore("dc1", "git")
	must(t, l.KeepsServing(good, 3*time.Second, n))

	fixed := l.CommitAndPublish("fix zone", zoneWith(6, "printer IN A 198.18.10.40", "scanner IN A 198.18.10.41"))
	l.MustServe(fixed, 20*time.Second, nodes...)
	if got, err := c.Getent("scanner"); err != nil || !sameSet(got, "198.18.10.41") {
		t.Errorf("getent scanner = %v, %v", got, err)
	}
}

// TestSeed004ForwarderLoop (Let's Encrypt): a revision where a cluster
// forwards to its own peer and two clusters forward to each other is
// refused by dnsctl check and by every node. With the validator bypassed
// by hand (one node pinned to a hand-made branch whose rule, together with
// production's, makes a loop no single revision shows), a query does not
// loop forever: it ends, and the traffic it causes is bounded. Critical
// names still resolve from fallback records while the internet is cut off.
func TestSeed004ForwarderLoop(t *testing.T) {
	l := New(t, Options{Clusters: []string{"dc1", "dc2"}})
	nodes := l.Nodes()
	c := l.Client("dc1")
	dc1, dc2 := l.Cluster("dc1"), l.Cluster("dc2")

	bad := l.CommitAndPublish("forward everything to the peer", map[string]string{
		"clusters/dc1.yaml": dc1.YAML("forward:\n  - zone: .\n    to: [198.18.1.2]\n  - zone: example.net.\n    to: [198.18.2.1]\n"),
		"clusters/dc2.yaml": dc2.YAML("forward:\n  - zone: example.net.\n    to: [198.18.1.1]\n"),
	})
	out, code := l.Dnsctl("", "check", bad)
	l.Logf("dnsctl check said:\n%s", out)
	if code != 1 {
		t.Errorf("dnsctl check of the looping revision: exit %d, want 1", code)
	}
	for _, want := range []string{"forward-peer", "forward-cycle", ConfigDir + "/clusters/dc1.yaml:", ConfigDir + "/clusters/dc2.yaml:"} {
		if !strings.Contains(out, want) {
			t.Errorf("dnsctl check output lacks %q", want)
		}
	}
	must(t, l.KeepsServing(l.Initial, 4*time.Second, nodes...))
	l.Logf("dc1/ns1 %s", statusLine(l.Node("dc1/ns1")))
	if got, err := c.Getent("www.example.com"); err != nil || !sameSet(got, ExternalWWWA, ExternalWWWAAAA) {
		t.Errorf("after the refused revision: getent www.example.com = %v, %v", got, err)
	}

	// Production: dc1 forwards example.net. to dc2/ns1. Valid on its own.
	prod := l.CommitAndPublish("dc1: forward example.net. to dc2", map[string]string{
		"clusters/dc1.yaml": dc1.YAML("forward:\n  - zone: example.net.\n    to: [198.18.2.1]\n"),
		"clusters/dc2.yaml": dc2.YAML(""),
	})
	l.MustServe(prod, 15*time.Second, nodes...)
	// By hand: dc2/ns1 pinned to a branch where dc2 forwards example.net.
	// back to dc1. Valid on its own too; together they loop.
	hot := l.CommitWith("hotfix: dc2 forwards example.net. to dc1", map[string]string{
		"clusters/dc1.yaml": dc1.YAML(""),
		"clusters/dc2.yaml": dc2.YAML("forward:\n  - zone: example.net.\n    to: [198.18.1.1, 198.18.1.2, 198.18.1.3]\n"),
	}, CommitOpts{Ref: "refs/heads/hotfix"})
	pinned := l.Node("dc2/ns1")
	l.Stop(pinned)
	pinned.Ref = "refs/heads/hotfix"
	l.Start(pinned)
	l.MustServe(hot, 15*time.Second, pinned)

	before := requestsTotal(t, nodes)
	start := time.Now()
	r, err := c.Dig("+time=10", "loop-1.example.net", "A")
	took := time.Since(start)
	l.Logf("looping query ended after %v: %v %+v", took.Round(time.Millisecond), err, r.Status)
	if took > 10*time.Second {
		t.Errorf("a query caught in the loop took %v", took)
	}
	l.Sleep(3*time.Second, "let any loop play out")
	mid := requestsTotal(t, nodes)
	l.Sleep(2*time.Second, "is the loop still running?")
	after := requestsTotal(t, nodes)
	l.Logf("DNS requests seen by all nodes: %v before, %v 3 s after the query, %v 5 s after", before, mid, after)
	if mid-before > 200 {
		t.Errorf("one client query caused %v requests between nodes: the loop is not bounded", mid-before)
	}
	if after-mid > 20 {
		t.Errorf("the loop is still running: %v more requests in 2 s with no client asking", after-mid)
	}
	if got, err := c.Getent("app"); err != nil || !sameSet(got, AppHostA, AppHostAAAA) {
		t.Errorf("during the loop: getent app = %v, %v", got, err)
	}

	// Sustained: 20 looping queries a second for 5 s next to internal load.
	var loops []LoadQuery
	for i := 0; i < 100; i++ {
		loops = append(loops, LoadQuery{Name: fmt.Sprintf("loop-%03d.example.net.", i), Type: dns.TypeA})
	}
	before = requestsTotal(t, nodes)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	ldone := make(chan *LoadStats)
	go func() { ldone <- c.Load(ctx, 20, 32, loops) }()
	ist := c.Load(ctx, 50, 8, internalLoad)
	lst := <-ldone
	cancel()
	l.Sleep(3*time.Second, "let the loops end")
	after = requestsTotal(t, nodes)
	l.Logf("looping names: %s; internal names meanwhile: %s, p99 %v", lst, ist, ist.P99().Round(time.Millisecond))
	// Each stub query is tried up to 6 times; every try may cost a few
	// hops before the loop is cut. Unbounded loops cost thousands.
	perQuery := (after - before - float64(ist.Sent)) / float64(max(lst.Sent, 1))
	l.Logf("node-to-node requests per looping client query: %.1f", perQuery)
	if perQuery > 100 {
		t.Errorf("each looping client query cost %.0f requests between nodes: not bounded", perQuery)
	}
	if ist.Failed > 0 {
		t.Errorf("internal names failed during the loop load: %s", strings.Join(ist.Failures, "; "))
	}

	// The internet is cut off: critical names come from fallback records.
	l.Cut("dc1", "inet")
	l.Cut("dc2", "inet")
	r, err = c.Dig("+time=8", ExternalCT, "A")
	if err != nil || r.Status != "NOERROR" || !sameSet(r.Answers, ExternalCTA) {
		t.Errorf("internet cut: %s = %+v, %v; want the fallback %s", ExternalCT, r, err, ExternalCTA)
	} else if r.EDE == "" {
		t.Errorf("fallback answer for %s carries no Extended DNS Error", ExternalCT)
	}
	if got, err := c.Getent("db-primary"); err != nil || !sameSet(got, DBPrimaryA) {
		t.Errorf("internet cut: getent db-primary = %v, %v", got, err)
	}
	r, err = c.Dig("+time=8", "not-critical.example.com", "A")
	if err == nil && r.Status == "NOERROR" && len(r.Answers) > 0 {
		t.Errorf("internet cut: a name without fallback record got an answer: %+v", r.Answers)
	}
	expo, err := l.Node("dc1/ns1").Metrics()
	if err == nil {
		l.Logf("dc1/ns1 fallback metrics: %s", strings.Join(MetricLines(expo, "coredns_fallback_"), " | "))
	}
}

// requestsTotal sums coredns_dns_requests_total over nodes.
func requestsTotal(t *testing.T, nodes []*Node) float64 {
	t.Helper()
	var sum float64
	for _, n := range nodes {
		expo, err := n.Metrics()
		if err != nil {
			t.Fatalf("%s metrics: %v", n.ID(), err)
		}
		sum += MetricSum(expo, "coredns_dns_requests_total")
	}
	return sum
}

// TestSeed003BlackholedForwarder (config push): a forward target that can
// never answer is refused by dnsctl check and by the nodes. A routable
// target that silently drops everything (no check can know) is applied:
// while clients hammer the forwarded zone, internal names keep answering
// at full rate and the node's goroutines stay bounded.
func TestSeed003BlackholedForwarder(t *testing.T) {
	l := New(t, Options{Clusters: []string{"dc1"}})
	nodes := l.Nodes()
	c := l.Client("dc1")
	dc1 := l.Cluster("dc1")

	bad := l.CommitAndPublish("forward partner zone to a reserved address", map[string]string{
		"clusters/dc1.yaml": dc1.YAML("forward:\n  - zone: example.net.\n    to: [240.0.0.1]\n"),
	})
	out, code := l.Dnsctl("", "check", bad)
	l.Logf("dnsctl check said:\n%s", out)
	if code != 1 || !strings.Contains(out, "forward-unreachable") || !strings.Contains(out, ConfigDir+"/clusters/dc1.yaml:") {
		t.Errorf("dnsctl check of a forward to 240.0.0.1: exit %d, want 1 with forward-unreachable at dns/clusters/dc1.yaml:line:col", code)
	}
	must(t, l.KeepsServing(l.Initial, 3*time.Second, nodes...))

	hole := l.CommitAndPublish("forward example.net. to a dead forwarder", map[string]string{
		"clusters/dc1.yaml": dc1.YAML("forward:\n  - zone: example.net.\n    to: [" + BlackholeIP + "]\n"),
	})
	l.MustServe(hole, 15*time.Second, nodes...)
	// No static rule can know the target is dead; verification asks it.
	out, code = l.Dnsctl(c.Host.NS, "verify", "--cluster", "dc1", "--wait", "5s", hole)
	l.Logf("dnsctl verify said:\n%s", out)
	if code != 1 || !strings.Contains(out, BlackholeIP) {
		t.Errorf("dnsctl verify of a revision forwarding to a dead target: exit %d, want 1 naming %s", code, BlackholeIP)
	}
	g0 := goroutines(t, nodes)
	l.Logf("goroutines before the load: %v", g0)

	// Baseline: internal names alone, as fast as this host lets the client ask.
	bctx, bcancel := context.WithTimeout(context.Background(), 5*time.Second)
	base := c.Load(bctx, 100, 16, internalLoad)
	bcancel()
	l.Logf("baseline, internal names alone for 5 s: %s, p99 %v", base, base.P99().Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var hammer []LoadQuery
	for i := 0; i < 500; i++ {
		hammer = append(hammer, LoadQuery{Name: fmt.Sprintf("h%03d.example.net.", i), Type: dns.TypeA})
	}
	hdone := make(chan *LoadStats)
	go func() { hdone <- c.Load(ctx, 200, 64, hammer) }()
	idone := make(chan *LoadStats)
	go func() { idone <- c.Load(ctx, 100, 16, internalLoad) }()
	l.Logf("load: 200 q/s of distinct names under the blackholed zone, 100 q/s of internal names, 10 s")
	peak := map[string]float64{}
	for ctx.Err() == nil {
		time.Sleep(time.Second)
		for id, g := range goroutines(t, nodes) {
			peak[id] = max(peak[id], g)
		}
	}
	ist, hst := <-idone, <-hdone
	l.Logf("internal names under the blackhole: %s, p99 %v", ist, ist.P99().Round(time.Millisecond))
	l.Logf("blackholed names: %s", hst)
	l.Logf("goroutines peak during the load: %v", peak)
	if ist.Failed > 0 {
		t.Errorf("%d internal queries failed while the forwarder blackholed: %s", ist.Failed, strings.Join(ist.Failures, "; "))
	}
	baseRate, rate := float64(base.OK)/5, float64(ist.OK)/10
	l.Logf("internal answers per second: %.0f alone, %.0f under the blackhole load", baseRate, rate)
	if rate < 0.7*baseRate {
		t.Errorf("internal names answered at %.0f/s under the blackhole load, %.0f/s without: not full rate", rate, baseRate)
	}
	if hst.Sent < 200 {
		t.Errorf("only %d queries sent to the blackholed zone: the scenario did not happen", hst.Sent)
	}
	for id, p := range peak {
		if p > g0[id]+2000 {
			t.Errorf("%s: goroutines grew from %v to %v under the blackhole: not bounded", id, g0[id], p)
		}
	}
	time.Sleep(3 * time.Second)
	g1 := goroutines(t, nodes)
	l.Logf("goroutines 3 s after the load: %v", g1)
}

func goroutines(t *testing.T, nodes []*Node) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, n := range nodes {
		expo, err := n.Metrics()
		if err != nil {
			t.Fatalf("%s metrics: %v", n.ID(), err)
		}
		out[n.ID()] = MetricSum(expo, "go_goroutines")
	}
	return out
}

// TestSeed000StagingCatchesBrokenProbe (DFINITY): a revision that passes
// dnsctl check but breaks a probed name (app becomes a CNAME to a name the
// internet does not have) fails verify on staging, promote refuses it, and
// production never sees it. A good revision is verified, promoted to the
// canary datacenter (dc1) first, and reaches dc2 only after the canary
// has served it for the bake time.
func TestSeed000StagingCatchesBrokenProbe(t *testing.T) {
	NeedDnsctl(t)
	// The canary's bake of seconds is judged by self-probes every second.
	l := New(t, Options{GitopsExtra: []string{"probe_interval 1s"}})
	prod := l.Nodes("dc1", "dc2")
	stg := l.Nodes("staging")
	stgNS := l.Client("staging").Host.NS

	brokenZone := strings.Replace(CorpZone(ZoneSerialBase+2),
		"app         IN A    198.18.10.20\napp         IN AAAA 2001:db8:10::20\n",
		"app         IN CNAME app.example.com.\n", 1)
	if brokenZone == CorpZone(ZoneSerialBase+2) {
		t.Fatal("test bug: the app records were not replaced")
	}
	bad := l.Commit("app moves behind the partner's CDN", map[string]string{"zones/corp.internal.zone": brokenZone})
	out, code := l.Dnsctl("", "check", bad)
	if code != 0 {
		t.Fatalf("dnsctl check refused the revision this scenario needs to pass it (exit %d):\n%s", code, out)
	}
	l.Sleep(3*time.Second, "staging tracks main and takes the revision")
	for _, n := range stg {
		l.Logf("%s %s", n.ID(), statusLine(n))
	}
	out, code = l.Dnsctl(stgNS, "verify", "--cluster", "staging", "--wait", "10s", bad)
	l.Logf("dnsctl verify said:\n%s", out)
	if code != 1 {
		t.Errorf("dnsctl verify of the broken revision: exit %d, want 1", code)
	}
	out, code = l.Dnsctl(stgNS, "promote", bad, "--to", "production")
	l.Logf("dnsctl promote said:\n%s", out)
	if code != 1 {
		t.Errorf("dnsctl promote of an unverified revision: exit %d, want 1", code)
	}
	must(t, l.KeepsServing(l.Initial, 3*time.Second, prod...))
	for _, ref := range []string{ProductionRef, BakedRef} {
		if got, _ := l.Repo().Ref(ref); got != l.Initial {
			t.Errorf("%s moved to %s", ref, short(got))
		}
	}
	if got, err := l.Client("dc1").Getent("app"); err != nil || !sameSet(got, AppHostA, AppHostAAAA) {
		t.Errorf("production client: getent app = %v, %v", got, err)
	}

	good := l.Commit("app back on its own address, new canary-check host",
		zoneWith(3, "canary-check IN A 198.18.10.50"))
	l.MustServe(good, 20*time.Second, stg...)
	out, code = l.Dnsctl(stgNS, "verify", "--cluster", "staging", "--wait", "10s", good)
	l.Logf("dnsctl verify said:\n%s", out)
	if code != 0 {
		t.Fatalf("dnsctl verify of the good revision: exit %d", code)
	}
	out, code = l.Dnsctl(stgNS, "promote", good, "--to", "production")
	l.Logf("dnsctl promote said:\n%s", out)
	if code != 0 {
		t.Fatalf("dnsctl promote of the verified revision: exit %d", code)
	}
	l.MustServe(good, 20*time.Second, l.Nodes("dc1")...)
	must(t, l.KeepsServing(l.Initial, 3*time.Second, l.Nodes("dc2")...))
	if got, err := l.Client("dc1").Getent("canary-check"); err != nil || !sameSet(got, "198.18.10.50") {
		t.Errorf("canary client: getent canary-check = %v, %v", got, err)
	}
	if got, err := l.Client("dc2").Getent("canary-check"); err == nil {
		t.Errorf("dc2 client resolved canary-check before the bake: %v", got)
	}

	dc1NS := l.Client("dc1").Host.NS
	out, code = l.Dnsctl(dc1NS, "verify", "--cluster", "dc1", "--wait", "10s", good)
	l.Logf("dnsctl verify (canary, bake starts) said:\n%s", out)
	if code != 0 {
		t.Fatalf("dnsctl verify on the canary: exit %d", code)
	}
	const bake = "4s"
	out, code = l.Dnsctl(dc1NS, "promote", good, "--to", "production", "--after-bake", "--bake", bake, "--status-port", "8053")
	l.Logf("dnsctl promote --after-bake (too early) said:\n%s", out)
	if code != 1 {
		t.Errorf("promote --after-bake before the bake time: exit %d, want 1", code)
	}
	l.Sleep(4*time.Second, "the canary bakes")
	out, code = l.Dnsctl(dc1NS, "promote", good, "--to", "production", "--after-bake", "--bake", bake, "--status-port", "8053")
	l.Logf("dnsctl promote --after-bake said:\n%s", out)
	if code != 0 {
		t.Fatalf("promote --after-bake after the bake time: exit %d", code)
	}
	l.MustServe(good, 20*time.Second, l.Nodes("dc2")...)
	if got, err := l.Client("dc2").Getent("canary-check"); err != nil || !sameSet(got, "198.18.10.50") {
		t.Errorf("dc2 client after the bake: getent canary-check = %v, %v", got, err)
	}
}
