package zones

import (
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
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
	var buf [maxPresentationName]byte
	q, ok := lowerFqdn(buf[:0], qname)
	if !ok || !z.containsB(q) {
		return Answer{Rcode: dns.RcodeRefused}
	}
	owner := qname // the owner for synthesized records, as asked
	if !dns.IsFqdn(owner) {
		owner += "."
	}
	ans := Answer{Rcode: dns.RcodeSuccess, Authoritative: true}
	var seen [maxChase]*node // nodes whose CNAME was followed
	for step := 0; ; step++ {
		n, exact := z.find(q)
		atCutDS := exact && qtype == dns.TypeDS && n.cut == n
		if n.cut != nil && !atCutDS {
			ns := n.cut.get(dns.TypeNS)
			ans.Ns, ans.Extra = ns.rrs, ns.extra // the cut's glue
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
		for _, m := range seen[:step] {
			if m == n {
				return ans // a loop: stop before repeating it
			}
		}
		ans.Answer = appendRRs(ans.Answer, c.rrs[:1:1], synth, owner)
		seen[step] = n
		owner = c.rrs[0].(*dns.CNAME).Target
		q, ok = lowerFqdn(buf[:0], owner)
		if !ok || !z.containsB(q) || step+1 >= maxChase {
			return ans // leaves the zone, or too long: the resolver continues
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

// maxPresentationName is the longest name in presentation format we look
// up (255 octets, each possibly escaped as \DDD).
const maxPresentationName = 1024

// lowerFqdn appends the lower-cased, absolute form of name to dst; false
// when it does not fit.
func lowerFqdn(dst []byte, name string) ([]byte, bool) {
	if len(name)+1 > cap(dst)-len(dst) {
		return dst, false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	if !dns.IsFqdn(name) {
		dst = append(dst, '.')
	}
	return dst, true
}

// find returns the node for q if it exists (exact), else its closest
// encloser. q must be in the zone. It does not allocate.
func (z *Zone) find(q []byte) (*node, bool) {
	off := 0
	for {
		if n, ok := z.nodes[string(q[off:])]; ok {
			return n, off == 0
		}
		next, end := nextLabel(q, off)
		if end || len(q)-next < len(z.origin) {
			return z.apex, false
		}
		off = next
	}
}

// nextLabel returns the start of the label after the one at offset, like
// dns.NextLabel, on bytes.
func nextLabel(s []byte, offset int) (int, bool) {
	if len(s) == 0 {
		return 0, true
	}
	i := offset
	for ; i < len(s)-1; i++ {
		if s[i] != '.' {
			continue
		}
		j := i - 1
		for j >= 0 && s[j] == '\\' {
			j--
		}
		if (i-j)%2 == 0 {
			continue // an escaped dot
		}
		return i + 1, false
	}
	return i + 1, true
}

// containsB reports whether the canonical name q is at or below the apex.
func (z *Zone) containsB(q []byte) bool {
	if z.dotOrigin == "" || string(q) == z.origin {
		return true
	}
	return len(q) > len(z.dotOrigin) && string(q[len(q)-len(z.dotOrigin):]) == z.dotOrigin
}

// Referral reports whether the lookup ended at a zone cut below the zone:
// not authoritative, the cut's NS in authority, no answer.
func (a Answer) Referral() bool {
	return a.Rcode == dns.RcodeSuccess && !a.Authoritative && len(a.Answer) == 0 && len(a.Ns) > 0
}

// DanglingCNAME returns the lower-case target of the last CNAME of an
// answer section when nothing in the section answers it: a chain that
// leaves the zone, which a resolver must continue elsewhere.
func DanglingCNAME(answer []dns.RR) (string, bool) {
	if len(answer) == 0 {
		return "", false
	}
	last, ok := answer[len(answer)-1].(*dns.CNAME)
	if !ok {
		return "", false
	}
	target := dnsname.Lower(last.Target)
	// Answered already, or a looping chain that names its target as an owner.
	for _, rr := range answer {
		if dnsname.EqualFold(rr.Header().Name, target) {
			return "", false
		}
	}
	return target, true
}
