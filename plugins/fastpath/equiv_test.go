package fastpath

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/caddy/caddyfile"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/fastpath"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/gitops"
	"github.com/gitops-dns/resolverd/zones"
)

const exampleConfig = "../../examples/dns-config"

// passed stands for the rest of the chain behind authority: it records that
// the query was handed on and writes nothing.
type passed struct{ n int }

func (p *passed) Name() string { return "passed" }
func (p *passed) ServeDNS(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) {
	p.n++
	return dns.RcodeServerFailure, nil
}

// authorityOf sets up, on one test controller, the gitops plugin serving
// the example config of a real git repository as cluster/node, and the
// authority plugin reading it; it returns the authority handler (its next
// plugin is next) once gitops serves the revision.
func authorityOf(t testing.TB, dir, clusterName, node string, next plugin.Handler) plugin.Handler {
	t.Helper()
	r := newConfigRepo(t, os.DirFS(dir), nil)
	r.commit("config of " + dir)
	c := caddy.NewTestController("dns", fmt.Sprintf(`gitops {
    repo    %s
    ref     refs/heads/master
    cluster %s
    node    %s
    poll    1h
    probes  off
    state   %s
}`, r.dir, clusterName, node, filepath.Join(t.TempDir(), "state")))
	setupGitops, err := caddy.DirectiveAction("dns", "gitops")
	if err != nil {
		t.Fatal(err)
	}
	if err := setupGitops(c); err != nil {
		t.Fatal(err)
	}
	dc := dnsserver.GetConfig(c)
	g := dc.Plugin[0](nil).(*gitops.GitOps)
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Stop() })
	for i := 0; i < 200 && g.Snapshot() == nil; i++ {
		time.Sleep(25 * time.Millisecond)
	}
	if g.Snapshot() == nil {
		t.Fatalf("gitops serves no revision of %s", r.dir)
	}
	c.Dispenser = caddyfile.NewDispenser("Testfile", strings.NewReader("authority"))
	setupAuthority, err := caddy.DirectiveAction("dns", "authority")
	if err != nil {
		t.Fatal(err)
	}
	if err := setupAuthority(c); err != nil {
		t.Fatal(err)
	}
	return dc.Plugin[1](next)
}

// loadSnapshot builds the snapshot of the example config for cluster/node
// as a node does (cluster.Load + node.NewSnapshot).
func loadSnapshot(t testing.TB, dir, clusterName, nodeName string) *node.Snapshot {
	t.Helper()
	rev, findings := cluster.Load(os.DirFS(dir), dir)
	for _, f := range findings {
		if f.Severity == zones.SeverityError {
			t.Fatalf("finding: %s", f)
		}
	}
	snap, err := node.NewSnapshot(rev, clusterName, nodeName)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// mixedCase spells name with every other letter upper-cased.
func mixedCase(name string) string {
	b := []byte(name)
	up := true
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			if up {
				b[i] = c - 'a' + 'A'
			}
			up = !up
		}
	}
	return string(b)
}

type ednsVariant struct {
	name   string
	edns   bool
	do     bool
	cookie bool
}

var ednsVariants = []ednsVariant{
	{name: "no EDNS"},
	{name: "EDNS", edns: true},
	{name: "EDNS+DO", edns: true, do: true},
	{name: "EDNS+cookie", edns: true, cookie: true},
}

var equivTypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeCNAME, dns.TypeMX, dns.TypeTXT, dns.TypeSRV, dns.TypePTR,
	dns.TypeNS, dns.TypeSOA, dns.TypeANY, dns.TypeDS, dns.TypeNULL, dns.TypeCAA,
}

// equivCase is one cluster's view of the example config: the names to ask
// and the ones that must take the slow path whatever the type.
type equivCase struct {
	dir           string
	cluster, node string
	extra         []string // names besides the owner names of the zones
	slow          []string // names whose every question takes the slow path
	chainOut      []string // CNAMEs leaving the zone: slow but for type CNAME
	fast          []string // "name type" questions that must be answered fast
}

