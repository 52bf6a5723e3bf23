package zones

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// LintPolicy carries the repo-wide bounds lint checks against.
// A zero MaxTTL means no upper bound.
type LintPolicy struct {
	MinTTL, MaxTTL uint32
}

// Lint rule ids. zones/README.md describes each one.
const (
	RuleSOAMissing          = "soa-missing"
	RuleSOAMultiple         = "soa-multiple"
	RuleSOANotAtApex        = "soa-not-at-apex"
	RuleSOATimers           = "soa-timers"
	RuleApexNSCount         = "apex-ns-count"
	RuleCNAMEAndOtherData   = "cname-and-other-data"
	RuleCNAMEMultiple       = "cname-multiple"
	RuleCNAMEAtApex         = "cname-at-apex"
	RuleCNAMEChain          = "cname-chain"
	RuleCNAMELoop           = "cname-loop"
	RuleTargetIsCNAME       = "target-is-cname"
	RuleTargetIsAddress     = "target-is-address"
	RuleGlueMissing         = "glue-missing"
	RuleGlueConflict        = "glue-conflict"
	RuleOccludedData        = "occluded-data"
	RuleDuplicateRecord     = "duplicate-record"
	RuleTTLMismatch         = "ttl-mismatch"
	RuleWildcardNonTerminal = "wildcard-non-terminal"
	RuleTTLBounds           = "ttl-bounds"
)

// Sane SOA timer ranges, in seconds (RFC 1912 section 2.2, RFC 2308
// section 5 for MINIMUM, the negative-caching TTL).
const (
	minRefresh, maxRefresh = 300, 86400
	minRetry               = 60
	minExpire, maxExpire   = 604800, 2419200 // one to four weeks
	maxMinimum             = 86400
)

// maxChainReport bounds the names printed for one CNAME chain or loop.
const maxChainReport = 8

// Lint checks a zone and returns every finding, sorted by position. It
// never performs a DNS lookup: only the zone's own data is consulted.
// Out-of-zone records are reported by Parse (they never enter a Zone).
func Lint(z *Zone, p LintPolicy) []Finding {
	l := &linter{z: z, ix: recordIndex{z: z}}
	l.soa()
	l.apexNS()
	for _, n := range z.nodes {
		l.node(n)
	}
	l.cnameGraph()
	for i, rr := range z.records {
		l.record(i, rr, p)
	}
	sort.SliceStable(l.fs, func(i, j int) bool {
		a, b := l.fs[i], l.fs[j]
		if a.Pos.File != b.Pos.File {
			return a.Pos.File < b.Pos.File
		}
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line < b.Pos.Line
		}
		if a.Pos.Col != b.Pos.Col {
			return a.Pos.Col < b.Pos.Col
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Msg < b.Msg
	})
	return l.fs
}

type linter struct {
	z      *Zone
	ix     recordIndex
	fs     []Finding
	cnames []*node // the names holding a CNAME, found by node
}

// at is the index of record rr in the zone's records (for its position).
func (l *linter) at(rr dns.RR) int { return l.ix.of(rr) }

