package zones

import (
	"bytes"
	"io"
	"slices"
	"strings"

	"github.com/miekg/dns"
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
	// glue is, for a cut, the addresses of its in-zone NS targets.
	glue []dns.RR
}

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
	origin = strings.ToLower(dns.Fqdn(origin))
	rs := make([]dns.RR, 0, len(records))
	ps := make([]Position, 0, len(records))
	for i, rr := range records {
		if !inZone(strings.ToLower(rr.Header().Name), origin) {
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
		h := rr.Header()
		name := strings.ToLower(h.Name)
		n := z.nodes[name]
		if n == nil {
			n = &node{name: name}
			z.nodes[name] = n
		}
		s := n.get(h.Rrtype)
		if s == nil {
			n.sets = append(n.sets, rrset{typ: h.Rrtype})
			s = &n.sets[len(n.sets)-1]
		}
		s.rrs = append(s.rrs, rr)
	}
	// Empty non-terminals: every ancestor between a name and the apex.
	names := make([]string, 0, len(z.nodes))
	for name := range z.nodes {
		names = append(names, name)
	}
	for _, name := range names {
		for p := parentName(name, origin); p != ""; p = parentName(p, origin) {
			if _, ok := z.nodes[p]; ok {
				break
			}
			z.nodes[p] = &node{name: p}
		}
	}
	// Clip slices so that nobody can append into shared storage.
	for _, n := range z.nodes {
		for i := range n.sets {
			n.sets[i].rrs = slices.Clip(n.sets[i].rrs)
		}
	}
	// SOA and the negative-answer SOA (RFC 2308: TTL = min(TTL, MINIMUM)).
	if s := z.apex.get(dns.TypeSOA); s != nil {
		z.soa = s.rrs[0].(*dns.SOA)
		neg := dns.Copy(z.soa).(*dns.SOA)
		neg.Hdr.Ttl = min(neg.Hdr.Ttl, neg.Minttl)
		z.negSOA = []dns.RR{neg}
	}
	// Zone cuts and wildcards.
	for _, n := range z.nodes {
		var top *node
		for p := n.name; p != ""; p = parentName(p, origin) {
			if a := z.nodes[p]; a != nil && a != z.apex && a.get(dns.TypeNS) != nil {
				top = a
			}
		}
		n.cut = top
		if n != z.apex && n.get(dns.TypeNS) != nil {
			z.delegs = append(z.delegs, n)
		}
		if w, ok := z.nodes["*."+n.name]; ok {
			n.wild = w
		}
	}
	slices.SortFunc(z.delegs, func(a, b *node) int { return strings.Compare(a.name, b.name) })
	// Additional-section data, precomputed.
	for _, n := range z.nodes {
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
		if n.cut == n {
			n.glue = n.get(dns.TypeNS).extra
		}
	}
	return z
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
	name = strings.ToLower(name)
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
	for name, n := range z.nodes {
		types := make([]uint16, len(n.sets))
		for i := range n.sets {
			types[i] = n.sets[i].typ
		}
		out = append(out, OwnerName{Name: name, Types: types, Cut: n.cut != nil})
	}
	return out
}