func TestEquivalenceWithAuthority(t *testing.T) {
	common := []string{
		"nope.corp.internal.", "a.b.nope.corp.internal.", "foo.www.corp.internal.", "x._tcp.corp.internal.",
		"x.build.corp.internal.", "y.x.build.corp.internal.",
		"host.lab.corp.internal.", "deep.ns1.lab.corp.internal.",
		"payroll.us.corp.internal.", "nope.us.corp.internal.",
		"99.99.18.198.in-addr.arpa.", "nope.18.198.in-addr.arpa.",
		"www.example.com.", "internal.",
	}
	commonSlow := []string{
		"x.build.corp.internal.", "y.x.build.corp.internal.", // wildcard synthesis
		"lab.corp.internal.", "host.lab.corp.internal.", "ns1.lab.corp.internal.", "ns2.lab.corp.internal.", "deep.ns1.lab.corp.internal.", // at or below a cut
		"www.example.com.", "internal.", // not ours
	}
	commonFast := []string{
		"www.corp.internal. A", "www.corp.internal. AAAA", "corp.internal. MX", "corp.internal. SOA", "corp.internal. NS",
		"_ldap._tcp.corp.internal. SRV", "_dmarc.corp.internal. TXT", "intranet.corp.internal. A", "intranet.corp.internal. CNAME",
		"nope.corp.internal. A", "a.b.nope.corp.internal. AAAA", "_tcp.corp.internal. A", "www.corp.internal. NULL", "www.corp.internal. CAA",
		"*.build.corp.internal. A", "10.5.18.198.in-addr.arpa. PTR", "nope.18.198.in-addr.arpa. PTR",
	}
	for _, ec := range []equivCase{
		{
			dir: exampleConfig, cluster: "dev", node: "local", extra: common, slow: commonSlow,
			fast: append([]string{"payroll.us.corp.internal. A", "us.corp.internal. SOA", "nope.us.corp.internal. A"}, commonFast...),
		},
		{
			// eu-west does not serve us.corp.internal.: it forwards it.
			dir: exampleConfig, cluster: "eu-west", node: "ns1", extra: common,
			slow: append([]string{"us.corp.internal.", "payroll.us.corp.internal.", "nope.us.corp.internal."}, commonSlow...),
			fast: commonFast,
		},
	} {
		t.Run(ec.cluster, func(t *testing.T) { testEquivalence(t, ec) })
	}
}

