package authority

import (
	"context"
	"net/netip"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/internal/corefiletest"
	"github.com/gitops-dns/resolverd/zones"
)

const corpZone = `$ORIGIN corp.internal.
$TTL 300
@        IN SOA ns1 hostmaster 1 3600 600 1209600 60
         IN NS  ns1
         IN NS  ns2
ns1      IN A   198.18.1.1
ns2      IN A   198.18.1.2
www      IN A   198.18.5.80
intranet IN CNAME www
docs     IN CNAME www.us.corp.internal.
status   IN CNAME status.vendor.example.
gone     IN CNAME nothing.us.corp.internal.
us       IN NS  ns1
us       IN NS  ns2
lab      IN NS  ns1.lab
ns1.lab  IN A   198.18.8.1
`

const usZone = `$ORIGIN us.corp.internal.
$TTL 300
@        IN SOA ns1.corp.internal. hostmaster.corp.internal. 1 3600 600 1209600 60
         IN NS  ns1.corp.internal.
         IN NS  ns2.corp.internal.
www      IN A   198.18.1.80
`

func mustZone(t *testing.T, origin, text string) *zones.Zone {
	t.Helper()
	z, fs := zones.Parse("zones/"+origin+"zone", origin, []byte(text))
	if zones.HasErrors(fs) {
		t.Fatalf("fixture %s: %v", origin, fs)
	}
	return z
}

// nextHandler answers every query it gets with one A record (an external
// resolver's answer) and records the names it was asked.
type nextHandler struct{ asked []string }

