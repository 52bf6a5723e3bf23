package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// policyYAML is the tests' policy.yaml. Their internet is unsigned, so
// DNSSEC validation (on by default) is off: under the IANA root anchor
// every external answer would be bogus. dnssec_test.go turns it on.
const policyYAML = policyBase + "dnssec:\n  validation: false\n"

const policyBase = `recursion:
  root_hints: root.hints
fallback:
  ttl: 30
limits:
  max_delete_percent: 10
  min_ttl: 30
  max_ttl: 86400
`

// The root of this test's "internet" is a loopback address where nothing
// listens: recursion must never leave the machine.
const rootHints = `.                        3600000 IN NS a.root-servers.test.
a.root-servers.test.     3600000 IN A  127.0.0.253
`

const devCluster = `name: dev
environment: staging
track: refs/heads/main
nodes:
  - {name: local, address: 127.0.0.1}
recursion:
  allow: [127.0.0.0/8]
`

func corpZone(serial, wwwAddr string) string {
	return `$ORIGIN corp.internal.
$TTL 300
@        IN SOA ns1 hostmaster ` + serial + ` 3600 600 1209600 300
         IN NS  ns1
         IN NS  ns2
ns1      IN A   198.18.1.1
ns2      IN A   198.18.1.2
www      IN A   ` + wwwAddr + `
intranet IN CNAME www
db       IN A   198.18.5.10
`
}

func baseFiles() map[string]string {
	return map[string]string{
		"policy.yaml":              policyYAML,
		"root.hints":               rootHints,
		"clusters/dev.yaml":        devCluster,
		"zones/corp.internal.zone": corpZone("2026112101", "198.18.5.80"),
	}
}

func aRecords(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			out = append(out, a.A.String())
		}
	}
	return out
}

// TestFirstSlice walks the user story of issue 2: serve from git, pick up a
// commit, refuse a broken one while serving the old, survive the repo going
// away across a restart.
func TestFirstSlice(t *testing.T) {
	repo := newConfigRepo(t, baseFiles())
	head0, _ := repo.repo.Head()
	rev1 := head0.Hash().String()
	state := t.TempDir()

	n := newNode(t, repo.dir, state)
	n.start()
	n.waitServed(rev1, 30*time.Second)

	// Answers over UDP and TCP, from a real client and from miekg/dns.
	for _, netw := range []string{"udp", "tcp"} {
		r, err := n.query(netw, "www.corp.internal.", dns.TypeA, dns.ClassINET)
		if err != nil {
			t.Fatalf("%s query: %v", netw, err)
		}
		if got := aRecords(r); len(got) != 1 || got[0] != "198.18.5.80" || !r.Authoritative {
			t.Fatalf("%s: www.corp.internal A = %v (aa=%v), want 198.18.5.80 authoritative", netw, got, r.Authoritative)
		}
	}
	port := strings.TrimPrefix(n.addr(), "127.0.0.1:")
	if got := dig(t, "@127.0.0.1", "-p", port, "+short", "intranet.corp.internal", "A"); got != "www.corp.internal.\n198.18.5.80" {
		t.Fatalf("dig intranet.corp.internal (udp) = %q", got)
	}
	if got := dig(t, "@127.0.0.1", "-p", port, "+tcp", "+short", "db.corp.internal", "A"); got != "198.18.5.10" {
		t.Fatalf("dig +tcp db.corp.internal = %q", got)
	}
	if got := dig(t, "@127.0.0.1", "-p", port, "+short", "CH", "TXT", "version.config."); got != `"`+rev1+`"` {
		t.Fatalf("dig CH TXT version.config. = %q, want %q", got, rev1)
	}
	r, err := n.query("udp", "nope.corp.internal.", dns.TypeA, dns.ClassINET)
	if err != nil || r.Rcode != dns.RcodeNameError || len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA {
		t.Fatalf("nope.corp.internal: want NXDOMAIN with SOA, got %v %v", r, err)
	}

	// A commit is served within the poll interval, without a restart and
	// without dropping a query: a client keeps asking during the swap and
	// every answer is either the old or the new address.
	stop := make(chan struct{})
	type tally struct {
		ok, failed int
		bad        []string
	}
	done := make(chan tally)
	go func() {
		var tl tally
		for {
			select {
			case <-stop:
				done <- tl
				return
			default:
			}
			r, err := n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET)
			switch {
			case err != nil:
				tl.failed++
				tl.bad = append(tl.bad, err.Error())
			case len(aRecords(r)) != 1 || (aRecords(r)[0] != "198.18.5.80" && aRecords(r)[0] != "198.18.5.81"):
				tl.failed++
				tl.bad = append(tl.bad, r.String())
			default:
				tl.ok++
			}
		}
	}()
	rev2 := repo.commit("move www", map[string]string{"zones/corp.internal.zone": corpZone("2026112102", "198.18.5.81")})
	n.waitServed(rev2, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	if tl := <-done; tl.failed > 0 || tl.ok == 0 {
		t.Fatalf("during the swap %d queries answered, %d failed: %v", tl.ok, tl.failed, tl.bad)
	}
	r, err = n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET)
	if err != nil || len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.5.81" {
		t.Fatalf("after commit: www A = %v %v, want 198.18.5.81", r, err)
	}

	// A broken zone: the node logs every error with its position, keeps
	// serving the previous revision and counts the rejection.
	rejectedBefore := n.metric("coredns_gitops_rejected_revisions_total")
	broken := corpZone("2026112103", "198.18.5.82") + "bad      IN A   not-an-address\n"
	rev3 := repo.commit("broken zone", map[string]string{"zones/corp.internal.zone": broken})
	deadline := time.Now().Add(10 * time.Second)
	for n.metric("coredns_gitops_rejected_revisions_total") <= rejectedBefore {
		if time.Now().After(deadline) {
			t.Fatalf("rejection of %s not counted in coredns_gitops_rejected_revisions_total", rev3)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := n.servedRevision(); got != rev2 {
		t.Fatalf("after a broken commit the node serves %q, want the previous %s", got, rev2)
	}
	r, err = n.query("tcp", "www.corp.internal.", dns.TypeA, dns.ClassINET)
	if err != nil || len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.5.81" {
		t.Fatalf("after broken commit: www A = %v %v, want the old 198.18.5.81", r, err)
	}
	if log := n.logText(); !strings.Contains(log, "zones/corp.internal.zone:11:") {
		t.Fatalf("the log does not name the broken line zones/corp.internal.zone:11:col:\n%s", log)
	}

	// Restart with the repository gone: the state dir still serves rev2.
	n.stop()
	if err := os.RemoveAll(repo.dir); err != nil {
		t.Fatal(err)
	}
	n2 := newNode(t, repo.dir, state)
	n2.start()
	n2.waitServed(rev2, 30*time.Second)
	r, err = n2.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET)
	if err != nil || len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.5.81" {
		t.Fatalf("after restart without repo: www A = %v %v, want 198.18.5.81 from the state dir", r, err)
	}
}
