// Package rpz owns response policy zones (draft-vixie-dnsop-dns-rpz): an
// RPZ zone file of the config repo parsed into a Policy (its QNAME and
// RPZ-IP triggers, each with its action), the checks that refuse what a
// policy file cannot mean (unknown actions, triggers outside the policy
// zone, triggers this resolver does not implement), the lookup of the
// rule a question or an answer triggers across policies in priority order,
// and the response a rule rewrites an answer into.
//
// It sits beside package zones, whose parser reads the files, and knows
// neither CoreDNS nor git nor YAML: the loader (package cluster) lists the
// files from policy.yaml, the snapshot (package node) picks a cluster's
// policies, the recursor plugin applies them to recursive answers.
package rpz

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// Action is what a rule does to the answer of a question it triggers on.
type Action uint8

// Actions of the RPZ draft (section 5), each written as a CNAME target
// except local data.
const (
	NXDOMAIN  Action = iota + 1 // CNAME .
	NODATA                      // CNAME *.
	Passthru                    // CNAME rpz-passthru.
	Drop                        // CNAME rpz-drop.
	LocalData                   // any other records: the answer is these
)

func (a Action) String() string {
	switch a {
	case NXDOMAIN:
		return "nxdomain"
	case NODATA:
		return "nodata"
	case Passthru:
		return "passthru"
	case Drop:
		return "drop"
	case LocalData:
		return "local-data"
	}
	return "none"
}

// Rule ids reported by Parse (the zones parser's own rules come through too).
const (
	RuleSOA         = "rpz-soa"
	RuleOutside     = "rpz-outside-policy-zone"
	RuleApexData    = "rpz-apex-data"
	RuleAction      = "rpz-unknown-action"
	RuleMixed       = "rpz-cname-and-other-data"
	RuleTrigger     = "rpz-bad-trigger"
	RuleUnsupported = "rpz-unsupported"
)

// Rule is one trigger of a policy and what it does.
type Rule struct {
	Trigger string // owner name relative to the policy, as in the file (lower case), e.g. "*.bad.example"
	Action  Action
	Data    []dns.RR // LocalData: the records, owner names as written
	Pos     zones.Position
}

// Policy is one RPZ zone file: its triggers indexed for lookup. Immutable
// once parsed; shared between goroutines without locks.
type Policy struct {
	Name string      // the SOA owner (absolute, lower case): the policy's name
	Zone *zones.Zone // the file as a zone: what diff and the deletion guard compare

	exact map[string]*Rule // QNAME triggers: absolute query name -> rule
	wild  map[string]*Rule // *.name triggers: absolute name below which they match -> rule
	ip    map[netip.Prefix]*Rule
	ipLen []int // prefix lengths present in ip (IPv4 lengths as 4in6: +96), longest first
	soa   dns.RR
	rules int
}

// Len is the number of triggers.
func (p *Policy) Len() int { return p.rules }

// HasIPTriggers reports whether any rule triggers on answer addresses.
func (p *Policy) HasIPTriggers() bool { return len(p.ip) > 0 }

// Limits on untrusted input: a policy is a zone file, bounded as one.
const maxPrefix6 = 128

// Parse reads an RPZ zone file. file is the path operators see. Its SOA
// owner names the policy; names relative to no $ORIGIN are relative to
// that owner, as a zone file is relative to its zone. Findings carry
// file:line:col; the policy must be refused when zones.HasErrors(findings).
func Parse(file string, data []byte) (*Policy, []zones.Finding) {
	first := leadingOrigin(data)
	z, fs := zones.Parse(file, first, data)
	outside(fs, first)
	if zones.HasErrors(fs) {
		return nil, fs
	}
	var soa dns.RR
	var soaPos zones.Position
	for i, rr := range z.Records() {
		if rr.Header().Rrtype == dns.TypeSOA {
			if soa != nil {
				return nil, append(fs, errAt(z.Positions()[i], RuleSOA, "a second SOA record (the first, at line %d, names the policy)", soaPos.Line))
			}
			soa, soaPos = rr, z.Positions()[i]
		}
	}
	if soa == nil {
		return nil, append(fs, errAt(zones.Position{File: file}, RuleSOA, "no SOA record: the SOA owner names the policy (e.g. `$ORIGIN malware.rpz.` then `@ SOA ...`)"))
	}
	name := strings.ToLower(soa.Header().Name)
	if name == "." {
		return nil, append(fs, errAt(soaPos, RuleSOA, "the SOA owner is the root: write `$ORIGIN <policy name>.` before it, the SOA owner names the policy"))
	}
	// Relative names written before any $ORIGIN belong to the policy
	// zone: read the file again with it as the origin (records outside it
	// are reported by the zones parser as out-of-zone).
	if name != first {
		z, fs = zones.Parse(file, name, data)
		outside(fs, name)
	}
	p := &Policy{Name: name, Zone: z, exact: map[string]*Rule{}, wild: map[string]*Rule{}, ip: map[netip.Prefix]*Rule{}}
	fs = append(fs, p.index(z)...)
	if zones.HasErrors(fs) {
		return nil, fs
	}
	return p, fs
}

