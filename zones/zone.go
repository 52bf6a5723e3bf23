package zones

import (
	"bytes"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// Zone is one parsed zone: its records in file order with their positions,
// and an index for lookups built once. A Zone is immutable once built and
// safe for concurrent use; the records it hands out are shared and must not
// be modified.
type Zone struct {
	file      string
	origin    string // lower case, absolute
	dotOrigin string // "." + origin, or "" for the root
	soa       *dns.SOA
	negSOA    []dns.RR // the SOA for negative answers: TTL = min(TTL, MINIMUM)
	records   []dns.RR
	pos       []Position
	keys      []entryKey       // parallel to records when parsed: see reuse.go
	nodes     map[string]*node // by lower-case owner name, incl. empty non-terminals
	apex      *node
	delegs    []*node // names other than the apex holding NS records, by name
}

// node is one owner name of the zone.
type node struct {
	name string // lower case, absolute
	sets []rrset
	// cut is the topmost zone cut at or above this name (the apex is never
	// a cut); nil when the name is authoritative data.
	cut *node
	// wild is the wildcard child "*.name", if the zone has one.
	wild *node
	// kids is the number of names directly below this one in the zone
	// (an empty non-terminal without kids is no name).
	kids int32
	// lint says which of lint's per-name rules can apply (see finish),
	// so that lint skips most names without reading their RRsets. (It
	// fits beside kids: a node stays 64 bytes.)
	lint lintFlags
}

// lintFlags summarise a node's RRsets for lint's per-name rules.
type lintFlags uint8

const (
	lintSOA     lintFlags = 1 << iota // an SOA RRset
	lintCNAME                         // a CNAME RRset
	lintMulti                         // an RRset of two records or more
	lintNonAddr                       // an RRset other than A and AAAA
	lintStar                          // records, and "*." in the name
)

// rrset is the records of one type at a node, with the additional-section
// records precomputed for it (in-zone addresses of NS/MX/SRV targets).
type rrset struct {
	typ   uint16
	rrs   []dns.RR
	extra []dns.RR
}

// recordIndex finds where a record is in its zone's records (Positions is
// parallel to them). RRsets do not keep it: only findings need it, and an
// RRset whose records did not change is shared by the next version of the
// zone, where they may be elsewhere. A few lookups scan; more build a map.
type recordIndex struct {
	z     *Zone
	m     map[dns.RR]int
	scans int
}

func (x *recordIndex) of(rr dns.RR) int {
	if x.m == nil && x.scans < 16 {
		x.scans++
		for i, r := range x.z.records {
			if r == rr {
				return i
			}
		}
		return -1
	}
	if x.m == nil {
		x.m = make(map[dns.RR]int, len(x.z.records))
		for i := len(x.z.records) - 1; i >= 0; i-- {
			x.m[x.z.records[i]] = i // the first wins
		}
	}
	if i, ok := x.m[rr]; ok {
		return i
	}
	return -1
}

func (n *node) get(t uint16) *rrset {
	for i := range n.sets {
		if n.sets[i].typ == t {
			return &n.sets[i]
		}
	}
	return nil
}

// Origin is the zone's apex, lower case, absolute.
func (z *Zone) Origin() string { return z.origin }

// File is the path the zone was read from.
func (z *Zone) File() string { return z.file }

// SOA is the SOA record at the apex (the first one if there are several),
// or nil.
func (z *Zone) SOA() *dns.SOA { return z.soa }

// Records returns every record in file order. Shared: do not modify.
func (z *Zone) Records() []dns.RR { return z.records }

// Positions returns where each record was written, parallel to Records.
func (z *Zone) Positions() []Position { return z.pos }

// Len is the number of records.
func (z *Zone) Len() int { return len(z.records) }

// New builds a zone from records already parsed (for example generated in
// tests or benchmarks). Records outside origin are dropped. pos may be nil.
func New(file, origin string, records []dns.RR, pos []Position) *Zone {
	origin = dnsname.Lower(dns.Fqdn(origin))
	rs := make([]dns.RR, 0, len(records))
	ps := make([]Position, 0, len(records))
	for i, rr := range records {
		if !inZone(dnsname.Lower(rr.Header().Name), origin) {
			continue
		}
		rs = append(rs, rr)
		if i < len(pos) {
			ps = append(ps, pos[i])
		} else {
			ps = append(ps, Position{File: file})
		}
	}
	return build(file, origin, rs, ps)
}

func (p *parser) build() *Zone {
	return build(p.file, p.origin, p.records, p.pos)
}

func build(file, origin string, records []dns.RR, pos []Position) *Zone {
	z := &Zone{
		file:    file,
		origin:  origin,
		records: records,
		pos:     pos,
		nodes:   make(map[string]*node, len(records)/2+1),
	}
	if origin != "." {
		z.dotOrigin = "." + origin
	}
	z.apex = &node{name: origin}
	z.nodes[origin] = z.apex

	// Names and RRsets.
	for _, rr := range records {
		name := dnsname.Lower(rr.Header().Name)
		n := z.nodes[name]
		if n == nil {
			n = &node{name: name}
			z.nodes[name] = n
		}
		n.add(rr)
	}
	// Empty non-terminals: every ancestor between a name and the apex.
	names := make([]string, 0, len(z.nodes))
	for name := range z.nodes {
		names = append(names, name)
	}
	for _, name := range names {
		z.link(name)
	}
	for _, n := range z.nodes {
		n.finish()
	}
	z.setSOA()
	// Zone cuts and wildcards.
	for _, n := range z.nodes {
		n.cut = z.cutOf(n.name)
		if n != z.apex && n.get(dns.TypeNS) != nil {
			z.delegs = append(z.delegs, n)
		}
		n.wild = z.nodes["*."+n.name]
	}
	slices.SortFunc(z.delegs, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	// Additional-section data, precomputed.
	for _, n := range z.nodes {
		z.setExtra(n)
	}
	return z
}

// add adds a record to the node's RRset of its type.
func (n *node) add(rr dns.RR) {
	t := rr.Header().Rrtype
	s := n.get(t)
	if s == nil {
		n.sets = append(n.sets, rrset{typ: t})
		s = &n.sets[len(n.sets)-1]
	}
	s.rrs = append(s.rrs, rr)
}

// finish is called once n's RRsets are complete: it clips them, so that
// nobody can append into shared storage, and sets n.lint.
func (n *node) finish() {
	n.lint = 0
	for i := range n.sets {
		s := &n.sets[i]
		s.rrs = slices.Clip(s.rrs)
		switch s.typ {
		case dns.TypeSOA:
			n.lint |= lintSOA | lintNonAddr
		case dns.TypeCNAME:
			n.lint |= lintCNAME | lintNonAddr
		case dns.TypeA, dns.TypeAAAA:
		default:
			n.lint |= lintNonAddr
		}
		if len(s.rrs) > 1 {
			n.lint |= lintMulti
		}
	}
	if len(n.sets) > 0 && strings.Contains(n.name, "*.") {
		n.lint |= lintStar
	}
}

// link counts name (a node of z) as a kid of its parent, adding the empty
// non-terminals between it and the closest existing ancestor.
func (z *Zone) link(name string) {
	for p := parentName(name, z.origin); p != ""; p = parentName(p, z.origin) {
		if a := z.nodes[p]; a != nil {
			a.kids++
			return
		}
		z.nodes[p] = &node{name: p, kids: 1}
	}
}

// setSOA sets the SOA and the negative-answer SOA (RFC 2308: TTL =
// min(TTL, MINIMUM)) from the apex.
func (z *Zone) setSOA() {
	z.soa, z.negSOA = nil, nil
	if s := z.apex.get(dns.TypeSOA); s != nil {
		z.soa = s.rrs[0].(*dns.SOA)
		neg := dns.Copy(z.soa).(*dns.SOA)
		neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
		z.negSOA = []dns.RR{neg}
	}
}

// cutOf is the topmost zone cut at or above name, or nil.
func (z *Zone) cutOf(name string) *node {
	var top *node
	for p := name; p != ""; p = parentName(p, z.origin) {
		if a := z.nodes[p]; a != nil && a != z.apex && a.get(dns.TypeNS) != nil {
			top = a
		}
	}
	return top
}

// setExtra precomputes the additional-section records of n's RRsets (for
// a cut, its NS RRset's are its glue).
func (z *Zone) setExtra(n *node) {
	for i := range n.sets {
		s := &n.sets[i]
		var extra []dns.RR
		for _, rr := range s.rrs {
			if t := targetOf(rr); t != "" {
				extra = z.appendAddrs(extra, t, s.typ == dns.TypeNS)
			}
		}
		s.extra = slices.Clip(extra)
	}
}

// buildAgainst builds the zone of records, a new version of prev in which
// only the records of the owner names in changed differ (see
// memo.changedNames), sharing prev's nodes (immutable) for every other
// name: the cost grows with the change. moved are the indexes of the
// records that are not prev's records kept in order (parsed, or reused out
// of order), increasing. It equals build's zone exactly; when delegations
// are involved, or much changed, it is build.
func buildAgainst(prev *Zone, file, origin string, records []dns.RR, pos []Position, changed map[string]struct{}, moved []int32) *Zone {
	if prev == nil || prev.origin != origin || len(changed) > len(records)/8+16 {
		return build(file, origin, records, pos)
	}
	// A zone cut's data (its cut pointer in every name below it, its
	// glue) is not tracked: a change at or below a cut, or of a name an
	// NS record of a cut points at, is built whole.
	for name := range changed {
		if prev.cutOf(name) != nil {
			return build(file, origin, records, pos)
		}
	}
	// The new records of the changed names, in file order: those moved,
	// and prev's records of the changed names that were kept in order.
	// Only these are read (the owner name of every record is not: most
	// are in no cache).
	recs := make(map[string][]dns.RR, len(changed))
	kept := keptOf(prev, changed)
	for i, rr := range records {
		if len(moved) > 0 && int(moved[0]) == i {
			moved = moved[1:]
		} else if !kept.has(rr) {
			continue
		}
		name := dnsname.Lower(rr.Header().Name)
		if _, ok := changed[name]; ok {
			if rr.Header().Rrtype == dns.TypeNS && name != origin {
				return build(file, origin, records, pos) // a new cut
			}
			recs[name] = append(recs[name], rr)
		}
	}
	// Names whose precomputed additional records point at a changed
	// name must compute them again.
	dirty := make(map[string]bool, 4*len(changed))
	for _, rr := range records {
		t := targetOf(rr)
		if t == "" {
			continue
		}
		if _, ok := changed[dnsname.Lower(t)]; ok {
			name := dnsname.Lower(rr.Header().Name)
			if prev.cutOf(name) != nil {
				return build(file, origin, records, pos) // a cut's glue, or data below one
			}
			dirty[name] = true
		}
	}

	z := &Zone{file: file, origin: origin, dotOrigin: prev.dotOrigin, records: records, pos: pos,
		nodes: maps.Clone(prev.nodes), delegs: prev.delegs}
	// copyOf gives the node of name in z that this build owns, copying
	// prev's (shared) the first time.
	owned := make(map[*node]bool, 4*len(changed))
	copyOf := func(name string) *node {
		n := z.nodes[name]
		if n == nil || owned[n] {
			return n
		}
		c := *n
		c.sets = slices.Clone(n.sets)
		z.nodes[name] = &c
		owned[&c] = true
		return &c
	}
	// Changed names: new RRsets; a name that lost its records is removed
	// when nothing is below it, and so are the empty non-terminals above
	// it that it leaves without kids.
	var removed []string
	for name := range changed {
		n := z.nodes[name]
		if n == nil {
			n = &node{name: name}
			z.nodes[name] = n
			owned[n] = true
			// As link, in copies.
			for p := parentName(name, origin); p != ""; p = parentName(p, origin) {
				if a := copyOf(p); a != nil {
					a.kids++
					break
				}
				a := &node{name: p, kids: 1}
				z.nodes[p] = a
				owned[a] = true
			}
		} else {
			n = copyOf(name)
			n.sets = nil
		}
		for _, rr := range recs[name] {
			n.add(rr)
		}
		n.finish()
		if len(n.sets) == 0 && n.kids == 0 && name != origin {
			removed = append(removed, name)
		}
	}
	for _, name := range removed {
		for name != "" && name != origin {
			n := z.nodes[name]
			if n == nil || len(n.sets) > 0 || n.kids > 0 {
				break
			}
			delete(z.nodes, name)
			name = parentName(name, origin)
			if p := copyOf(name); p != nil {
				p.kids--
			}
		}
	}
	// The changed names, the targeting names and every ancestor of
	// them (a new wildcard child, new kids, a child that is a new node)
	// are computed again.
	for name := range changed {
		dirty[name] = true
	}
	for name := range dirty {
		for p := parentName(name, origin); p != ""; p = parentName(p, origin) {
			dirty[p] = true
		}
	}
	dirty[origin] = true
	var redo []*node
	for name := range dirty {
		if n := copyOf(name); n != nil {
			redo = append(redo, n)
		}
	}
	z.apex = z.nodes[origin]
	z.setSOA()
	for _, n := range redo {
		n.cut = z.cutOf(n.name)
		n.wild = z.nodes["*."+n.name]
	}
	for _, n := range redo {
		z.setExtra(n)
	}
	return z
}

// rrSet is a set of records, by identity: a list while it is short.
type rrSet struct {
	list []dns.RR
	m    map[dns.RR]struct{}
}

// keptOf is the set of prev's records at the names in changed.
func keptOf(prev *Zone, changed map[string]struct{}) rrSet {
	var s rrSet
	for name := range changed {
		if n := prev.nodes[name]; n != nil {
			for _, set := range n.sets {
				s.list = append(s.list, set.rrs...)
			}
		}
	}
	if len(s.list) > 8 {
		s.m = make(map[dns.RR]struct{}, len(s.list))
		for _, rr := range s.list {
			s.m[rr] = struct{}{}
		}
	}
	return s
}

func (s *rrSet) has(rr dns.RR) bool {
	if s.m != nil {
		_, ok := s.m[rr]
		return ok
	}
	for _, r := range s.list {
		if r == rr {
			return true
		}
	}
	return false
}

// Delegations returns the names below the apex that hold NS records (the
// zone's cuts, and any NS written below one), sorted by name, each with its
// NS records. Built with the zone; shared: do not modify.
func (z *Zone) Delegations() []Delegation {
	out := make([]Delegation, len(z.delegs))
	for i, n := range z.delegs {
		out[i] = Delegation{Name: n.name, NS: n.get(dns.TypeNS).rrs}
	}
	return out
}

// Delegation is one name of a zone, below its apex, that holds NS records.
type Delegation struct {
	Name string   // lower case, absolute
	NS   []dns.RR // shared: do not modify
}

// Addrs returns the A and AAAA records the zone holds at name (any case,
// absolute), glue below a cut included, or nil. Shared: do not modify.
func (z *Zone) Addrs(name string) []dns.RR {
	return z.appendAddrs(nil, name, true)
}

// appendAddrs appends the A and AAAA records of an in-zone name. Data below
// a zone cut (glue) is only used for NS targets.
func (z *Zone) appendAddrs(dst []dns.RR, name string, glue bool) []dns.RR {
	name = dnsname.Lower(name)
	t := z.nodes[name]
	if t == nil || (t.cut != nil && !glue) {
		return dst
	}
	for _, typ := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
		if s := t.get(typ); s != nil {
			dst = append(dst, s.rrs...)
		}
	}
	return dst
}

// rdataText is the presentation form of a record's data: its text without
// the header.
func rdataText(rr dns.RR) string {
	return strings.TrimPrefix(rr.String(), rr.Header().String())
}

// targetOf is the host name an NS, MX or SRV record points at.
func targetOf(rr dns.RR) string {
	switch r := rr.(type) {
	case *dns.NS:
		return r.Ns
	case *dns.MX:
		return r.Mx
	case *dns.SRV:
		return r.Target
	}
	return ""
}

// parentName returns the parent of name if it is strictly below origin,
// else "".
func parentName(name, origin string) string {
	if name == origin || len(name) <= len(origin) {
		return ""
	}
	off, end := dns.NextLabel(name, 0)
	if end {
		return ""
	}
	p := name[off:]
	if len(p) < len(origin) {
		return ""
	}
	return p
}

func readerOf(prefix string, body []byte) io.Reader {
	return io.MultiReader(strings.NewReader(prefix), bytes.NewReader(body))
}

// OwnerName is one owner name of a zone as the fast path's precomputation
// sees it: the types present (none for an empty non-terminal) and whether it
// is at or below a zone cut (then lookups end in a referral).
type OwnerName struct {
	Name  string   // lower case, absolute
	Types []uint16 // in zone order; shared: do not modify
	Cut   bool
}

// OwnerNames returns every owner name of the zone, empty non-terminals
// included, in no particular order.
func (z *Zone) OwnerNames() []OwnerName {
	out := make([]OwnerName, 0, len(z.nodes))
	for _, n := range z.nodes {
		out = append(out, n.ownerName())
	}
	return out
}

// ownerName describes n as OwnerNames and Owner give it.
func (n *node) ownerName() OwnerName {
	types := make([]uint16, len(n.sets))
	for i := range n.sets {
		types[i] = n.sets[i].typ
	}
	return OwnerName{Name: n.name, Types: types, Cut: n.cut != nil}
}
