package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/version"
)

// observedNode is a resolverd process with every endpoint an operator
// watches: metrics, readiness, the gitops status.
type observedNode struct {
	*node
	status int
}

// startObserved starts a node of cluster dev on repo with the given extra
// gitops lines and waits until its metrics endpoint answers.
func startObserved(t *testing.T, repo, gitopsExtra string) *observedNode {
	t.Helper()
	n := &observedNode{node: &node{t: t, bindAddr: "127.0.0.1", port: freePort(t), metrics: freePort(t), read: freePort(t), state: filepath.Join(t.TempDir(), "state")}, status: freePort(t)}
	n.corefile = filepath.Join(t.TempDir(), "Corefile")
	conf := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    gitops {
        repo    %s
        ref     refs/heads/main
        cluster dev
        node    local
        poll    200ms
        state   %s
        http    127.0.0.1:%d
        %s
    }
    fastpath
    fallback {
        timeout 1s
    }
    authority
    recursor
    prometheus 127.0.0.1:%d
    ready 127.0.0.1:%d
    errors
}
`, n.port, repo, n.state, n.status, gitopsExtra, n.metrics, n.read)
	if err := os.WriteFile(n.corefile, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", n.metrics))
		if err == nil {
			resp.Body.Close()
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics endpoint never answered: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// forwardTarget is an upstream a forward rule sends to: it answers every
// A question with 198.18.9.9.
func forwardTarget(t *testing.T, addr string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA {
			m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 18, 9, 9)}}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// observedRepo is a config repo whose dev cluster forwards ad.corp.internal.
// to an answering target and broken.internal. to a closed port, with a
// fallback record under the broken zone.
func observedRepo(t *testing.T) *configRepo {
	t.Helper()
	good := forwardTarget(t, "127.0.0.2:0")
	closed := fmt.Sprintf("127.0.0.3:%d", freePort(t))
	files := baseFiles()
	files["clusters/dev.yaml"] = devCluster + fmt.Sprintf("forward:\n  - zone: ad.corp.internal.\n    to: [%q]\n  - zone: broken.internal.\n    to: [%q]\n", good, closed)
	files["fallback.zone"] = "db.broken.internal. 30 IN A 198.18.5.10\n"
	return newConfigRepo(t, files)
}

// TestFreshNodeHasEveryAlertingSeries: the first scrape of a fresh node that
// serves a revision has a series for every selector of the alerting and
// recording rules (deploy/prometheus), the counters among them at zero, so
// the first refusal or fallback answer is an increase the rules see; and
// the dashboard's every query names a metric the node exports once it has
// answered some traffic.
func TestFreshNodeHasEveryAlertingSeries(t *testing.T) {
	repo := observedRepo(t)
	rev := repo.commit("second revision", map[string]string{"zones/corp.internal.zone": corpZone("2026112102", "198.18.5.81")})
	n := startObserved(t, repo.dir, "")
	n.waitServed(rev, 15*time.Second)

	first := scrapeNode(t, n.metrics)
	sels, recorded := ruleSelectors(t, "../../deploy/prometheus/resolverd.rules.yml")
	for _, s := range sels {
		if recorded[s.name] || s.name == "up" { // the rules' own, and Prometheus's
			continue
		}
		if len(first.series(s.name, s.equal)) == 0 {
			t.Errorf("alert rules select %s: no such series at the first scrape", s)
		}
	}
	info := map[string]string{"cluster": "dev", "node": "local"}
	if v := first.value(t, "coredns_gitops_node_info", info); v != 1 {
		t.Errorf("node_info%v = %v", info, v)
	}
	if v := first.value(t, "coredns_gitops_cluster_nodes", nil); v != 1 {
		t.Errorf("cluster_nodes = %v, want 1", v)
	}
	if v := first.value(t, "coredns_gitops_revision_timestamp_seconds", nil); v < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("revision_timestamp_seconds = %v, not the commit's time", v)
	}
	for _, zone := range []string{"ad.corp.internal.", "broken.internal."} {
		z := map[string]string{"zone": zone}
		if a, b := first.value(t, "coredns_recursor_forward_targets", z), first.value(t, "coredns_recursor_forward_targets_healthy", z); a != 1 || b != 1 {
			t.Errorf("%s: %v targets, %v healthy before any query, want 1 and 1", zone, a, b)
		}
	}
	for _, reason := range []string{"servfail", "error", "timeout"} {
		fb := map[string]string{"name": "db.broken.internal.", "reason": reason}
		if v := first.value(t, "coredns_fallback_answers_total", fb); v != 0 {
			t.Errorf("fallback_answers_total%v = %v before any query", fb, v)
		}
	}
	rejected := map[string]string{"reason": "ValidationFailed"}
	if v := first.value(t, "coredns_gitops_rejected_revisions_total", rejected); v != 0 {
		t.Errorf("rejected_revisions_total%v = %v on a fresh node", rejected, v)
	}

	// Traffic: an internal name (fast path), a forwarded one (upstream
	// round trip), one whose forward target is closed (fallback), CHAOS.
	if r, err := n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET); err != nil || len(aRecords(r)) != 1 {
		t.Fatalf("www.corp.internal: %v %v", r, err)
	}
	if r, err := n.query("udp", "dc1.ad.corp.internal.", dns.TypeA, dns.ClassINET); err != nil || strings.Join(aRecords(r), ",") != "198.18.9.9" {
		t.Fatalf("forwarded dc1.ad.corp.internal: %v %v", r, err)
	}
	if r, err := n.query("udp", "db.broken.internal.", dns.TypeA, dns.ClassINET); err != nil || strings.Join(aRecords(r), ",") != "198.18.5.10" {
		t.Fatalf("db.broken.internal from its fallback record: %v %v", r, err)
	}
	// A broken revision is refused.
	repo.commit("broken zone", map[string]string{"zones/corp.internal.zone": "this is not a zone\n"})
	waitMetric(t, n, "coredns_gitops_rejected_revisions_total", rejected, 1)

	after := scrapeNode(t, n.metrics)
	// The counters the rules rate are the series that were at zero: one
	// label set, now counting (a new label set would be invisible to
	// increase()).
	fb := map[string]string{"name": "db.broken.internal."}
	if v := after.series("coredns_fallback_answers_total", fb); len(v) != 3 || v[0]+v[1]+v[2] != 1 {
		t.Errorf("fallback_answers_total%v after one fallback answer: %v, want the three zeroed series summing to 1", fb, v)
	}
	ad := map[string]string{"zone": "broken.internal."}
	if v := after.value(t, "coredns_recursor_forward_targets_healthy", ad); v != 0 {
		t.Errorf("broken.internal.: %v healthy targets after its only target refused", v)
	}

	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Name       string
				Definition string
			}
		}
	}
	data, err := os.ReadFile("../../deploy/grafana/resolverd-cluster.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	queries := 0
	check := func(where, expr string) {
		queries++
		for _, s := range selectors(expr) {
			if len(after.series(s.name, s.equal)) == 0 {
				t.Errorf("dashboard %s: %s selects %s, which the node does not export", where, expr, s)
			}
		}
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			check("panel "+p.Title, tg.Expr)
		}
	}
	for _, v := range dash.Templating.List {
		if d, ok := strings.CutPrefix(v.Definition, "label_values("); ok {
			check("variable "+v.Name, d[:strings.LastIndex(d, ",")])
		}
	}
	if queries < 15 {
		t.Errorf("dashboard has %d queries: parsed wrongly?", queries)
	}
}

// waitMetric waits until the series name{equal} has value want.
func waitMetric(t *testing.T, n *observedNode, name string, equal map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v := scrapeNode(t, n.metrics).series(name, equal)
		if len(v) == 1 && v[0] == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v, want %v", name, equal, v, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNeverReadyNodeSaysSo: a node whose remote cannot be reached and that has
// no last good revision exports what the not-ready and stalled alerts
// read, from its first scrape: Ready False, no revision, never synced, the
// failed fetches counted in a series that existed at zero.
func TestNeverReadyNodeSaysSo(t *testing.T) {
	n := startObserved(t, fmt.Sprintf("git://127.0.0.1:%d/config", freePort(t)), "") // a remote nobody answers: a missing local repo stops the process at start
	s := scrapeNode(t, n.metrics)
	sels, recorded := ruleSelectors(t, "../../deploy/prometheus/resolverd.rules.yml")
	for _, sel := range sels {
		switch {
		case recorded[sel.name], sel.name == "up":
		case strings.HasPrefix(sel.name, "coredns_recursor_forward_targets"), sel.name == "coredns_fallback_answers_total":
			// Describe the served revision's rules and records: none yet.
		default:
			if len(s.series(sel.name, sel.equal)) == 0 {
				t.Errorf("alert rules select %s: no such series on a node that is not ready", sel)
			}
		}
	}
	waitMetric(t, n, "coredns_gitops_condition", map[string]string{"type": "Stalled", "status": "True"}, 1)
	s = scrapeNode(t, n.metrics)
	for name, want := range map[string]float64{
		"coredns_gitops_revision_timestamp_seconds":             0,
		"coredns_gitops_cluster_nodes":                          0,
		"coredns_gitops_last_successful_sync_timestamp_seconds": 0,
	} {
		if v := s.value(t, name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := s.value(t, "coredns_gitops_condition", map[string]string{"type": "Ready", "status": "True"}); v != 0 {
		t.Errorf("Ready True = %v on a node that serves nothing", v)
	}
	var failed float64
	for _, v := range s.series("coredns_gitops_sync_errors_total", nil) {
		failed += v
	}
	if classes := len(s.series("coredns_gitops_sync_errors_total", nil)); classes < 8 || failed < 1 {
		t.Errorf("sync_errors_total: %d classes, %v failures; want every class and the failures", classes, failed)
	}
}

// TestVersionEverywhere: one product version in resolverd -version, dnsctl
// version, GET /status, resolverd_build_info and CHAOS version.bind. /
// version.server.; hide_version refuses the CHAOS names.
func TestVersionEverywhere(t *testing.T) {
	out, err := exec.Command(resolverdBin, "-version").Output()
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	v, ok := strings.CutPrefix(first, "resolverd-")
	if !ok || !strings.HasPrefix(v, version.Release()) {
		t.Fatalf("resolverd -version says %q, want resolverd-%s...", first, version.Release())
	}
	out, err = exec.Command(dnsctlBin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := strings.Cut(string(out), "\n"); got != "dnsctl "+v {
		t.Errorf("dnsctl version says %q, resolverd -version %q", got, v)
	}

	repo := newConfigRepo(t, baseFiles())
	n := startObserved(t, repo.dir, "")
	waitMetric(t, n, "coredns_gitops_condition", map[string]string{"type": "Ready", "status": "True"}, 1)
	if got := scrapeNode(t, n.metrics).value(t, "resolverd_build_info", map[string]string{"version": v}); got != 1 {
		t.Errorf("resolverd_build_info{version=%q} = %v", v, got)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/status", n.status))
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ Version string }
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil || st.Version != v {
		t.Errorf("GET /status version = %q (%v), want %q", st.Version, err, v)
	}
	for _, name := range []string{"version.bind.", "version.server.", "VERSION.BIND."} {
		r, err := n.query("udp", name, dns.TypeTXT, dns.ClassCHAOS)
		if err != nil || len(r.Answer) != 1 || strings.Join(r.Answer[0].(*dns.TXT).Txt, "") != "resolverd "+v {
			t.Errorf("CH TXT %s: %v %v, want %q", name, r, err, "resolverd "+v)
		}
	}

	hidden := startObserved(t, repo.dir, "hide_version")
	waitMetric(t, hidden, "coredns_gitops_condition", map[string]string{"type": "Ready", "status": "True"}, 1)
	for _, name := range []string{"version.bind.", "version.server."} {
		r, err := hidden.query("udp", name, dns.TypeTXT, dns.ClassCHAOS)
		if err != nil || r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Errorf("hide_version: CH TXT %s: %v %v, want REFUSED", name, r, err)
		}
	}
	if got := hidden.servedRevision(); got == "" {
		t.Error("hide_version hides version.config. too")
	}
}
