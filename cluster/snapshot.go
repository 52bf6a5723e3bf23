package cluster

import (
	"net/netip"

	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// Snapshot is everything one node serves from one revision: its cluster's
// zones, forward rules, recursion ACL and fallback records. It is built once
// per applied revision (NewSnapshot) and swapped atomically; it is never
// mutated afterwards, so queries read it without locks.
type Snapshot struct {
	Revision *Revision
	Cluster  *Cluster
	Node     Node

	Authority      *zones.Authority // the zones this cluster serves
	Forward        []ForwardRule    // this cluster's rules, longest zone first
	RecursionAllow []netip.Prefix   // clients that may recurse
	RootHints      []dns.RR         // effective root hints (repo's or built-in)

	Fallback    map[string][]dns.RR // key: lower-case absolute owner name; TTLs already FallbackTTL
	FallbackTTL uint32
}
