package recursor

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/resolver"
)

// A node of the cluster is never asked by iteration, even when the root
// hints (or any delegation) name its address: the cluster must not become
// its own upstream (seed 004). Another snapshot without that node lets the
// same server be asked again.
func TestPeersNeverAsked(t *testing.T) {
	root, rootHits := authServer(t, "www.example.com. 300 IN A 192.0.2.1", false)
	src := &swapSource{}
	rc := &Recursor{Source: src, Config: resolver.Config{Port: root.Port(), DisableIPv6: true, HealthInterval: -1, QueryLocalhost: true}}
	defer rc.Close()
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	peer := &node.Snapshot{
		Cluster:        &model.Cluster{Nodes: []model.Node{{Name: "ns1", Address: root.Addr(), Port: root.Port()}}},
		RecursionAllow: allow,
		RootHints:      hints(t),
	}
	src.p.Store(peer)
	if m, _, _ := query(t, rc, "127.0.0.9", "www.example.com.", dns.TypeA, dns.ClassINET); m == nil || m.Rcode != dns.RcodeServerFailure || rootHits.Load() != 0 {
		t.Fatalf("root server at a peer's address: %v after %d queries to it, want SERVFAIL and none", m, rootHits.Load())
	}
	src.p.Store(&node.Snapshot{
		Cluster:        &model.Cluster{Nodes: []model.Node{{Name: "ns1", Address: netip.MustParseAddr("198.18.1.1")}}},
		RecursionAllow: allow,
		RootHints:      hints(t),
	})
	m, _, err := query(t, rc, "127.0.0.9", "www.example.com.", dns.TypeA, dns.ClassINET)
	if m == nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || rootHits.Load() == 0 {
		t.Fatalf("the same server, no longer a peer: %v %v after %d queries", m, err, rootHits.Load())
	}
}
