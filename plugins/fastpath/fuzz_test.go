package fastpath

import (
	"context"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/fastpath"
)

// FuzzPrebuiltMatchesAuthority feeds arbitrary datagrams to the fast path
// as the plugin does: whatever it parses must be a query CoreDNS would read
// the same way (miekg unpacks it, same question, flags and EDNS), and
// whatever it answers from the precomputed answers of the example config
// must be what the authority plugin answers to that query.
func FuzzPrebuiltMatchesAuthority(f *testing.F) {
	auth := authorityOf(f, exampleConfig, "dev", "local", &passed{})
	answers, err := fastpath.Build(loadSnapshot(f, exampleConfig, "dev", "local"), fastpath.BuildOptions{})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"www.corp.internal.", dns.TypeA, false}, {"Www.Corp.Internal.", dns.TypeAAAA, true},
		{"nope.corp.internal.", dns.TypeMX, true}, {"corp.internal.", dns.TypeSOA, false},
		{"10.5.18.198.in-addr.arpa.", dns.TypePTR, true}, {"x.build.corp.internal.", dns.TypeA, false},
	} {
		m := new(dns.Msg)
		m.SetQuestion(s.name, s.qtype)
		if s.edns {
			m.SetEdns0(1232, true)
		}
		pkt, _ := m.Pack()
		f.Add(pkt)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var q fastpath.Query
		if !q.Parse(pkt) {
			return
		}
		r := new(dns.Msg)
		if err := r.Unpack(pkt); err != nil {
			t.Fatalf("the fast path parses %x, miekg does not: %v", pkt, err)
		}
		if len(r.Question) != 1 || r.Response || r.Opcode != dns.OpcodeQuery || r.Truncated {
			t.Fatalf("the fast path parses %x as a query: %v", pkt, r)
		}
		wire := make([]byte, 256)
		n, err := dns.PackDomainName(strings.ToLower(r.Question[0].Name), wire, 0, nil, false)
		if err != nil || string(wire[:n]) != string(q.Name()) {
			t.Fatalf("%x: name %q (%v), the fast path read %x", pkt, r.Question[0].Name, err, q.Name())
		}
		if r.Question[0].Qtype != q.QType || r.Question[0].Qclass != q.QClass || r.RecursionDesired != q.RD() || r.Id != q.ID {
			t.Fatalf("%x: %v, the fast path read %+v", pkt, r, q)
		}
		o := r.IsEdns0()
		if (o != nil) != q.EDNS || o != nil && (o.Do() != q.DO || o.UDPSize() != q.UDPSize) {
			t.Fatalf("%x: OPT %v, the fast path read EDNS %t DO %t size %d", pkt, o, q.EDNS, q.DO, q.UDPSize)
		}
		p := answers.Lookup(&q)
		if p == nil {
			return
		}
		buf := make([]byte, 65535)
		size, ok := p.Write(buf, pkt, &q)
		rec := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: "127.0.0.1"})
		auth.ServeDNS(context.Background(), request.NewScrubWriter(r.Copy(), rec), r.Copy())
		if rec.Msg == nil {
			t.Fatalf("%v: precomputed, but authority did not answer", r)
		}
		wireChain, err := rec.Msg.Pack()
		if err != nil {
			t.Fatal(err)
		}
		chain := new(dns.Msg)
		if err := chain.Unpack(wireChain); err != nil {
			t.Fatal(err)
		}
		if !ok {
			if !chain.Truncated {
				t.Fatalf("%v: the precomputed answer did not fit, the chain's is not truncated", r)
			}
			return
		}
		fast := new(dns.Msg)
		if err := fast.Unpack(buf[:size]); err != nil {
			t.Fatalf("%v: the fast answer does not unpack: %v", r, err)
		}
		// The chain echoes the query's OPT flag bits (SizeAndDo keeps the
		// top byte of the flags: DO and 7 Z bits); the fast path sends Z as
		// zero, as RFC 6891 asks of senders. Receivers ignore Z: compare
		// without it.
		for _, m := range []*dns.Msg{chain, fast} {
			if o := m.IsEdns0(); o != nil {
				o.Hdr.Ttl &^= 0x7fff
			}
		}
		if diff := msgDiff(chain, fast, true); diff != "" {
			t.Fatalf("%v: %s\nchain:\n%v\nfast:\n%v", r, diff, chain, fast)
		}
	})
}
