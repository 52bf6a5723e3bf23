package resolver

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func fuzzSeeds(f *testing.F) {
	add := func(m *dns.Msg) {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	for _, h := range []handler{
		zone(f, "example.com.", "www A 192.0.2.1"),
		zone(f, "example.com.", "www CNAME x.other.net.\nx CNAME www"),
		zone(f, "example.com.", "old DNAME new.example.net."),
		zone(f, "com.", "example NS ns1.example\nns1.example A 127.0.1.2\nns1.example AAAA ::1"),
		zone(f, "example.com.", "x A 192.0.2.1"),
	} {
		m, _ := h("udp", q)
		add(m)
	}
	f.Add([]byte{0, 1, 0x80, 0, 0, 1, 0, 1, 0, 0, 0, 0})
	f.Add([]byte("garbage"))
}

// FuzzUpstreamAnswer feeds arbitrary replies to the code that reads
// upstream answers and checks what it keeps stays inside the asked
// server's bailiwick and on the question's chain.
func FuzzUpstreamAnswer(f *testing.F) {
	fuzzSeeds(f)
	const zoneName, sname = "example.com.", "www.example.com."
	f.Fuzz(func(t *testing.T, data []byte) {
		resp := new(dns.Msg)
		if err := resp.Unpack(data); err != nil {
			return
		}
		k := classify(resp, zoneName, sname, dns.TypeA)
		out := extract(resp, zoneName, sname, dns.TypeA, false)
		for _, rr := range out.chain {
			h := rr.Header()
			if h.Rrtype == dns.TypeCNAME && h.Name != sname && !dns.IsSubDomain(zoneName, h.Name) {
				t.Fatalf("kept out-of-bailiwick %v", rr)
			}
			if h.Rrtype != dns.TypeCNAME && !dns.IsSubDomain(zoneName, h.Name) {
				t.Fatalf("kept out-of-bailiwick %v", rr)
			}
		}
		if len(out.chain) > 2*maxChain+64*1024 {
			t.Fatalf("chain of %d", len(out.chain))
		}
		for _, s := range out.soa {
			if !dns.IsSubDomain(zoneName, s.Header().Name) {
				t.Fatalf("kept out-of-bailiwick SOA %v", s)
			}
		}
		if k == kindReferral {
			r := &Resolver{cfg: Config{MaxTTL: time.Hour}}
			d := r.referral(resp, &delegation{zone: zoneName}, sname, dns.TypeA, time.Unix(0, 0))
			if d.zone == zoneName || !dns.IsSubDomain(zoneName, d.zone) || !dns.IsSubDomain(d.zone, sname) {
				t.Fatalf("referral to %s from %s for %s", d.zone, zoneName, sname)
			}
			if len(d.ns) == 0 || len(d.ns) > maxNSPerZone {
				t.Fatalf("referral with %d NS names", len(d.ns))
			}
			for n, addrs := range d.glue {
				if !dns.IsSubDomain(zoneName, n) || len(addrs) > maxGluePerNS {
					t.Fatalf("glue %s %v kept", n, addrs)
				}
			}
		}
		// The whole resolver, every server answering with this reply
		// (its id and question made to match), ends within its budget.
		net := &replayNet{resp: resp}
		clk := newFakeClock()
		res, err := New(Config{
			RootHints: []dns.RR{
				&dns.NS{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600}, Ns: "a.root.test."},
				&dns.A{Hdr: dns.RR_Header{Name: "a.root.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 3600}, A: []byte{127, 0, 0, 1}},
			},
			Transport: net, Clock: clk, HealthInterval: -1, MaxSends: 16, QueryLocalhost: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		defer res.Close()
		m, _ := res.Resolve(context.Background(), dns.Question{Name: sname, Qtype: dns.TypeA, Qclass: dns.ClassINET})
		if m == nil {
			t.Fatal("nil reply")
		}
		if net.n > 16 {
			t.Fatalf("%d sends, budget 16", net.n)
		}
	})
}

// replayNet answers every query with resp, id and question patched.
type replayNet struct {
	resp *dns.Msg
	n    int
}

func (r *replayNet) Exchange(_ context.Context, _ string, _ netip.AddrPort, q *dns.Msg) (*dns.Msg, error) {
	r.n++
	m := r.resp.Copy()
	m.Id = q.Id
	m.Response = true
	m.Opcode = dns.OpcodeQuery
	m.Question = q.Question
	b, err := m.Pack()
	if err != nil {
		return nil, err
	}
	out := new(dns.Msg)
	if err := out.Unpack(b); err != nil {
		return nil, err
	}
	return out, nil
}
