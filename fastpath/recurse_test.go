package fastpath

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gitops-dns/resolverd/node"
)

// TestMayRecurseMatchesSnapshot: the precomputed answers' RA decision is
// RecursionAllowed's, for IPv4, IPv4-mapped and IPv6 clients and prefixes
// of every length.
func TestMayRecurseMatchesSnapshot(t *testing.T) {
	for _, allow := range [][]string{
		nil,
		{"127.0.0.0/8"},
		{"0.0.0.0/0"},
		{"198.18.0.0/15", "10.1.2.3/32", "2001:db8::/32"},
		{"::/0"},
		{"::ffff:10.0.0.0/104"}, // a mapped prefix matches no unmapped client
	} {
		snap := &node.Snapshot{}
		for _, p := range allow {
			snap.RecursionAllow = append(snap.RecursionAllow, netip.MustParsePrefix(p))
		}
		a, err := Build(snap, BuildOptions{})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		clients := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.1.2.3"), net.ParseIP("10.1.2.4"), net.ParseIP("198.19.255.255"), net.ParseIP("198.20.0.0"), net.ParseIP("2001:db8::1"), net.ParseIP("::1"), net.IPv4(10, 0, 0, 1).To4()}
		for range 2000 {
			v := r.Uint32()
			ip := net.IP{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
			if r.IntN(4) == 0 {
				ip[0], ip[1] = 198, 18+byte(r.IntN(3))
			}
			clients = append(clients, ip)
		}
		for _, ip := range clients {
			from := &net.UDPAddr{IP: ip}
			addr, _ := netip.AddrFromSlice(ip)
			if got, want := a.mayRecurse(from), snap.RecursionAllowed(addr); got != want {
				t.Fatalf("allow %v, client %v: mayRecurse %v, RecursionAllowed %v", allow, ip, got, want)
			}
		}
	}
}