// index builds the rules of z, owner by owner in file order.
func (p *Policy) index(z *zones.Zone) []zones.Finding {
	var fs []zones.Finding
	rules := map[string]*Rule{}
	recs, pos := z.Records(), z.Positions()
	for i, rr := range recs {
		h := rr.Header()
		owner := strings.ToLower(h.Name)
		if owner == p.Name {
			switch h.Rrtype {
			case dns.TypeSOA:
				p.soa = rr
			case dns.TypeNS:
			default:
				fs = append(fs, errAt(pos[i], RuleApexData, "%s record at the policy's apex %s: only SOA and NS belong there (a trigger is a name below it)", dns.TypeToString[h.Rrtype], p.Name))
			}
			continue
		}
		trigger := strings.TrimSuffix(owner, "."+p.Name)
		r := rules[owner]
		if r == nil {
			r = &Rule{Trigger: trigger, Pos: pos[i]}
			rules[owner] = r
			if f, ok := p.add(r); !ok {
				fs = append(fs, f)
				continue
			}
		}
		if f, ok := r.addRecord(rr, pos[i]); !ok {
			fs = append(fs, f)
		}
	}
	return fs
}

// add indexes r by its trigger.
func (p *Policy) add(r *Rule) (zones.Finding, bool) {
	labels := dns.SplitDomainName(r.Trigger)
	last := labels[len(labels)-1]
	switch last {
	case "rpz-ip":
		pfx, err := ipTrigger(labels[:len(labels)-1])
		if err != nil {
			return errAt(r.Pos, RuleTrigger, "bad RPZ-IP trigger %s: %v", r.Trigger, err), false
		}
		if _, dup := p.ip[pfx]; dup {
			return errAt(r.Pos, RuleTrigger, "RPZ-IP trigger %s repeats the prefix %s", r.Trigger, pfx), false
		}
		p.ip[pfx] = r
		p.addLen(pfx.Bits())
	case "rpz-client-ip", "rpz-nsdname", "rpz-nsip":
		return errAt(r.Pos, RuleUnsupported, "%s triggers are not implemented here: the rule would never fire (use QNAME or rpz-ip triggers)", last), false
	default:
		for _, l := range labels[1:] {
			if l == "*" {
				return errAt(r.Pos, RuleTrigger, "trigger %s: a wildcard is only allowed as the leftmost label", r.Trigger), false
			}
		}
		if strings.HasPrefix(last, "rpz-") {
			return errAt(r.Pos, RuleUnsupported, "trigger %s ends in %s, which is no RPZ trigger this resolver knows", r.Trigger, last), false
		}
		if labels[0] == "*" {
			p.wild[dns.Fqdn(strings.Join(labels[1:], "."))] = r
		} else {
			p.exact[dns.Fqdn(r.Trigger)] = r
		}
	}
	p.rules++
	return zones.Finding{}, true
}

func (p *Policy) addLen(bits int) {
	for i, b := range p.ipLen {
		if b == bits {
			return
		}
		if b < bits {
			p.ipLen = append(p.ipLen[:i], append([]int{bits}, p.ipLen[i:]...)...)
			return
		}
	}
	p.ipLen = append(p.ipLen, bits)
}

// addRecord adds one record of r's owner: a CNAME naming an action, or
// local data.
func (r *Rule) addRecord(rr dns.RR, pos zones.Position) (zones.Finding, bool) {
	h := rr.Header()
	var act Action
	if c, ok := rr.(*dns.CNAME); ok {
		switch t := strings.ToLower(c.Target); {
		case t == "":
			return errAt(pos, RuleAction, "CNAME without a target under trigger %s", r.Trigger), false
		case t == ".":
			act = NXDOMAIN
		case t == "*.":
			act = NODATA
		case t == "rpz-passthru.":
			act = Passthru
		case t == "rpz-drop.":
			act = Drop
		case strings.HasPrefix(t, "rpz-"):
			return errAt(pos, RuleAction, "unknown action CNAME %s (actions: CNAME . for NXDOMAIN, CNAME *. for NODATA, rpz-passthru., rpz-drop., or local data)", c.Target), false
		case strings.HasPrefix(t, "*."):
			return errAt(pos, RuleUnsupported, "CNAME %s: wildcard local-data targets are not implemented", c.Target), false
		default:
			act = LocalData
		}
	} else {
		switch h.Rrtype {
		case dns.TypeSOA, dns.TypeNS, dns.TypeDNAME:
			return errAt(pos, RuleAction, "%s record under trigger %s: local data may not be %s", dns.TypeToString[h.Rrtype], r.Trigger, dns.TypeToString[h.Rrtype]), false
		}
		act = LocalData
	}
	cname := h.Rrtype == dns.TypeCNAME
	switch {
	case r.Action == 0:
	case r.Action != LocalData || act != LocalData:
		return errAt(pos, RuleMixed, "trigger %s already has the action %s (line %d): one action per trigger", r.Trigger, r.Action, r.Pos.Line), false
	case cname || hasCNAME(r.Data):
		return errAt(pos, RuleMixed, "trigger %s: a local-data CNAME cannot be mixed with other data", r.Trigger), false
	}
	r.Action = act
	if act == LocalData {
		r.Data = append(r.Data, rr)
	}
	return zones.Finding{}, true
}