func testEquivalence(t *testing.T, ec equivCase) {
	next := &passed{}
	auth := authorityOf(t, ec.dir, ec.cluster, ec.node, next)
	snap := loadSnapshot(t, ec.dir, ec.cluster, ec.node)
	answers, err := fastpath.Build(snap, fastpath.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if answers.Responses == 0 {
		t.Fatal("nothing precomputed")
	}

	names := map[string]bool{}
	for _, z := range snap.Authority.Zones() {
		for _, on := range z.OwnerNames() {
			names[on.Name] = true
		}
	}
	for _, n := range ec.extra {
		names[n] = true
	}
	slow := map[string]bool{}
	for _, n := range ec.slow {
		slow[n] = true
	}
	chainOut := map[string]bool{}
	for _, n := range ec.chainOut {
		chainOut[n] = true
	}
	mustFast := map[string]bool{}
	for _, f := range ec.fast {
		mustFast[f] = true
	}
	seenFast := map[string]bool{}

	// The clients: one the cluster lets recurse, one it does not.
	clients := []string{"127.0.0.1", "198.51.100.7"}
	if ec.cluster == "eu-west" {
		clients = []string{"198.18.2.10", "127.0.0.1"}
	}
	var fast, total, caseOnly int
	buf := make([]byte, 65535)
	id := uint16(0)
	for name := range names {
		for _, spelling := range []string{name, mixedCase(name)} {
			for _, qtype := range equivTypes {
				for _, rd := range []bool{false, true} {
					for _, ev := range ednsVariants {
						id++
						r := new(dns.Msg)
						r.SetQuestion(spelling, qtype)
						r.Id, r.RecursionDesired = id, rd
						r.AuthenticatedData = id%2 == 0 // dig sets AD; it is not echoed
						if ev.edns {
							r.SetEdns0(1232, ev.do)
							if ev.cookie {
								o := r.IsEdns0()
								o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
							}
						}
						pkt, err := r.Pack()
						if err != nil {
							t.Fatal(err)
						}
						label := fmt.Sprintf("%s %s rd=%t %s", spelling, dns.TypeToString[qtype], rd, ev.name)
						var q fastpath.Query
						if !q.Parse(pkt) {
							t.Fatalf("%s: the fast path does not parse it", label)
						}
						p := answers.Lookup(&q)
						total++
						key := name + " " + dns.TypeToString[qtype]
						if p != nil && (slow[name] || chainOut[name] && qtype != dns.TypeCNAME || qtype == dns.TypeANY || qtype == dns.TypeDS) {
							t.Errorf("%s: precomputed answer (rcode %d, %s) for a question the package doc sends to the slow path", label, p.Rcode(), p.Result())
							continue
						}
						var fastMsg *dns.Msg
						if p != nil {
							n, ok := p.Write(buf, pkt, &q)
							if ok {
								fastMsg = new(dns.Msg)
								if err := fastMsg.Unpack(buf[:n]); err != nil {
									t.Fatalf("%s: fast answer does not unpack: %v", label, err)
								}
								fast++
								seenFast[key] = true
							}
						}
						for _, client := range clients {
							before := next.n
							rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: client})
							auth.ServeDNS(context.Background(), request.NewScrubWriter(r.Copy(), rec), r.Copy())
							handedOn := next.n > before
							if p == nil {
								continue
							}
							if handedOn {
								t.Errorf("%s from %s: precomputed, but authority hands it to the next plugin", label, client)
								continue
							}
							if rec.Msg == nil {
								t.Fatalf("%s from %s: authority wrote nothing", label, client)
							}
							// What the server sends: packed, then what the client reads.
							wire, err := rec.Msg.Pack()
							if err != nil {
								t.Fatal(err)
							}
							chain := new(dns.Msg)
							if err := chain.Unpack(wire); err != nil {
								t.Fatal(err)
							}
							if fastMsg == nil {
								if !chain.Truncated {
									t.Errorf("%s from %s: the precomputed answer did not fit, but the chain's is not truncated:\n%v", label, client, chain)
								}
								continue
							}
							if diff := msgDiff(chain, fastMsg, spelling != name); diff != "" {
								t.Errorf("%s from %s: fast answer differs from authority's: %s\nchain:\n%v\nfast:\n%v", label, client, diff, chain, fastMsg)
							} else if msgDiff(chain, fastMsg, false) != "" {
								caseOnly++
							}
						}
						if fastMsg != nil && (fastMsg.Id != r.Id || fastMsg.Question[0] != r.Question[0]) {
							t.Errorf("%s: id %d question %v, want the query's %d %v", label, fastMsg.Id, fastMsg.Question[0], r.Id, r.Question[0])
						}
					}
				}
			}
		}
	}
	for f := range mustFast {
		if !seenFast[f] {
			t.Errorf("%s: never answered from the precomputed answers", f)
		}
	}
	t.Logf("%s: %d questions, %d answered fast, %d responses precomputed (%d bytes); %d fast answers to mixed-case questions spell names in the question's case where the chain keeps the zone's",
		ec.cluster, total, fast, answers.Responses, answers.Bytes, caseOnly)
}