func (n *nextHandler) Name() string { return "next" }
func (n *nextHandler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	n.asked = append(n.asked, r.Question[0].Name)
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	m.Answer = []dns.RR{test.A(r.Question[0].Name + " 60 IN A 203.0.113.7")}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

func snapshot(t *testing.T, forward ...string) *node.Snapshot {
	s := &node.Snapshot{Authority: zones.NewAuthority(mustZone(t, "corp.internal.", corpZone), mustZone(t, "us.corp.internal.", usZone))}
	for _, f := range forward {
		s.Forward = append(s.Forward, model.ForwardRule{Zone: f, To: []netip.AddrPort{netip.MustParseAddrPort("198.18.1.1:53")}})
	}
	return s
}

func TestServeDNS(t *testing.T) {
	tests := []struct {
		name      string
		forward   []string
		allow     string // client network that may recurse (test clients are 10.240.0.1)
		qname     string
		qtype     uint16
		rd        bool
		rcode     int
		aa        bool
		answer    []string // RR strings, in order
		nextAsked []string // names handed to the next plugin
	}{
		{name: "exact", qname: "www.corp.internal.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"www.corp.internal.\t300\tIN\tA\t198.18.5.80"}},
		{name: "case-insensitive", qname: "WWW.Corp.Internal.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"www.corp.internal.\t300\tIN\tA\t198.18.5.80"}},
		{name: "in-zone CNAME", qname: "intranet.corp.internal.", qtype: dns.TypeA, rd: true, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"intranet.corp.internal.\t300\tIN\tCNAME\twww.corp.internal.", "www.corp.internal.\t300\tIN\tA\t198.18.5.80"}},
		{name: "CNAME into another internal zone", qname: "docs.corp.internal.", qtype: dns.TypeA, rd: true, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"docs.corp.internal.\t300\tIN\tCNAME\twww.us.corp.internal.", "www.us.corp.internal.\t300\tIN\tA\t198.18.1.80"}},
		{name: "CNAME without RD is not chased", qname: "docs.corp.internal.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"docs.corp.internal.\t300\tIN\tCNAME\twww.us.corp.internal."}},
		{name: "CNAME to an external name goes to the next plugin", qname: "status.corp.internal.", qtype: dns.TypeA, rd: true, rcode: dns.RcodeSuccess,
			answer:    []string{"status.corp.internal.\t300\tIN\tCNAME\tstatus.vendor.example.", "status.vendor.example.\t60\tIN\tA\t203.0.113.7"},
			nextAsked: []string{"status.vendor.example."}},
		{name: "CNAME to NXDOMAIN in another zone", qname: "gone.corp.internal.", qtype: dns.TypeA, rd: true, rcode: dns.RcodeNameError, aa: true,
			answer: []string{"gone.corp.internal.\t300\tIN\tCNAME\tnothing.us.corp.internal."}},
		{name: "NXDOMAIN", qname: "nope.corp.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true},
		{name: "referral is not authoritative", qname: "host.lab.corp.internal.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: false},
		{name: "referral followed for a client that may recurse", allow: "10.240.0.0/16", qname: "host.lab.corp.internal.", qtype: dns.TypeA, rd: true, rcode: dns.RcodeSuccess,
			answer: []string{"host.lab.corp.internal.\t60\tIN\tA\t203.0.113.7"}, nextAsked: []string{"host.lab.corp.internal."}},
		{name: "referral kept for a client that may not recurse", allow: "198.18.0.0/15", qname: "host.lab.corp.internal.", qtype: dns.TypeA, rd: true, rcode: dns.RcodeSuccess, aa: false},
		{name: "outside every zone goes to the next plugin", qname: "example.com.", qtype: dns.TypeA, rcode: dns.RcodeSuccess,
			answer: []string{"example.com.\t60\tIN\tA\t203.0.113.7"}, nextAsked: []string{"example.com."}},
		{name: "forward rule more specific than the zone wins", forward: []string{"ad.us.corp.internal."}, qname: "dc1.ad.us.corp.internal.", qtype: dns.TypeA, rcode: dns.RcodeSuccess,
			answer: []string{"dc1.ad.us.corp.internal.\t60\tIN\tA\t203.0.113.7"}, nextAsked: []string{"dc1.ad.us.corp.internal."}},
		{name: "forward rule equal to a served zone does not", forward: []string{"us.corp.internal."}, qname: "www.us.corp.internal.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"www.us.corp.internal.\t300\tIN\tA\t198.18.1.80"}},
		{name: "forward rule for another branch does not", forward: []string{"lab.corp.internal."}, qname: "www.corp.internal.", qtype: dns.TypeA, rcode: dns.RcodeSuccess, aa: true,
			answer: []string{"www.corp.internal.\t300\tIN\tA\t198.18.5.80"}},
		{name: "zone transfer refused", qname: "corp.internal.", qtype: dns.TypeAXFR, rcode: dns.RcodeRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := &nextHandler{}
			snap := snapshot(t, tc.forward...)
			if tc.allow != "" {
				snap.RecursionAllow = []netip.Prefix{netip.MustParsePrefix(tc.allow)}
			}
			a := &Authority{Next: next, src: node.StaticSource(snap)}
			req := new(dns.Msg)
			req.SetQuestion(tc.qname, tc.qtype)
			req.RecursionDesired = tc.rd
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			if _, err := a.ServeDNS(context.Background(), rec, req); err != nil {
				t.Fatal(err)
			}
			m := rec.Msg
			if m.Rcode != tc.rcode || m.Authoritative != tc.aa {
				t.Fatalf("rcode %s aa=%v, want %s aa=%v\n%v", dns.RcodeToString[m.Rcode], m.Authoritative, dns.RcodeToString[tc.rcode], tc.aa, m)
			}
			if len(m.Answer) != len(tc.answer) {
				t.Fatalf("answer %v, want %v", m.Answer, tc.answer)
			}
			for i := range m.Answer {
				if m.Answer[i].String() != tc.answer[i] {
					t.Errorf("answer[%d] = %q, want %q", i, m.Answer[i], tc.answer[i])
				}
			}
			if len(next.asked) != len(tc.nextAsked) || (len(next.asked) > 0 && next.asked[0] != tc.nextAsked[0]) {
				t.Errorf("next plugin asked %v, want %v", next.asked, tc.nextAsked)
			}
			if tc.rcode == dns.RcodeNameError && (len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("NXDOMAIN without the SOA in authority: %v", m.Ns)
			}
		})
	}
}

// Before the first revision there is nothing to be authoritative for: every
// query goes on to the next plugin.
func TestNoSnapshotPassesThrough(t *testing.T) {
	next := &nextHandler{}
	a := &Authority{Next: next, src: node.StaticSource(nil)}
	req := new(dns.Msg)
	req.SetQuestion("www.corp.internal.", dns.TypeA)
	if _, err := a.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), req); err != nil {
		t.Fatal(err)
	}
	if len(next.asked) != 1 {
		t.Fatalf("next plugin asked %v, want the query", next.asked)
	}
}

// Answers share the zone's record slices; appending the OPT record of an EDNS
// reply must never write into them (a data race under load).
func TestEDNSReplyDoesNotTouchZoneData(t *testing.T) {
	snap := snapshot(t)
	a := &Authority{Next: &nextHandler{}, src: node.StaticSource(snap)}
	for i := 0; i < 3; i++ {
		req := new(dns.Msg)
		req.SetQuestion("corp.internal.", dns.TypeMX) // NODATA: SOA in authority, nothing in additional
		req.SetEdns0(1232, false)
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		a.ServeDNS(context.Background(), rec, req)
		if rec.Msg.IsEdns0() == nil {
			t.Fatal("EDNS query got a reply without OPT")
		}
	}
	z := snap.Authority.Match("www.corp.internal.")
	for _, rr := range z.Lookup("corp.internal.", dns.TypeMX).Extra {
		if rr.Header().Rrtype == dns.TypeOPT {
			t.Fatal("an OPT record leaked into the zone's shared data")
		}
	}
}

func TestSetup(t *testing.T) {
	for _, tc := range []struct {
		input string
		ok    bool
	}{
		{"authority", true},
		{"authority extra", false},
		{"authority {\n  foo\n}", false},
	} {
		err := setup(caddy.NewTestController("dns", tc.input))
		if (err == nil) != tc.ok {
			t.Errorf("setup(%q) error = %v, want ok=%v", tc.input, err, tc.ok)
		}
	}
}

func TestReadmeCorefile(t *testing.T) {
	for _, text := range corefiletest.Directive(t, "README.md", pluginName) {
		if err := setup(caddy.NewTestController("dns", text)); err != nil {
			t.Errorf("README example %q: %v", text, err)
		}
	}
}

var _ plugin.Handler = (*Authority)(nil)

func BenchmarkServeDNS(b *testing.B) {
	t := &testing.T{}
	a := &Authority{Next: &nextHandler{}, src: node.StaticSource(snapshot(t))}
	req := new(dns.Msg)
	req.SetQuestion("www.corp.internal.", dns.TypeA)
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		a.ServeDNS(ctx, w, req)
	}
}