func hasCNAME(rrs []dns.RR) bool {
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeCNAME {
			return true
		}
	}
	return false
}

// ipTrigger decodes the labels of an RPZ-IP trigger before "rpz-ip":
// prefix length, then the address reversed — four decimal octets for IPv4,
// or up to eight hex groups for IPv6 with "zz" standing for "::" (draft
// section 6.3). IPv4 prefixes are returned as 4in6 (+96 bits) so that one
// map holds both families.
func ipTrigger(labels []string) (netip.Prefix, error) {
	if len(labels) < 2 {
		return netip.Prefix{}, fmt.Errorf("want <prefix length>.<reversed address>")
	}
	bits, err := strconv.Atoi(labels[0])
	if err != nil || bits < 1 {
		return netip.Prefix{}, fmt.Errorf("prefix length %q is not a number from 1", labels[0])
	}
	rev := labels[1:]
	parts := make([]string, len(rev))
	for i, l := range rev {
		parts[len(rev)-1-i] = l
	}
	var addr netip.Addr
	if len(parts) == 4 && !strings.Contains(strings.Join(parts, ""), "zz") {
		a, err := netip.ParseAddr(strings.Join(parts, "."))
		if err != nil || !a.Is4() {
			return netip.Prefix{}, fmt.Errorf("bad IPv4 address %s", strings.Join(parts, "."))
		}
		if bits > 32 {
			return netip.Prefix{}, fmt.Errorf("IPv4 prefix length %d is larger than 32", bits)
		}
		addr, bits = netip.AddrFrom16(a.As16()), bits+96
	} else {
		s := strings.Join(parts, ":")
		if strings.Count(s, "zz") > 1 {
			return netip.Prefix{}, fmt.Errorf("more than one zz in %s", s)
		}
		s = strings.Replace(s, "zz", "", 1)
		if strings.HasPrefix(s, ":") && !strings.HasPrefix(s, "::") {
			s = ":" + s
		}
		if strings.HasSuffix(s, ":") && !strings.HasSuffix(s, "::") {
			s += ":"
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is6() || a.Is4In6() {
			return netip.Prefix{}, fmt.Errorf("bad IPv6 address %s", s)
		}
		if bits > maxPrefix6 {
			return netip.Prefix{}, fmt.Errorf("IPv6 prefix length %d is larger than 128", bits)
		}
		addr = a
	}
	pfx := netip.PrefixFrom(addr, bits)
	if pfx.Masked() != pfx {
		return netip.Prefix{}, fmt.Errorf("%s has bits set beyond its prefix length", pfx)
	}
	return pfx, nil
}

// outside renames the zones parser's out-of-zone findings: in a policy
// file they are triggers outside the policy zone.
func outside(fs []zones.Finding, name string) {
	for i := range fs {
		if fs[i].Rule == zones.RuleOutOfZone {
			fs[i].Rule = RuleOutside
			fs[i].Msg += fmt.Sprintf(": a trigger must be a name below the policy zone %s", name)
		}
	}
}

// leadingOrigin is the $ORIGIN a file sets before its first record, as
// policy files usually do ("." when none): parsed with it as the origin,
// such a file is read once, not twice (a 100k-rule feed takes seconds).
func leadingOrigin(data []byte) string {
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		f := strings.Fields(string(line))
		switch {
		case len(f) == 0 || strings.HasPrefix(f[0], ";"):
			continue
		case strings.EqualFold(f[0], "$TTL"):
			continue
		case strings.EqualFold(f[0], "$ORIGIN") && len(f) >= 2 && dns.IsFqdn(f[1]):
			if _, ok := dns.IsDomainName(f[1]); ok {
				return strings.ToLower(f[1])
			}
		}
		return "."
	}
	return "."
}

func errAt(pos zones.Position, rule, format string, args ...any) zones.Finding {
	return zones.Finding{Pos: pos, Severity: zones.SeverityError, Rule: rule, Msg: fmt.Sprintf(format, args...)}
}
