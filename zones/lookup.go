package zones

import (
	"strings"

	"github.com/miekg/dns"
)

// Answer is the result of a lookup in one zone: an rcode, whether the answer
// is authoritative (false for referrals), and the three sections. The RRs are
// shared with the zone and immutable: copy before modifying.
type Answer struct {
	Rcode         int
	Authoritative bool
	Answer        []dns.RR
	Ns            []dns.RR
	Extra         []dns.RR
}

// maxChase bounds the in-zone CNAME chain followed by Lookup.
const maxChase = 16

// Lookup answers qname/qtype from the zone by RFC 1034 4.3.2:
//
//   - a name at or below a zone cut (not the apex) gets a referral: not
//     authoritative, the cut's NS in authority, in-zone glue in additional;
//     a DS query at the cut itself is answered from this (the parent) side;
//   - an exact match answers the RRset, with in-zone A/AAAA of NS, MX and
//     SRV targets in additional; a CNAME is followed inside the zone (at
//     most 16 steps, loops stopped) and a chain leaving the zone ends with
//     what we have, rcode NOERROR;
//   - a name that does not exist is synthesized from the wildcard at its
//     closest encloser (RFC 4592), with the owner set to qname; an existing
//     name or an empty non-terminal blocks the wildcard;
//   - NXDOMAIN and NODATA carry the SOA in authority with
//     TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308);
//   - qtype ANY answers every RRset at the name.
//
// qname may be in any case and need not end with a dot. A name outside the
// zone gets rcode REFUSED.
func (z *Zone) Lookup(qname string, qtype uint16) Answer {
	q := canonical(qname)
	if !z.contains(q) {
		return Answer{Rcode: dns.RcodeRefused}
	}
	owner := dns.Fqdn(qname) // the owner for synthesized records, as asked
	ans := Answer{Rcode: dns.RcodeSuccess, Authoritative: true}
	var seen [maxChase]string
	for step := 0; ; step++ {
		n, exact := z.find(q)
		atCutDS := exact && qtype == dns.TypeDS && n.cut == n
		if n.cut != nil && !atCutDS {
			ans.Ns = n.cut.get(dns.TypeNS).rrs
			ans.Extra = n.cut.glue
			if step == 0 {
				ans.Authoritative = false
			}
			return ans
		}
		if !exact {
			if n.wild == nil {
				ans.Rcode = dns.RcodeNameError
				ans.Ns = z.negSOA
				return ans
			}
			n = n.wild
		}
		synth := !exact
		if qtype == dns.TypeANY {
			if len(n.sets) == 0 {
				ans.Ns = z.negSOA
				return ans
			}
			for _, s := range n.sets {
				ans.Answer = appendRRs(ans.Answer, s.rrs, synth, owner)
			}
			return ans
		}
		if s := n.get(qtype); s != nil {
			ans.Answer = appendRRs(ans.Answer, s.rrs, synth, owner)
			ans.Extra = s.extra
			return ans
		}
		c := n.get(dns.TypeCNAME)
		if c == nil || atCutDS {
			ans.Ns = z.negSOA // NODATA (also an empty non-terminal)
			return ans
		}
		ans.Answer = appendRRs(ans.Answer, c.rrs[:1:1], synth, owner)
		seen[step] = q
		target := c.rrs[0].(*dns.CNAME).Target
		q = canonical(target)
		owner = target
		if !z.contains(q) || step+1 >= maxChase {
			return ans // leaves the zone, or too long: the resolver continues
		}
		for _, s := range seen[:step+1] {
			if s == q {
				return ans // loop
			}
		}
	}
}

// appendRRs appends rrs to dst without ever writing into shared storage;
// when synth is set the records are copies owned by owner.
func appendRRs(dst, rrs []dns.RR, synth bool, owner string) []dns.RR {
	if !synth {
		if dst == nil {
			return rrs // shared, clipped: appending to it copies
		}
		return append(dst[:len(dst):len(dst)], rrs...)
	}
	out := make([]dns.RR, len(dst), len(dst)+len(rrs))
	copy(out, dst)
	for _, rr := range rrs {
		c := dns.Copy(rr)
		c.Header().Name = owner
		out = append(out, c)
	}
	return out
}

// find returns the node for q if it exists (exact), else its closest
// encloser. q must be in the zone.
func (z *Zone) find(q string) (*node, bool) {
	off := 0
	for {
		if n, ok := z.nodes[q[off:]]; ok {
			return n, off == 0
		}
		next, end := dns.NextLabel(q, off)
		if end || len(q)-next < len(z.origin) {
			return z.apex, false
		}
		off = next
	}
}

// contains reports whether the canonical name q is at or below the apex.
func (z *Zone) contains(q string) bool {
	if z.dotOrigin == "" || q == z.origin {
		return true
	}
	return strings.HasSuffix(q, z.dotOrigin)
}

// canonical lower-cases a name and makes it absolute, without allocating
// when it already is.
func canonical(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			name = strings.ToLower(name)
			break
		}
	}
	return dns.Fqdn(name)
}
