package rpz

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// Set is the policies one node applies, in priority order (policy.yaml's
// order): the first policy with a matching trigger decides (draft section
// 5.1). A nil Set applies nothing.
type Set []*Policy

// Hit is a rule that fired and the policy it belongs to.
type Hit struct {
	Policy *Policy
	Rule   *Rule
}

// QName returns the first policy whose QNAME triggers match qname and its
// index; ok false when none does. Within a policy an exact trigger beats a
// wildcard and a longer wildcard beats a shorter (draft section 5.2); a
// wildcard "*.example." matches names below example., not example. itself.
// qname need not be lower case or absolute. Allocates only for a name that
// is not already lower case.
func (s Set) QName(qname string) (Hit, int, bool) {
	if len(s) == 0 {
		return Hit{}, 0, false
	}
	name := lowerFqdn(qname)
	for i, p := range s {
		if r := p.qname(name); r != nil {
			return Hit{p, r}, i, true
		}
	}
	return Hit{}, len(s), false
}

func (p *Policy) qname(name string) *Rule {
	if r := p.exact[name]; r != nil {
		return r
	}
	if len(p.wild) == 0 {
		return nil
	}
	for off, end := dns.NextLabel(name, 0); !end; off, end = dns.NextLabel(name, off) {
		if r := p.wild[name[off:]]; r != nil {
			return r
		}
	}
	return nil
}

// NeedsAnswer reports whether a policy before index before has RPZ-IP
// triggers: the answer must be known to decide.
func (s Set) NeedsAnswer(before int) bool {
	for _, p := range s[:min(before, len(s))] {
		if p.HasIPTriggers() {
			return true
		}
	}
	return false
}

// Answer returns the first policy before index before whose RPZ-IP
// triggers match an A or AAAA record of the answer section; within a policy
// the longest prefix wins (draft section 5.2).
func (s Set) Answer(answer []dns.RR, before int) (Hit, bool) {
	for _, p := range s[:min(before, len(s))] {
		if !p.HasIPTriggers() {
			continue
		}
		var best *Rule
		bestBits := -1
		for _, rr := range answer {
			var a netip.Addr
			switch v := rr.(type) {
			case *dns.A:
				ip, ok := netip.AddrFromSlice(v.A.To4())
				if !ok {
					continue
				}
				a = netip.AddrFrom16(ip.As16())
			case *dns.AAAA:
				ip, ok := netip.AddrFromSlice(v.AAAA)
				if !ok {
					continue
				}
				a = ip
			default:
				continue
			}
			if r, bits := p.matchIP(a); r != nil && bits > bestBits {
				best, bestBits = r, bits
			}
		}
		if best != nil {
			return Hit{p, best}, true
		}
	}
	return Hit{}, false
}

func (p *Policy) matchIP(a netip.Addr) (*Rule, int) {
	for _, bits := range p.ipLen {
		pfx, err := a.Prefix(bits)
		if err != nil {
			continue
		}
		if r := p.ip[pfx]; r != nil {
			return r, bits
		}
	}
	return nil, 0
}

// lowerFqdn returns name lower case and absolute, without allocating when
// it already is.
func lowerFqdn(name string) string {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'A' && c <= 'Z' {
			return dns.Fqdn(strings.ToLower(name))
		}
	}
	return dns.Fqdn(name)
}

// Rewrite returns the response a hit makes of question q: the rcode and the
// answer and authority sections (the policy's SOA in the authority section
// of a negative answer, as BIND writes it, so that the client's negative
// cache TTL is the policy's). ok is false for Passthru (the resolved
// answer stands) and Drop (no response at all).
//
// Local data is synthesized with q's name as owner (a wildcard trigger's
// data too); a question for a type the rule has no data of gets NODATA
// unless the data is a CNAME, which answers every type.
func (h Hit) Rewrite(q dns.Question) (rcode int, answer, ns []dns.RR, ok bool) {
	switch h.Rule.Action {
	case NXDOMAIN:
		return dns.RcodeNameError, nil, h.Policy.negSOA(), true
	case NODATA:
		return dns.RcodeSuccess, nil, h.Policy.negSOA(), true
	case LocalData:
		for _, rr := range h.Rule.Data {
			t := rr.Header().Rrtype
			if t == q.Qtype || t == dns.TypeCNAME || q.Qtype == dns.TypeANY {
				c := dns.Copy(rr)
				c.Header().Name = q.Name
				answer = append(answer, c)
			}
		}
		if len(answer) == 0 {
			return dns.RcodeSuccess, nil, h.Policy.negSOA(), true
		}
		return dns.RcodeSuccess, answer, nil, true
	}
	return 0, nil, nil, false
}

// negSOA is the policy's SOA for a negative answer (RFC 2308 section 3:
// TTL = min(TTL, MINIMUM)).
func (p *Policy) negSOA() []dns.RR {
	soa := dns.Copy(p.soa).(*dns.SOA)
	soa.Hdr.Ttl = min(soa.Hdr.Ttl, soa.Minttl)
	return []dns.RR{soa}
}

// EDE is the Extended DNS Error (RFC 8914 section 4) a rewritten answer
// carries: 15 Blocked when the policy refuses the name (NXDOMAIN, NODATA),
// 17 Filtered when it answers with data of its own. Passthru and Drop
// carry none (the answer is the real one, or there is none).
func (a Action) EDE() (uint16, bool) {
	switch a {
	case NXDOMAIN, NODATA:
		return dns.ExtendedErrorCodeBlocked, true
	case LocalData:
		return dns.ExtendedErrorCodeFiltered, true
	}
	return 0, false
}
