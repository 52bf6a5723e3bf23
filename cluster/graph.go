package cluster

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// Graph is the forwarder graph of a revision: which cluster forwards which
// names to which addresses, and what those addresses are (a node of another
// cluster, a node of the same cluster, or something outside the repo).
// dnsctl graph draws it; Check derives the forwarder rules from it.
type Graph struct {
	Clusters []string // sorted
	Edges    []Edge   // one per (rule, target), in cluster then file order
	Cycles   []Cycle  // each elementary cycle found once, canonical rotation
}

// Edge is one target of one forward rule.
type Edge struct {
	From      string // cluster holding the rule
	Rule      model.ForwardRule
	Target    netip.AddrPort
	TargetPos zones.Position
	To        string // cluster owning the target ("" = outside the repo)
	ToNode    string // node owning the target ("" = outside the repo)
	// Peer is set when the target is a node of the rule's own cluster.
	Peer bool
	// Self is set when the target reaches the node holding the rule: its
	// own address (one-node cluster) or loopback at the node's DNS port.
	Self bool
	// Unreachable says why the target cannot answer, by construction ("" =
	// it may).
	Unreachable string
	InCycle     bool
}

// Hop is one step of a cycle: From forwards Zone (the rule's zone) to To.
type Hop struct {
	From, To string
	Rule     model.ForwardRule
}

// Cycle is a loop of forward rules: names at or below QName, sent from
// cluster to cluster by the longest matching rule of each, come back to
// where they started.
type Cycle struct {
	QName string
	Hops  []Hop
}

// Chain renders the cycle as `a -[zone]-> b -[zone]-> a`.
func (c Cycle) Chain() string {
	var b strings.Builder
	for i, h := range c.Hops {
		if i == 0 {
			b.WriteString(h.From)
		}
		fmt.Fprintf(&b, " -[%s]-> %s", h.Rule.Zone, h.To)
	}
	return b.String()
}

