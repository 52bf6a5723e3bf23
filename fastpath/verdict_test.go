package fastpath

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/node"
)

// TestLearnNeedsFreshVerdict: the packet cache learns only what the chain
// marked fresh and never marked no-cache (a stale or fallback answer to a
// client without EDNS looks like any other answer on the wire), and only
// for clients allowed to recurse.
func TestLearnNeedsFreshVerdict(t *testing.T) {
	snap := &node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	s := &Server{Source: func() *node.Snapshot { return snap }, Cache: NewPacketCache(10)}
	qm := query("example.com.", dns.TypeA, false, false)
	qm.RecursionDesired = true
	q := parsed(t, qm)
	resp := response(t, qm, dns.RcodeSuccess, false, "example.com. 30 IN A 192.0.2.1")
	allowed := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5300}
	other := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 5300}

	tests := []struct {
		name  string
		mark  func(ctx context.Context)
		from  *net.UDPAddr
		store bool
	}{
		{"unmarked", func(context.Context) {}, allowed, false},
		{"stale", node.MarkNoCache, allowed, false},
		{"fresh then fallback", func(ctx context.Context) { node.MarkFresh(ctx); node.MarkNoCache(ctx) }, allowed, false},
		{"fresh, client not allowed", node.MarkFresh, other, false},
		{"fresh", node.MarkFresh, allowed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.Cache.Purge()
			ctx, v := node.WithVerdict(context.Background())
			tt.mark(ctx)
			s.Learn(&q, tt.from, resp, s.Cache.Generation(), v)
			s.Learn(&q, tt.from, resp, s.Cache.Generation(), v) // past the door keeper
			if got := s.Cache.Len() == 1; got != tt.store {
				t.Errorf("stored = %v, want %v", got, tt.store)
			}
		})
	}
	// Marks outside a fast-path query are no-ops.
	node.MarkFresh(context.Background())
	node.MarkNoCache(context.Background())
}