func (l *linter) add(i int, sev Severity, rule, format string, args ...any) {
	l.fs = append(l.fs, Finding{Pos: l.pos(i), Severity: sev, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

// pos is the position of record i, or the start of the file for i < 0.
func (l *linter) pos(i int) Position {
	if i >= 0 && i < len(l.z.pos) {
		return l.z.pos[i]
	}
	return Position{File: l.z.file, Line: 1, Col: 1}
}

func (l *linter) line(i int) int { return l.pos(i).Line }

func (l *linter) soa() {
	z := l.z
	s := z.apex.get(dns.TypeSOA)
	if s == nil {
		l.add(-1, SeverityError, RuleSOAMissing, "zone %s has no SOA record at its apex", z.origin)
		return
	}
	for k := 1; k < len(s.rrs); k++ {
		l.add(l.at(s.rrs[k]), SeverityError, RuleSOAMultiple, "second SOA record at the apex (the first is at line %d)", l.line(l.at(s.rrs[0])))
	}
	soa := s.rrs[0].(*dns.SOA)
	var bad []string
	if soa.Refresh < minRefresh || soa.Refresh > maxRefresh {
		bad = append(bad, fmt.Sprintf("refresh %d not in %d..%d", soa.Refresh, minRefresh, maxRefresh))
	}
	if soa.Retry < minRetry || soa.Retry >= soa.Refresh {
		bad = append(bad, fmt.Sprintf("retry %d not in %d..refresh-1", soa.Retry, minRetry))
	}
	if soa.Expire < minExpire || soa.Expire > maxExpire {
		bad = append(bad, fmt.Sprintf("expire %d not in %d..%d", soa.Expire, minExpire, maxExpire))
	} else if uint64(soa.Expire) <= uint64(soa.Refresh)+uint64(soa.Retry) {
		bad = append(bad, fmt.Sprintf("expire %d not above refresh+retry", soa.Expire))
	}
	if soa.Minttl > maxMinimum {
		bad = append(bad, fmt.Sprintf("minimum %d above %d", soa.Minttl, maxMinimum))
	}
	if len(bad) > 0 {
		l.add(l.at(s.rrs[0]), SeverityError, RuleSOATimers, "SOA timers out of range: %s", strings.Join(bad, "; "))
	}
}

func (l *linter) apexNS() {
	z := l.z
	s := z.apex.get(dns.TypeNS)
	n := 0
	if s != nil {
		n = len(s.rrs)
	}
	if n < 2 {
		at := -1
		if s != nil {
			at = l.at(s.rrs[0])
		} else if soa := z.apex.get(dns.TypeSOA); soa != nil {
			at = l.at(soa.rrs[0])
		}
		l.add(at, SeverityError, RuleApexNSCount, "zone %s has %d NS record(s) at its apex, at least 2 are required", z.origin, n)
	}
}

// node checks the rules about one owner name as a whole.
func (l *linter) node(n *node) {
	z := l.z
	// Most names hold one A or AAAA record: no rule below applies to
	// them (see lintFlags), and their RRsets are not read.
	if n.lint&(lintSOA|lintCNAME|lintMulti|lintStar) == 0 && (n.cut == nil || n.cut == n || n.lint&lintNonAddr == 0) {
		return
	}
	if n != z.apex && n.get(dns.TypeSOA) != nil {
		s := n.get(dns.TypeSOA)
		l.add(l.at(s.rrs[0]), SeverityError, RuleSOANotAtApex, "SOA record at %s, which is not the apex %s", n.name, z.origin)
	}
	if c := n.get(dns.TypeCNAME); c != nil {
		l.cnames = append(l.cnames, n)
		if n == z.apex {
			l.add(l.at(c.rrs[0]), SeverityError, RuleCNAMEAtApex, "CNAME at the zone apex %s", n.name)
		}
		for k := 1; k < len(c.rrs); k++ {
			l.add(l.at(c.rrs[k]), SeverityError, RuleCNAMEMultiple, "second CNAME for %s (the first is at line %d)", n.name, l.line(l.at(c.rrs[0])))
		}
		var other []string
		for _, s := range n.sets {
			switch s.typ {
			case dns.TypeCNAME, dns.TypeRRSIG, dns.TypeNSEC, dns.TypeNSEC3:
				continue
			}
			other = append(other, dns.TypeToString[s.typ])
		}
		if len(other) > 0 {
			sort.Strings(other)
			l.add(l.at(c.rrs[0]), SeverityError, RuleCNAMEAndOtherData, "%s has a CNAME and other data (%s)", n.name, strings.Join(other, ", "))
		}
	}
	// Wildcards must be leaves: a name below "*.x" makes the wildcard a
	// non-terminal (and its '*' a literal label, RFC 4592 2.2.1). (Only a
	// name with records and "*." in it, lintStar, is walked.)
	for p := n.name; n.lint&lintStar != 0; {
		if p = parentName(p, z.origin); p == "" {
			break
		}
		if strings.HasPrefix(p, "*.") {
			if at := l.firstRecord(n); at >= 0 {
				l.add(at, SeverityError, RuleWildcardNonTerminal, "%s is below the wildcard %s: a wildcard must be a leaf", n.name, p)
			}
			break
		}
	}
	// Data below a zone cut that is not glue is never served.
	if n.cut != nil && n.cut != n {
		for _, s := range n.sets {
			if s.typ == dns.TypeA || s.typ == dns.TypeAAAA {
				continue
			}
			l.add(l.at(s.rrs[0]), SeverityWarning, RuleOccludedData, "%s %s is below the delegation %s and is never served", n.name, dns.TypeToString[s.typ], n.cut.name)
		}
	}
	// Duplicates and TTL mismatches, per RRset.
	for i := range n.sets {
		l.rrset(&n.sets[i])
	}
}

// firstRecord is the index of the first record at n, or -1 (empty
// non-terminal).
func (l *linter) firstRecord(n *node) int {
	first := -1
	for _, s := range n.sets {
		if first < 0 || l.at(s.rrs[0]) < first {
			first = l.at(s.rrs[0])
		}
	}
	return first
}

func (l *linter) rrset(s *rrset) {
	if len(s.rrs) < 2 {
		return
	}
	ttl0 := s.rrs[0].Header().Ttl
	for k := 1; k < len(s.rrs); k++ {
		if t := s.rrs[k].Header().Ttl; t != ttl0 {
			l.add(l.at(s.rrs[k]), SeverityError, RuleTTLMismatch, "TTL %d differs from TTL %d of the same RRset at line %d (RFC 2181 5.2)", t, ttl0, l.line(l.at(s.rrs[0])))
		}
	}
	if len(s.rrs) <= 16 {
		for k := 1; k < len(s.rrs); k++ {
			for j := 0; j < k; j++ {
				if dns.IsDuplicate(s.rrs[j], s.rrs[k]) {
					l.add(l.at(s.rrs[k]), SeverityError, RuleDuplicateRecord, "duplicate of the record at line %d", l.line(l.at(s.rrs[j])))
					break
				}
			}
		}
		return
	}
	seen := make(map[string]int, len(s.rrs))
	for k, rr := range s.rrs {
		key := rdataText(rr)
		if j, ok := seen[key]; ok {
			l.add(l.at(s.rrs[k]), SeverityError, RuleDuplicateRecord, "duplicate of the record at line %d", l.line(l.at(s.rrs[j])))
			continue
		}
		seen[key] = k
	}
}

// cnameGraph finds CNAME chains (warning) and loops (error) inside the zone.
// Every CNAME name has one successor (its first CNAME), so each walk is
// linear and each name is visited once.
func (l *linter) cnameGraph() {
	z := l.z
	const (
		unvisited = iota
		onPath
		done
	)
	state := make(map[*node]uint8)
	next := func(n *node) *node {
		c := n.get(dns.TypeCNAME)
		if c == nil {
			return nil
		}
		t := z.nodes[dnsname.Lower(c.rrs[0].(*dns.CNAME).Target)]
		if t == nil || t.get(dns.TypeCNAME) == nil {
			return nil
		}
		return t
	}
	inLoop := make(map[*node]bool)
	for _, rr := range z.records {
		if rr.Header().Rrtype != dns.TypeCNAME {
			continue
		}
		start := z.nodes[dnsname.Lower(rr.Header().Name)]
		if state[start] != unvisited {
			continue
		}
		var path []*node
		n := start
		for n != nil && state[n] == unvisited {
			state[n] = onPath
			path = append(path, n)
			n = next(n)
		}
		if n != nil && state[n] == onPath {
			// A new loop: the path from n on.
			k := 0
			for path[k] != n {
				k++
			}
			loop := path[k:]
			first := -1
			names := make([]string, 0, len(loop)+1)
			for _, m := range loop {
				inLoop[m] = true
				if at := l.at(m.get(dns.TypeCNAME).rrs[0]); first < 0 || at < first {
					first = at
				}
				if len(names) < maxChainReport {
					names = append(names, m.name)
				}
			}
			if len(loop) > maxChainReport {
				names = append(names, "...")
			}
			names = append(names, loop[0].name)
			l.add(first, SeverityError, RuleCNAMELoop, "CNAME loop of %d name(s): %s", len(loop), strings.Join(names, " -> "))
		}
		for _, m := range path {
			state[m] = done
		}
	}
	// Chains: a CNAME (outside a loop) whose target is itself a CNAME.
	for _, n := range l.cnames {
		c := n.get(dns.TypeCNAME)
		if inLoop[n] {
			continue
		}
		t := next(n)
		if t == nil {
			continue
		}
		names := []string{n.name}
		for m := t; m != nil && len(names) <= maxChainReport; m = next(m) {
			names = append(names, m.name)
			if inLoop[m] {
				names = append(names, "(loop)")
				break
			}
		}
		if last := names[len(names)-1]; last != "(loop)" {
			if tgt := z.nodes[last].get(dns.TypeCNAME); tgt != nil && len(names) <= maxChainReport {
				names = append(names, tgt.rrs[0].(*dns.CNAME).Target)
			}
		}
		l.add(l.at(c.rrs[0]), SeverityWarning, RuleCNAMEChain, "CNAME chain: %s", strings.Join(names, " -> "))
	}
}

// record checks the rules about one record on its own.
func (l *linter) record(i int, rr dns.RR, p LintPolicy) {
	z := l.z
	h := rr.Header()
	if h.Ttl < p.MinTTL || (p.MaxTTL > 0 && h.Ttl > p.MaxTTL) {
		max := "none"
		if p.MaxTTL > 0 {
			max = fmt.Sprint(p.MaxTTL)
		}
		l.add(i, SeverityError, RuleTTLBounds, "TTL %d of %s %s outside the policy bounds (min %d, max %s)",
			h.Ttl, h.Name, dns.TypeToString[h.Rrtype], p.MinTTL, max)
	}
	target := targetOf(rr)
	if target == "" || target == "." {
		return
	}
	tname := dns.TypeToString[h.Rrtype]
	if addr, ok := addressLiteral(target, z.origin); ok {
		l.add(i, SeverityError, RuleTargetIsAddress, "%s target %s is an IP address; it must be a host name with A/AAAA records", tname, addr)
		return
	}
	lt := dnsname.Lower(target)
	if !inZone(lt, z.origin) {
		return // out of zone: nothing to check without a lookup
	}
	t := z.nodes[lt]
	if t != nil && t.get(dns.TypeCNAME) != nil {
		l.add(i, SeverityError, RuleTargetIsCNAME, "%s target %s is a CNAME (RFC 2181 10.3)", tname, target)
		return
	}
	if h.Rrtype == dns.TypeNS && (t == nil || (t.get(dns.TypeA) == nil && t.get(dns.TypeAAAA) == nil)) {
		l.add(i, SeverityError, RuleGlueMissing, "NS target %s is inside zone %s but has no A or AAAA record", target, z.origin)
	}
}

// addressLiteral reports whether a target name is an IP literal, written
// absolute ("192.0.2.1.") or relative (parsed as "192.0.2.1.<origin>").
func addressLiteral(target, origin string) (string, bool) {
	t := dnsname.Lower(target)
	cands := []string{strings.TrimSuffix(t, ".")}
	if origin != "." && strings.HasSuffix(t, "."+origin) {
		cands = append(cands, strings.TrimSuffix(t, "."+origin))
	}
	for _, c := range cands {
		if a, err := netip.ParseAddr(c); err == nil {
			return a.String(), true
		}
	}
	return "", false
}

// LintDelegation compares a parent zone's delegation of child.Origin() with
// the child zone itself, when both are in the repository: the parent's glue
// for name servers inside the child must match the child's own addresses
// (glue-conflict), and the parent's NS set must match the child's apex NS
// set. Findings point into the parent.
func LintDelegation(parent, child *Zone) []Finding {
	var fs []Finding
	cut := parent.nodes[child.origin]
	if cut == nil || cut == parent.apex {
		return nil
	}
	ns := cut.get(dns.TypeNS)
	if ns == nil {
		return nil
	}
	ix := recordIndex{z: parent}
	add := func(rr dns.RR, format string, args ...any) {
		fs = append(fs, Finding{Pos: parent.pos[ix.of(rr)], Severity: SeverityError, Rule: RuleGlueConflict, Msg: fmt.Sprintf(format, args...)})
	}
	for _, rr := range ns.rrs {
		target := dnsname.Lower(rr.(*dns.NS).Ns)
		if !inZone(target, child.origin) {
			continue
		}
		g := parent.nodes[target]
		c := child.nodes[target]
		for _, typ := range [2]uint16{dns.TypeA, dns.TypeAAAA} {
			var gs, cs *rrset
			if g != nil {
				gs = g.get(typ)
			}
			if c != nil {
				cs = c.get(typ)
			}
			if gs == nil {
				continue // missing glue is glue-missing's business
			}
			if got, want := rdataSet(gs), rdataSet(cs); got != want {
				add(gs.rrs[0], "glue %s %s %s differs from the child zone %s (%s)", target, dns.TypeToString[typ], got, child.origin, orNone(want))
			}
		}
	}
	childNS := child.apex.get(dns.TypeNS)
	if got, want := rdataSet(ns), rdataSet(childNS); childNS != nil && got != want {
		add(ns.rrs[0], "delegation NS set %s differs from the apex NS set of the child zone %s (%s)", got, child.origin, want)
	}
	sortFindings(fs)
	return fs
}

// rdataSet renders an RRset's data, lower case and sorted, for comparison.
func rdataSet(s *rrset) string {
	if s == nil {
		return ""
	}
	vals := make([]string, 0, len(s.rrs))
	for _, rr := range s.rrs {
		vals = append(vals, dnsname.Lower(rdataText(rr)))
	}
	sort.Strings(vals)
	return "[" + strings.Join(vals, " ") + "]"
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