// Rules lists the position of each rule of the cycle (file:line).
func (c Cycle) Rules() string {
	parts := make([]string, len(c.Hops))
	for i, h := range c.Hops {
		p := h.Rule.Pos
		parts[i] = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return strings.Join(parts, ", ")
}

// ForwardGraph builds the forwarder graph of rev and finds its cycles.
//
// A name is followed from cluster to cluster: a cluster that serves a zone
// enclosing the name answers it (the authority comes before the recursor on
// a node) and the walk stops; otherwise the cluster's longest matching
// forward rule sends it to that rule's targets, and every target that is a
// node of another cluster continues the walk there. It is enough to walk the
// zone of every forward rule of the repo: any name behaves at every cluster
// exactly as the longest rule zone enclosing it.
func ForwardGraph(rev *model.Revision) *Graph {
	g := &Graph{}
	owner := nodeOwners{byAddrPort: map[netip.AddrPort][2]string{}, byAddr: map[netip.Addr][2]string{}}
	for _, c := range rev.Clusters {
		g.Clusters = append(g.Clusters, c.Name)
		for _, n := range c.Nodes {
			if n.Address.IsValid() {
				owner.byAddrPort[n.AddrPort()] = [2]string{c.Name, n.Name}
				if _, ok := owner.byAddr[n.Address]; !ok {
					owner.byAddr[n.Address] = [2]string{c.Name, n.Name}
				}
			}
		}
	}
	sort.Strings(g.Clusters)
	for _, c := range rev.Clusters {
		g.Edges = append(g.Edges, edgesOf(c, owner)...)
	}
	g.Cycles = forwardCycles(rev, owner, g.Clusters)
	markCycleEdges(g)
	return g
}

// nodeOwners says which cluster and node a forward target reaches.
type nodeOwners struct {
	byAddrPort map[netip.AddrPort][2]string // a node's DNS address and port -> cluster, node
	byAddr     map[netip.Addr][2]string     // a node's address -> cluster, node (the first in file order)
}

// of returns the cluster and node target i of r reaches. A tls:// target
// is a node's when its address is: the repo does not say on which port a
// node listens for DNS over TLS (its Corefile does), and a forward over TLS
// to a peer is as much a loop as one over UDP (seed 004).
func (o nodeOwners) of(r *model.ForwardRule, i int) ([2]string, bool) {
	if r.IsTLS(i) {
		v, ok := o.byAddr[r.To[i].Addr()]
		return v, ok
	}
	v, ok := o.byAddrPort[r.To[i]]
	return v, ok
}

// edgesOf returns the edges of c's forward rules, each target classified:
// which cluster and node it is, a peer or the node itself, or unreachable.
func edgesOf(c *model.Cluster, owner nodeOwners) []Edge {
	var edges []Edge
	loopNodes := allLoopback(c)
	for _, r := range c.Forward {
		for i, t := range r.To {
			e := Edge{From: c.Name, Rule: r, Target: t}
			if i < len(r.ToPos) {
				e.TargetPos = r.ToPos[i]
			}
			if o, ok := owner.of(&r, i); ok {
				e.To, e.ToNode = o[0], o[1]
				if o[0] == c.Name {
					e.Peer = true
					e.Self = len(c.Nodes) == 1
				}
			}
			if why := unusableAddr(t.Addr()); why != "" {
				e.Unreachable = why
			} else if t.Addr().IsLoopback() && !loopNodes && e.To == "" {
				if nodePort(c, t.Port()) {
					e.Self = true
				} else {
					e.Unreachable = "a loopback address: on the nodes of " + c.Name + " (which are not on loopback) it reaches a process on the node itself, not a resolver of the network"
				}
			}
			edges = append(edges, e)
		}
	}
	return edges
}

// arc is one step of a query name's path: cluster -> cluster by a rule.
type arc struct {
	to   string
	rule model.ForwardRule
}

// forwardCycles searches the forward graph once per rule zone q: a cluster
// that does not serve q follows its most specific rule for q to the
// clusters owning the targets. Every distinct cycle is returned once, in
// canonical form.
func forwardCycles(rev *model.Revision, owner nodeOwners, clusters []string) []Cycle {
	var qnames []string
	seenQ := map[string]bool{}
	for _, c := range rev.Clusters {
		for _, r := range c.Forward {
			if !seenQ[r.Zone] {
				seenQ[r.Zone] = true
				qnames = append(qnames, r.Zone)
			}
		}
	}
	sort.Strings(qnames)
	sorted := map[string][]model.ForwardRule{}
	served := map[string][]string{}
	for _, c := range rev.Clusters {
		rs := append([]model.ForwardRule(nil), c.Forward...)
		model.SortForward(rs)
		sorted[c.Name] = rs
		if c.Zones == nil {
			for _, z := range rev.Zones {
				served[c.Name] = append(served[c.Name], z.Origin())
			}
		} else {
			served[c.Name] = c.Zones
		}
	}
	var cycles []Cycle
	seenCycle := map[string]bool{}
	for _, q := range qnames {
		adj := map[string][]arc{}
		for _, c := range rev.Clusters {
			if servesName(served[c.Name], q) {
				continue
			}
			r := model.MatchForward(sorted[c.Name], q)
			if r == nil {
				continue
			}
			seenTo := map[string]bool{}
			for i := range r.To {
				o, ok := owner.of(r, i)
				if !ok || o[0] == c.Name || seenTo[o[0]] {
					continue
				}
				seenTo[o[0]] = true
				adj[c.Name] = append(adj[c.Name], arc{to: o[0], rule: *r})
			}
		}
		for _, cyc := range cyclesOf(q, adj, clusters) {
			if key := cycleKey(cyc); !seenCycle[key] {
				seenCycle[key] = true
				cycles = append(cycles, cyc)
			}
		}
	}
	return cycles
}

// cyclesOf is a depth-first search of the arcs of query name q from every
// cluster: each back edge closes a cycle, the path from its target to here.
func cyclesOf(q string, adj map[string][]arc, clusters []string) []Cycle {
	const (
		white = iota
		grey
		black
	)
	var cycles []Cycle
	color := map[string]int{}
	var stack []Hop
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		for _, a := range adj[n] {
			h := Hop{From: n, To: a.to, Rule: a.rule}
			switch color[a.to] {
			case white:
				stack = append(stack, h)
				visit(a.to)
				stack = stack[:len(stack)-1]
			case grey:
				i := 0
				for i < len(stack) && stack[i].From != a.to {
					i++
				}
				hops := append(append([]Hop(nil), stack[i:]...), h)
				cycles = append(cycles, canonicalCycle(q, hops))
			}
		}
		color[n] = black
	}
	for _, name := range clusters {
		if color[name] == white {
			visit(name)
		}
	}
	return cycles
}

// markCycleEdges marks the edges that take part in a cycle.
func markCycleEdges(g *Graph) {
	inCycle := map[[3]string]bool{}
	for _, cy := range g.Cycles {
		for _, h := range cy.Hops {
			inCycle[[3]string{h.From, h.Rule.Zone, h.To}] = true
		}
	}
	for i := range g.Edges {
		e := &g.Edges[i]
		if e.To != "" && inCycle[[3]string{e.From, e.Rule.Zone, e.To}] {
			e.InCycle = true
		}
	}
}

func servesName(origins []string, q string) bool {
	for _, o := range origins {
		if dns.IsSubDomain(o, q) {
			return true
		}
	}
	return false
}

func allLoopback(c *model.Cluster) bool {
	if len(c.Nodes) == 0 {
		return false
	}
	for _, n := range c.Nodes {
		if !n.Address.IsLoopback() {
			return false
		}
	}
	return true
}

func nodePort(c *model.Cluster, port uint16) bool {
	for _, n := range c.Nodes {
		if n.Port == port {
			return true
		}
	}
	return false
}

// canonicalCycle rotates hops so the cycle starts at its smallest cluster
// name, so the same loop found from different starts prints the same.
func canonicalCycle(q string, hops []Hop) Cycle {
	best := 0
	for i, h := range hops {
		if h.From < hops[best].From {
			best = i
		}
	}
	out := append(append([]Hop(nil), hops[best:]...), hops[:best]...)
	return Cycle{QName: q, Hops: out}
}

func cycleKey(c Cycle) string {
	var b strings.Builder
	for _, h := range c.Hops {
		fmt.Fprintf(&b, "%s|%s|%s:%d;", h.From, h.Rule.Zone, h.Rule.Pos.File, h.Rule.Pos.Line)
	}
	return b.String()
}