// msgDiff compares two messages field by field: header, question and every
// record of every section (OPT included); "" when equal. With foldNames the
// domain names inside records (owners, targets) may differ in case: a
// precomputed answer's names are compressed against the question, so they
// take the spelling of the client's question where the chain's keep the
// zone's (DNS names compare case-insensitively, RFC 4343); the question
// itself must always be the client's, byte for byte.
func msgDiff(want, got *dns.Msg, foldNames bool) string {
	var d []string
	if want.MsgHdr != got.MsgHdr {
		d = append(d, fmt.Sprintf("header %+v != %+v", got.MsgHdr, want.MsgHdr))
	}
	if len(want.Question) != len(got.Question) || len(want.Question) == 1 && want.Question[0] != got.Question[0] {
		d = append(d, fmt.Sprintf("question %v != %v", got.Question, want.Question))
	}
	sections := []struct {
		name      string
		want, got []dns.RR
	}{{"answer", want.Answer, got.Answer}, {"authority", want.Ns, got.Ns}, {"additional", want.Extra, got.Extra}}
	for _, s := range sections {
		if len(s.want) != len(s.got) {
			d = append(d, fmt.Sprintf("%s: %d records != %d", s.name, len(s.got), len(s.want)))
			continue
		}
		for i := range s.want {
			if foldNames && s.want[i].Header().Rrtype != dns.TypeOPT {
				if !dns.IsDuplicate(s.want[i], s.got[i]) || s.want[i].Header().Ttl != s.got[i].Header().Ttl {
					d = append(d, fmt.Sprintf("%s[%d]: %q != %q (names compared without case)", s.name, i, s.got[i], s.want[i]))
				}
				continue
			}
			if s.want[i].String() != s.got[i].String() {
				d = append(d, fmt.Sprintf("%s[%d]: %q != %q", s.name, i, s.got[i], s.want[i]))
			}
		}
	}
	return strings.Join(d, "; ")
}

// TestEquivalenceEdgeCases runs the same comparison on a config made of the
// shapes that are easy to get wrong (testdata/edge): a wildcard below the
// apex, a wildcard under an empty non-terminal with a name below it, CNAME
// chains inside the zone, dangling, into another served zone and
// out of our zones, owner names spelt with upper case and with a dot inside
// a label, a delegation with glue, a forward rule below the zone.
func TestEquivalenceEdgeCases(t *testing.T) {
	// q.b.x.edge.internal. is NXDOMAIN (its closest encloser b.x has no
	// wildcard), but the zone's NXDOMAIN answer is built from a probe name
	// that *.edge.internal. covers, so edge.internal. has none precomputed
	// and takes the slow path: correct, not fast.
	testEquivalence(t, equivCase{
		dir: "testdata/edge", cluster: "dev", node: "local",
		extra: []string{
			"nope.edge.internal.", "a.nope.edge.internal.", "c.x.edge.internal.", "q.b.x.edge.internal.", "z.a.b.x.edge.internal.",
			"host.sub.edge.internal.", "a.fwd.edge.internal.", "nothing.other.internal.", "a.b.c.other.internal.", "z.c.other.internal.",
			"mixed.edge.internal.", "deep.a.b.c.other.internal.",
		},
		slow: []string{
			"nope.edge.internal.", "a.nope.edge.internal.", "c.x.edge.internal.", // wildcard synthesis
			"sub.edge.internal.", "host.sub.edge.internal.", "ns1.sub.edge.internal.", // at or below a cut
			"fwd.edge.internal.", "a.fwd.edge.internal.", // forwarded below the zone
		},
		chainOut: []string{"gone.edge.internal.", "out.edge.internal.", "ext.edge.internal."},
		fast: []string{
			"www.edge.internal. A", "chain1.edge.internal. A", "chain2.edge.internal. AAAA", "mixed.edge.internal. A",
			"x.edge.internal. A", "b.x.edge.internal. TXT", "mx.edge.internal. MX",
			"_http._tcp.edge.internal. SRV", "*.edge.internal. A", "nothing.other.internal. A", "z.c.other.internal. A",
			"a.b.c.other.internal. TXT", "out.edge.internal. CNAME",
		},
	})
}
