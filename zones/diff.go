package zones

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// ChangeKind says how an RRset changed between two versions of a zone.
type ChangeKind int

const (
	// Added: the RRset is only in head.
	Added ChangeKind = iota
	// Removed: the RRset is only in base.
	Removed
	// Changed: the RRset is in both, with different records or TTLs.
	Changed
)

func (k ChangeKind) String() string {
	switch k {
	case Added:
		return "added"
	case Removed:
		return "removed"
	}
	return "changed"
}

// Change is one RRset that differs between base and head. Base and Head are
// the RRset's records in each version (nil when absent), shared with the
// zones; BasePos and HeadPos are where the RRset's first record was written.
type Change struct {
	Kind    ChangeKind
	Name    string // lower case, absolute
	Type    uint16
	Base    []dns.RR
	Head    []dns.RR
	BasePos Position
	HeadPos Position
}

func (c Change) String() string {
	return fmt.Sprintf("%s %s %s", c.Kind, c.Name, dns.TypeToString[c.Type])
}

// Diff compares two versions of a zone RRset by RRset and returns what was
// added, removed and changed, sorted by name, then type. A nil zone is an
// empty one. Records are compared by data and TTL; owner case is ignored.
func Diff(base, head *Zone) []Change {
	var out []Change
	names := map[string]struct{}{}
	for _, z := range []*Zone{base, head} {
		if z == nil {
			continue
		}
		for name, n := range z.nodes {
			if len(n.sets) > 0 {
				names[name] = struct{}{}
			}
		}
	}
	baseIx, headIx := recordIndex{z: base}, recordIndex{z: head}
	for name := range names {
		bn, hn := nodeOf(base, name), nodeOf(head, name)
		types := map[uint16]struct{}{}
		for _, n := range []*node{bn, hn} {
			if n != nil {
				for _, s := range n.sets {
					types[s.typ] = struct{}{}
				}
			}
		}
		for t := range types {
			bs, hs := setOf(bn, t), setOf(hn, t)
			c := Change{Name: name, Type: t}
			switch {
			case bs == nil:
				c.Kind = Added
			case hs == nil:
				c.Kind = Removed
			case sameRRset(bs, hs):
				continue
			default:
				c.Kind = Changed
			}
			if bs != nil {
				c.Base, c.BasePos = bs.rrs, base.pos[baseIx.of(bs.rrs[0])]
			}
			if hs != nil {
				c.Head, c.HeadPos = hs.rrs, head.pos[headIx.of(hs.rrs[0])]
			}
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Type < out[j].Type
	})
	return out
}

func nodeOf(z *Zone, name string) *node {
	if z == nil {
		return nil
	}
	return z.nodes[name]
}

func setOf(n *node, t uint16) *rrset {
	if n == nil {
		return nil
	}
	return n.get(t)
}

func sameRRset(a, b *rrset) bool {
	if len(a.rrs) != len(b.rrs) {
		return false
	}
	return ttlDataSet(a) == ttlDataSet(b)
}

// ttlDataSet renders an RRset's TTLs and data, sorted, for comparison.
func ttlDataSet(s *rrset) string {
	vals := make([]string, 0, len(s.rrs))
	for _, rr := range s.rrs {
		h := rr.Header()
		vals = append(vals, strconv.FormatUint(uint64(h.Ttl), 10)+" "+rdataText(rr))
	}
	sort.Strings(vals)
	return strings.Join(vals, "\n")
}
