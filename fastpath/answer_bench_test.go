package fastpath

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/node"
)

// BenchmarkServerAnswer is one precomputed internal answer as the read loop
// gives it (Server.answer: lookup, write, per-client flags), for a client
// inside recursion.allow and one outside: what the RA bit of a shared
// precomputed answer costs per query.
func BenchmarkServerAnswer(b *testing.B) {
	snap := testSnapshot(b)
	snap.RecursionAllow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("127.0.0.0/8")}
	a, err := Build(snap, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{Source: func() *node.Snapshot { return snap }}
	pkt := pack(b, query("www.Example.internal.", dns.TypeA, true, false))
	buf := make([]byte, 4096)
	for _, tc := range []struct {
		name string
		from *net.UDPAddr
	}{{"may-recurse", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 5353}}, {"may-not", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7).To4(), Port: 5353}}} {
		b.Run(tc.name, func(b *testing.B) {
			var q Query
			b.ReportAllocs()
			for b.Loop() {
				if !q.Parse(pkt) {
					b.Fatal("parse")
				}
				if _, _, path, ok := s.answer(buf, pkt, &q, a, tc.from); !ok || path != PathPrebuilt {
					b.Fatal("not answered from the precomputed answers")
				}
			}
		})
	}
}

// BenchmarkRecursionAllowedCheck is the per-response RA decision alone
// (BenchmarkServerAnswer includes it): the share of a precomputed answer's
// cost the per-client RA bit adds, measured apart from the machine's noise
// on the whole path.
func BenchmarkRecursionAllowedCheck(b *testing.B) {
	snap := &node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("127.0.0.0/8")}}
	a, err := Build(snap, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		from *net.UDPAddr
	}{{"may-recurse", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4()}}, {"may-not", &net.UDPAddr{IP: net.IPv4(198, 51, 100, 7).To4()}}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				a.mayRecurse(tc.from)
			}
		})
	}
}
