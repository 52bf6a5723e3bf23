package node

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/rpz"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// Snapshot is everything one node serves from one revision: its cluster's
// zones, forward rules, recursion ACL and fallback records. It is built once
// per applied revision (NewSnapshot) and swapped atomically; it is never
// mutated afterwards, so queries read it without locks.
type Snapshot struct {
	Revision *model.Revision
	Cluster  *model.Cluster
	Node     model.Node

	Authority      *zones.Authority    // the zones this cluster serves
	Forward        []model.ForwardRule // this cluster's rules, longest zone first
	RecursionAllow []netip.Prefix      // clients that may recurse
	RootHints      []dns.RR            // effective root hints (repo's or built-in)
	// StubZones are the zone cuts inside the served zones (a subzone
	// delegated to a team's own servers): zone -> its NS records and the
	// addresses the served zones give their names. Built here, off the
	// query path, once per revision.
	StubZones map[string][]dns.RR

	Fallback    map[string][]dns.RR // key: lower-case absolute owner name; TTLs already FallbackTTL
	FallbackTTL uint32

	// RPZ is the response policy this cluster applies to recursive
	// answers, in priority order (policy.yaml's rpz entries naming it).
	RPZ rpz.Set
}

// NewSnapshot derives what node nodeName of cluster clusterName serves from
// rev: the cluster's zones (every zone when the cluster lists none), its
// forward rules sorted longest zone first, its recursion ACL, the effective
// root hints and the fallback records indexed by lower-case owner name with
// their TTL set to the policy's fallback TTL (copies: rev is not modified).
//
// An unknown cluster or node, or a zone the cluster names that the revision
// does not hold, is an error: the node must not guess what to serve.
func NewSnapshot(rev *model.Revision, clusterName, nodeName string) (*Snapshot, error) {
	if rev == nil {
		return nil, errors.New("no revision")
	}
	c := rev.ClusterByName(clusterName)
	if c == nil {
		return nil, fmt.Errorf("revision %s has no cluster %q (clusters: %s)", revName(rev), clusterName, strings.Join(rev.ClusterNames(), ", "))
	}
	s := &Snapshot{Revision: rev, Cluster: c}
	found := false
	for _, n := range c.Nodes {
		if n.Name == nodeName {
			s.Node, found = n, true
			break
		}
	}
	if !found {
		names := make([]string, 0, len(c.Nodes))
		for _, n := range c.Nodes {
			names = append(names, n.Name)
		}
		return nil, fmt.Errorf("cluster %s (%s) of revision %s has no node %q (nodes: %s)", c.Name, c.Pos.File, revName(rev), nodeName, strings.Join(names, ", "))
	}

	zs := rev.Zones
	if c.Zones != nil {
		zs = make([]*zones.Zone, 0, len(c.Zones))
		for _, o := range c.Zones {
			z := rev.Zone(o)
			if z == nil {
				return nil, fmt.Errorf("cluster %s (%s) serves zone %s, which revision %s does not hold", c.Name, c.Pos.File, o, revName(rev))
			}
			zs = append(zs, z)
		}
	}
	s.Authority = zones.NewAuthority(zs...)
	s.StubZones = stubZones(zs)

	s.Forward = append([]model.ForwardRule(nil), c.Forward...)
	model.SortForward(s.Forward)
	s.RecursionAllow = append([]netip.Prefix(nil), c.Recursion.Allow...)
	s.RootHints = rev.EffectiveRootHints()
	s.RPZ = rev.RPZFor(c.Name)

	s.FallbackTTL = rev.Policy.FallbackTTL
	if s.FallbackTTL == 0 {
		s.FallbackTTL = model.DefaultFallbackTTL
	}
	s.Fallback = make(map[string][]dns.RR)
	for _, r := range rev.Fallback {
		rr := dns.Copy(r.RR)
		rr.Header().Ttl = s.FallbackTTL
		key := strings.ToLower(rr.Header().Name)
		s.Fallback[key] = append(s.Fallback[key], rr)
	}
	return s, nil
}

func revName(rev *model.Revision) string {
	if rev.ID != "" {
		return rev.ID
	}
	return "(working folder)"
}

// ForwardedBelow reports whether a forward rule of the cluster more
// specific than the served zone origin covers name: the rule wins (a
// subzone run elsewhere, e.g. by another datacenter), so the name is the
// recursor's, not the zone's. The authority plugin and the fast path's
// precomputation both ask this.
func (s *Snapshot) ForwardedBelow(name, origin string) bool {
	for _, f := range s.Forward {
		if len(f.Zone) > len(origin) && dns.IsSubDomain(f.Zone, name) && dns.IsSubDomain(origin, f.Zone) {
			return true
		}
	}
	return false
}

// RecursionAllowed reports whether a client at ip may recurse through this
// node (recursion.allow of its cluster).
func (s *Snapshot) RecursionAllowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range s.RecursionAllow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// stubZones returns the zone cuts inside the internal zones a node serves
// (a subzone delegated to a team's own servers) with their NS records and
// the addresses the internal zones give their names: no public root leads
// there, so iteration below a cut must start at those servers. Cuts whose
// child zone is served here too are left out (authority answers them), and
// so are cuts with no address for any of their servers. Cuts and addresses
// come from the zones' own index: no pass over their records.
func stubZones(zs []*zones.Zone) map[string][]dns.RR {
	served := make(map[string]bool, len(zs))
	for _, z := range zs {
		served[z.Origin()] = true
	}
	cuts := map[string][]dns.RR{}
	for _, z := range zs {
		for _, d := range z.Delegations() {
			if !served[d.Name] {
				cuts[d.Name] = append(cuts[d.Name], d.NS...)
			}
		}
	}
	out := map[string][]dns.RR{}
	for cut, nss := range cuts {
		rrs := append([]dns.RR(nil), nss...)
		found := false
		for _, rr := range nss {
			for _, z := range zs {
				a := z.Addrs(rr.(*dns.NS).Ns)
				found = found || len(a) > 0
				rrs = append(rrs, a...)
			}
		}
		if found {
			out[cut] = rrs
		}
	}
	return out
}
