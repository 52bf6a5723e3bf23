package cluster

import (
	"bytes"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/probe"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// Rule ids reported by Check (see README.md for one line on each).
const (
	RuleForwardCycle       = "forward-cycle"
	RuleForwardPeer        = "forward-peer"
	RuleForwardSelf        = "forward-self"
	RuleForwardUnreachable = "forward-unreachable"
	RuleForwardToStaging   = "forward-to-staging"
	RuleRecursionOpen      = "recursion-open"
	RuleNoStaging          = "no-staging-cluster"
	RuleSerial             = "serial-not-increased"
	RuleMassDelete         = "mass-delete"
	RuleZoneDeleted        = "zone-deleted"
	RuleFallbackDeleted    = "fallback-deleted"
	RuleApexNSDeleted      = "apex-ns-deleted"
	RuleNearEmpty          = "near-empty"
	RuleTrailer            = "mass-delete-trailer"
	RuleFallbackType       = "fallback-type"
	RuleFallbackWildcard   = "fallback-wildcard"
	RuleFallbackCNAME      = "fallback-cname"
	RuleFallbackDuplicate  = "fallback-duplicate"
	RuleFallbackAddress    = "fallback-address"
	RuleFallbackName       = "fallback-name"
	RuleFallbackStale      = "fallback-stale"
	RuleProbeZone          = "probe-contradicts-zone"
	RuleProbeUnreachable   = "probe-unreachable"
)

// MassDeleteTrailer is the commit-message trailer that lets a revision
// delete many records, a whole zone, fallback records or apex NS records:
// `DNS-Allow-Mass-Delete: <reason>` in the last paragraph of the message.
const MassDeleteTrailer = "DNS-Allow-Mass-Delete"

// LiftedByTrailer reports whether a finding of rule is one the
// MassDeleteTrailer of the commit that made the change can allow.
func LiftedByTrailer(rule string) bool {
	switch rule {
	case RuleZoneDeleted, RuleMassDelete, RuleFallbackDeleted, RuleApexNSDeleted:
		return true
	}
	return false
}

// nearEmptyPercent: a revision keeping fewer than this share of its base's
// data records is refused even with the trailer.
const nearEmptyPercent = 10

// Check runs every semantic rule on rev: the forwarder graph, addresses,
// zone lint with the policy's TTL bounds, fallback records and probes, and,
// when base is not nil, the rules against the revision being replaced
// (serials, deletions; the trailer is read from rev.Message). It returns
// every finding, sorted by position. Load's findings are not repeated.
func Check(rev, base *model.Revision) []zones.Finding {
	c := &checker{rev: rev}
	c.forwarders()
	c.clusters()
	c.lintZones()
	c.authority = zones.NewAuthority(rev.Zones...)
	c.fallback()
	c.probes()
	c.nearEmpty(base)
	if base != nil {
		c.againstBase(base)
	}
	SortFindings(c.out)
	return c.out
}

type checker struct {
	rev       *model.Revision
	authority *zones.Authority
	out       []zones.Finding
}

func (c *checker) errorf(pos zones.Position, rule, format string, args ...any) {
	c.out = append(c.out, zones.Finding{Pos: pos, Severity: zones.SeverityError, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) warnf(pos zones.Position, rule, format string, args ...any) {
	c.out = append(c.out, zones.Finding{Pos: pos, Severity: zones.SeverityWarning, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) path(name string) string {
	if c.rev.Dir == "" {
		return name
	}
	return path.Join(c.rev.Dir, name)
}

func (c *checker) forwarders() {
	g := ForwardGraph(c.rev)
	for _, cy := range g.Cycles {
		c.errorf(cy.Hops[0].Rule.Pos, RuleForwardCycle, "forwarder cycle for names at or below %s: %s (rules: %s)", cy.QName, cy.Chain(), cy.Rules())
	}
	// Per rule: peers, self, unreachable targets.
	type ruleKey struct {
		cluster string
		zone    string
	}
	env := map[string]model.Environment{}
	for _, cl := range c.rev.Clusters {
		env[cl.Name] = cl.Environment
	}
	unreachable := map[ruleKey][]Edge{}
	total := map[ruleKey]int{}
	var order []ruleKey
	for _, e := range g.Edges {
		k := ruleKey{e.From, e.Rule.Zone}
		if total[k] == 0 {
			order = append(order, k)
		}
		total[k]++
		pos := e.TargetPos
		if pos.File == "" {
			pos = e.Rule.Pos
		}
		switch {
		case e.Peer && e.Self:
			c.errorf(pos, RuleForwardSelf, "cluster %s forwards %s to %s, its own node %s: the node would forward to itself", e.From, e.Rule.Zone, e.Target, e.ToNode)
		case e.Peer:
			c.errorf(pos, RuleForwardPeer, "cluster %s forwards %s to %s, its own node %s: a rule applies to every node of the cluster, so %s would forward to itself and the others to a peer", e.From, e.Rule.Zone, e.Target, e.ToNode, e.ToNode)
		case e.Self:
			c.errorf(pos, RuleForwardSelf, "cluster %s forwards %s to %s: loopback at the DNS port reaches the node itself", e.From, e.Rule.Zone, e.Target)
		case e.Unreachable != "":
			unreachable[k] = append(unreachable[k], e)
		case e.To != "" && env[e.From] == model.Production && env[e.To] == model.Staging:
			c.warnf(pos, RuleForwardToStaging, "production cluster %s forwards %s to %s, a node of staging cluster %s: production would depend on what staging is testing", e.From, e.Rule.Zone, e.Target, e.To)
		}
	}
	for _, k := range order {
		es := unreachable[k]
		if len(es) == 0 {
			continue
		}
		if len(es) == total[k] {
			for _, e := range es {
				pos := e.TargetPos
				if pos.File == "" {
					pos = e.Rule.Pos
				}
				c.errorf(pos, RuleForwardUnreachable, "cluster %s forwards %s to %s, which is %s; no target of this rule can answer", e.From, e.Rule.Zone, e.Target, e.Unreachable)
			}
			continue
		}
		for _, e := range es {
			c.warnf(e.TargetPos, RuleForwardUnreachable, "cluster %s forwards %s to %s, which is %s", e.From, e.Rule.Zone, e.Target, e.Unreachable)
		}
	}
}

func (c *checker) clusters() {
	prod, staging := false, false
	for _, cl := range c.rev.Clusters {
		switch cl.Environment {
		case model.Production:
			prod = true
		case model.Staging:
			staging = true
		}
		for i, p := range cl.Recursion.Allow {
			if p.Bits() == 0 {
				pos := cl.Pos
				if i < len(cl.Recursion.AllowPos) {
					pos = cl.Recursion.AllowPos[i]
				}
				c.warnf(pos, RuleRecursionOpen, "cluster %s lets every address recurse (%s): an open resolver", cl.Name, p)
			}
		}
	}
	if prod && !staging {
		c.warnf(zones.Position{File: c.path(ClustersDir)}, RuleNoStaging, "production clusters but no staging cluster: revisions cannot be verified before production takes them")
	}
}

// lintZones lints every zone, taking the lint Load already did of its file
// under the same TTL bounds (for a file unchanged since the base revision,
// the base's lint).
func (c *checker) lintZones() {
	p := zones.LintPolicy{MinTTL: c.rev.Policy.MinTTL, MaxTTL: c.rev.Policy.MaxTTL}
	for _, z := range c.rev.Zones {
		if zf := c.rev.ZoneFiles[z.File()]; zf != nil && zf.Zone == z && zf.LintPolicy == p {
			c.out = append(c.out, zf.Lint...)
			continue
		}
		c.out = append(c.out, zones.Lint(z, p)...)
	}
}

// allowedFallbackTypes are the record types a fallback answer may carry.
var allowedFallbackTypes = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypeCNAME: true, dns.TypeMX: true,
	dns.TypeSRV: true, dns.TypeTXT: true, dns.TypePTR: true, dns.TypeCAA: true,
	dns.TypeSVCB: true, dns.TypeHTTPS: true, dns.TypeNAPTR: true,
}

// Special-use names that never resolve (RFC 6761, RFC 6762): a fallback
// for them is a mistake.
var neverResolved = []string{"invalid.", "localhost.", "local."}

func (c *checker) fallback() {
	type ownerInfo struct {
		cname, other int
	}
	owners := map[string]*ownerInfo{}
	seen := map[string]zones.Position{}
	for _, r := range c.rev.Fallback {
		h := r.RR.Header()
		name := strings.ToLower(h.Name)
		tname := dns.TypeToString[h.Rrtype]
		if h.Class != dns.ClassINET {
			c.errorf(r.Pos, RuleFallbackType, "fallback record %s %s has class %s: only IN", name, tname, dns.ClassToString[h.Class])
			continue
		}
		if !allowedFallbackTypes[h.Rrtype] {
			c.errorf(r.Pos, RuleFallbackType, "fallback record %s has type %s: fallback answers are A, AAAA, CNAME, MX, SRV, TXT, PTR, CAA, SVCB, HTTPS or NAPTR", name, tname)
			continue
		}
		if strings.HasPrefix(name, "*.") || strings.Contains(name, ".*.") {
			c.errorf(r.Pos, RuleFallbackWildcard, "fallback owner %s is a wildcard: fallback records name exactly the critical names they answer", name)
			continue
		}
		key := recordKey(r.RR)
		if first, dup := seen[key]; dup {
			c.errorf(r.Pos, RuleFallbackDuplicate, "fallback record %s %s repeats the one at line %d", name, tname, first.Line)
			continue
		}
		seen[key] = r.Pos
		oi := owners[name]
		if oi == nil {
			oi = &ownerInfo{}
			owners[name] = oi
		}
		if h.Rrtype == dns.TypeCNAME {
			oi.cname++
			if oi.cname > 1 {
				c.errorf(r.Pos, RuleFallbackCNAME, "fallback owner %s has more than one CNAME", name)
			} else if oi.other > 0 {
				c.errorf(r.Pos, RuleFallbackCNAME, "fallback owner %s has a CNAME and other records", name)
			}
		} else {
			oi.other++
			if oi.cname > 0 && oi.other == 1 {
				c.errorf(r.Pos, RuleFallbackCNAME, "fallback owner %s has a CNAME and other records", name)
			}
		}
		var a netip.Addr
		switch rr := r.RR.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(rr.AAAA)
		}
		if a.IsValid() {
			why := unusableAddr(a)
			if why == "" && a.IsLoopback() {
				why = "a loopback address"
			}
			if why != "" {
				c.errorf(r.Pos, RuleFallbackAddress, "fallback address %s of %s is %s", a, name, why)
			}
		}
		c.fallbackName(r, name)
	}
}

// fallbackName checks that the product would otherwise resolve the name: a
// name inside one of our zones must exist there (a fallback for a name our
// own zone says does not exist would only hide a mistake), and special-use
// names that never resolve are refused. Names outside our zones are
// external and resolved by recursion or forwarding: allowed.
func (c *checker) fallbackName(r model.Record, name string) {
	for _, n := range neverResolved {
		if dns.IsSubDomain(n, name) {
			c.errorf(r.Pos, RuleFallbackName, "fallback owner %s is under %s, a special-use name that is never resolved", name, n)
			return
		}
	}
	z := c.authority.Match(name)
	if z == nil {
		return
	}
	t := r.RR.Header().Rrtype
	ans := z.Lookup(name, t)
	switch {
	case !ans.Authoritative:
		return // below a delegation: resolved elsewhere
	case ans.Rcode == dns.RcodeNameError:
		c.errorf(r.Pos, RuleFallbackName, "fallback owner %s does not exist in zone %s (%s): the product answers NXDOMAIN for it, a fallback would never be used", name, z.Origin(), z.File())
		return
	case ans.Rcode != dns.RcodeSuccess:
		return
	}
	want := probe.RdataText(r.RR)
	for _, rr := range ans.Answer {
		if rr.Header().Rrtype == t && strings.EqualFold(probe.RdataText(rr), want) {
			return
		}
	}
	c.warnf(r.Pos, RuleFallbackStale, "fallback %s %s %s is not in zone %s (%s), which answers %s", name, dns.TypeToString[t], want, z.Origin(), z.File(), answerText(ans.Answer))
}

func (c *checker) probes() {
	for _, p := range c.rev.Probes {
		if p.Query == "" {
			continue
		}
		z := c.authority.Match(p.Query)
		if z == nil {
			continue
		}
		if p.Gate {
			c.gateReach(p, z.Origin())
		}
		ans := z.Lookup(p.Query, p.Type)
		if !ans.Authoritative {
			continue
		}
		if ans.Rcode != p.Rcode {
			c.errorf(p.Pos, RuleProbeZone, "probe %q expects %s for %s %s but zone %s (%s) answers %s", p.Name, dns.RcodeToString[p.Rcode], p.Query, dns.TypeToString[p.Type], z.Origin(), z.File(), dns.RcodeToString[ans.Rcode])
			continue
		}
		// A chain leaving the zone cannot be judged here: the rest is
		// resolved elsewhere.
		if n := len(ans.Answer); n > 0 {
			if _, ok := ans.Answer[n-1].(*dns.CNAME); ok && p.Type != dns.TypeCNAME {
				continue
			}
		}
		for _, i := range probe.Missing(p.Expect, ans.Answer) {
			c.errorf(p.ExpectPos[i], RuleProbeZone, "probe %q expects %q for %s %s but zone %s (%s) answers %s", p.Name, p.Expect[i], p.Query, dns.TypeToString[p.Type], z.Origin(), z.File(), answerText(ans.Answer))
		}
	}
}

// gateReach reports the clusters whose nodes could never answer a gate
// probe of an internal name: they neither serve its zone nor forward it, so
// after every revision their self-probe would fail and return them to their
// last good revision.
func (c *checker) gateReach(p model.Probe, origin string) {
	for _, cl := range c.rev.Clusters {
		// Whether some rule forwards the name does not depend on the
		// rules' order: no need to sort them for MatchForward.
		if cl.Zones == nil || servesName(cl.Zones, p.Query) || model.MatchForward(cl.Forward, p.Query) != nil {
			continue
		}
		c.errorf(p.Pos, RuleProbeUnreachable, "gate probe %q asks %s in internal zone %s, which cluster %s neither serves nor forwards: its nodes would fail the probe and return to their last good revision after every change (serve or forward the zone in %s, or make the probe not a gate)",
			p.Name, p.Query, origin, cl.Name, cl.Pos.File)
	}
}

// dataRecords counts the records of zs that are not the SOA or NS of a
// zone apex, leaving out the zones in skip.
func dataRecords(zs []*zones.Zone, skip map[*zones.Zone]bool) int {
	n := 0
	for _, z := range zs {
		if skip[z] {
			continue
		}
		for _, rr := range z.Records() {
			h := rr.Header()
			if (h.Rrtype == dns.TypeSOA || h.Rrtype == dns.TypeNS) && strings.EqualFold(h.Name, z.Origin()) {
				continue
			}
			n++
		}
	}
	return n
}

// nearEmpty refuses, whatever the commit message says, a revision whose
// zones hold nothing but their SOA and NS records, or that keeps fewer than
// nearEmptyPercent of its base's data records.
//
// A zone the revision shares with its base (the same parsed zone: its file
// did not change) holds as many records in both, so the others are counted
// first (a one-record change in a 1M-record repo walked 2M records here,
// issue 21), and the shared ones only when the decision depends on them:
// with n = shared + own and b = shared + baseOwn, n*100 < b*p holds for no
// shared count when own*100 >= baseOwn*p (p < 100), and n is 0 only if own is.
func (c *checker) nearEmpty(base *model.Revision) {
	if len(c.rev.Zones) == 0 {
		return // Load already reported it
	}
	pos := zones.Position{File: c.path(ZonesDir)}
	var shared map[*zones.Zone]bool
	var baseZones, sharedZones []*zones.Zone
	if base != nil {
		baseZones = base.Zones
		inBase := make(map[*zones.Zone]bool, len(base.Zones))
		for _, z := range base.Zones {
			inBase[z] = true
		}
		shared = map[*zones.Zone]bool{}
		for _, z := range c.rev.Zones {
			if inBase[z] {
				shared[z] = true
				sharedZones = append(sharedZones, z)
			}
		}
	}
	own, baseOwn := dataRecords(c.rev.Zones, shared), dataRecords(baseZones, shared)
	sharedCount := -1 // not counted yet
	sharedRecords := func() int {
		if sharedCount < 0 {
			sharedCount = dataRecords(sharedZones, nil)
		}
		return sharedCount
	}
	if own == 0 && sharedRecords() == 0 {
		c.errorf(pos, RuleNearEmpty, "the revision's zones hold no record besides SOA and NS: refusing an empty desired state")
		return
	}
	if base == nil || own*100 >= baseOwn*nearEmptyPercent {
		return
	}
	n, b := sharedRecords()+own, sharedRecords()+baseOwn
	if b >= 10 && n*100 < b*nearEmptyPercent {
		c.errorf(pos, RuleNearEmpty, "the revision keeps %d of the %d data records of its base (less than %d%%): refusing a near-empty desired state, whatever the commit message says", n, b, nearEmptyPercent)
	}
}

// Trailer returns the value of the named trailer in the last paragraph of
// a commit message ("" when absent) and whether it is present.
func Trailer(message, name string) (string, bool) {
	msg := strings.TrimRight(strings.ReplaceAll(message, "\r\n", "\n"), "\n ")
	paras := strings.Split(msg, "\n\n")
	last := paras[len(paras)-1]
	for _, line := range strings.Split(last, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// recordKey identifies a record by owner, class, type and rdata (not TTL).
func recordKey(rr dns.RR) string {
	h := rr.Header()
	return strings.ToLower(h.Name) + " " + dns.ClassToString[h.Class] + " " + dns.TypeToString[h.Rrtype] + " " + probe.RdataText(rr)
}

func answerText(rrs []dns.RR) string {
	if len(rrs) == 0 {
		return "no record"
	}
	parts := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		parts = append(parts, dns.TypeToString[rr.Header().Rrtype]+" "+probe.RdataText(rr))
	}
	return strings.Join(parts, ", ")
}

// againstBase applies the rules that compare rev with the revision it
// replaces.
func (c *checker) againstBase(base *model.Revision) {
	reason, hasTrailer := Trailer(c.rev.Message, MassDeleteTrailer)
	if hasTrailer && reason == "" {
		c.errorf(zones.Position{File: c.path(ZonesDir)}, RuleTrailer, "the %s trailer needs a reason: `%s: <why>`", MassDeleteTrailer, MassDeleteTrailer)
		hasTrailer = false
	}
	// refuse reports a rule the trailer can lift.
	refuse := func(pos zones.Position, rule, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if hasTrailer {
			c.warnf(pos, rule, "%s (allowed by %s: %s)", msg, MassDeleteTrailer, reason)
			return
		}
		c.errorf(pos, rule, "%s; add the commit trailer `%s: <reason>` if this is intended", msg, MassDeleteTrailer)
	}

	head := map[string]*zones.Zone{}
	for _, z := range c.rev.Zones {
		head[z.Origin()] = z
	}
	baseTotal, deleted := 0, 0
	for _, bz := range base.Zones {
		baseTotal += bz.Len()
		hz := head[bz.Origin()]
		if hz == nil {
			deleted += bz.Len()
			refuse(zones.Position{File: bz.File()}, RuleZoneDeleted, "zone %s is deleted (%d records)", bz.Origin(), bz.Len())
			continue
		}
		if bz == hz || sameRecords(bz, hz) {
			continue // bz == hz: the file's blob did not change (LoadAgainst)
		}
		d := c.zoneChanged(bz, hz, refuse)
		deleted += d
	}
	pt, pd := c.rpzDeleted(base, refuse)
	baseTotal, deleted = baseTotal+pt, deleted+pd
	limit := base.Policy.MaxDeletePercent
	if baseTotal > 0 && deleted*100 > baseTotal*limit {
		refuse(zones.Position{File: c.path(ZonesDir)}, RuleMassDelete, "the revision deletes %d of %d records (%.1f%%), more than the %d%% of limits.max_delete_percent", deleted, baseTotal, float64(deleted)*100/float64(baseTotal), limit)
	}
	// fallback records
	headFB := map[string]bool{}
	for _, r := range c.rev.Fallback {
		headFB[recordKey(r.RR)] = true
	}
	for _, r := range base.Fallback {
		if !headFB[recordKey(r.RR)] {
			refuse(zones.Position{File: c.path(FallbackFile)}, RuleFallbackDeleted, "fallback record %s %s %s is deleted", strings.ToLower(r.RR.Header().Name), dns.TypeToString[r.RR.Header().Rrtype], probe.RdataText(r.RR))
		}
	}
}

// sameRecords reports whether two zones hold the same records in the same
// order with the same TTLs (the common case of an untouched file).
func sameRecords(a, b *zones.Zone) bool {
	ra, rb := a.Records(), b.Records()
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if ra[i].Header().Ttl != rb[i].Header().Ttl || !dns.IsDuplicate(ra[i], rb[i]) {
			return false
		}
	}
	return true
}

// zoneChanged applies the per-zone base rules to a zone whose records
// changed and returns how many records of the base zone are gone.
func (c *checker) zoneChanged(bz, hz *zones.Zone, refuse func(zones.Position, string, string, ...any)) int {
	// Compare as multisets: the same records in another order, or with the
	// same TTLs, are not a change. Keys are wire forms (fast on millions
	// of records): without the TTL for deletions, with it for changes.
	wp := newWirePacker()
	// A change is mostly a few lines of a large file: the other records
	// are the same, in the same order, in both zones. A pair of equal
	// records (same key with the TTL) taken out of both sides changes no
	// count below (each is a multiset difference per key; an owner is
	// counted by its key's form, ownerKey), so only what trimSame leaves
	// is compared as multisets. The lost apex NS are named in the order of
	// the base zone, from the whole zones.
	br, hr := trimSame(bz.Records(), hz.Records())
	return c.compareRecords(wp, bz, hz, br, hr, refuse)
}

// compareRecords is zoneChanged on br and hr, the records of bz and hz
// that may differ (all of them, or what trimSame left).
func (c *checker) compareRecords(wp *wirePacker, bz, hz *zones.Zone, br, hr []dns.RR, refuse func(zones.Position, string, string, ...any)) int {
	headKeys := make(map[string]int, len(hr))
	headTTL := make(map[string]int, len(hr))
	for _, rr := range hr {
		k, kt := wp.wireKeys(rr)
		headKeys[k]++
		headTTL[kt]++
	}
	changed := false
	// A record is deleted when its RRset shrinks: a changed address (one A
	// replaced by another) is a change, not a deletion, so the mass-delete
	// share counts per owner and type the records removed beyond those added.
	type ownerType struct {
		name  string
		rtype uint16
	}
	removed := map[ownerType]int{}
	for _, rr := range br {
		k, kt := wp.wireKeys(rr)
		if headTTL[kt] > 0 {
			headTTL[kt]--
		} else {
			changed = true
		}
		if headKeys[k] > 0 {
			headKeys[k]--
			continue
		}
		h := rr.Header()
		if h.Rrtype == dns.TypeSOA && strings.EqualFold(h.Name, bz.Origin()) {
			continue // a new serial is a change, not a deletion
		}
		removed[ownerType{ownerKey(h.Name), h.Rrtype}]++
	}
	deleted := 0
	if len(removed) > 0 {
		// What is left in headKeys was added by this revision.
		added := map[ownerType]int{}
		for _, rr := range hr {
			k, _ := wp.wireKeys(rr)
			if headKeys[k] > 0 {
				headKeys[k]--
				h := rr.Header()
				added[ownerType{ownerKey(h.Name), h.Rrtype}]++
			}
		}
		for ot, n := range removed {
			deleted += max(0, n-added[ot])
		}
	}
	for _, n := range headTTL {
		if changed || n > 0 {
			changed = true
			break
		}
	}
	if bs, hs := bz.SOA(), hz.SOA(); changed && bs != nil && hs != nil && !serialIncreased(bs.Serial, hs.Serial) {
		c.errorf(zonePos(hz, dns.TypeSOA), RuleSerial, "zone %s changed but its SOA serial did not increase (%d in the base revision, %d now)", hz.Origin(), bs.Serial, hs.Serial)
	}
	if apexNS := lostApexNS(wp, bz, hz); len(apexNS) > 0 {
		refuse(zonePos(hz, dns.TypeNS), RuleApexNSDeleted, "zone %s loses apex NS %s", hz.Origin(), strings.Join(apexNS, ", "))
	}
	return deleted
}

// ownerKey is an owner name as the keys hold it: its wire form in lower
// case (names written differently, escapes or case, are one owner).
func ownerKey(name string) string {
	var buf [256]byte
	n, err := dns.PackDomainName(name, buf[:], 0, nil, false)
	if err != nil {
		return strings.ToLower(name)
	}
	for i := range n {
		if c := buf[i]; c >= 'A' && c <= 'Z' {
			buf[i] = c + 'a' - 'A'
		}
	}
	return string(buf[:n])
}

// trimSame returns what is left of base and head once pairs of equal
// records (wirePacker.same) are taken out of both (zones.PairRecords: in
// file order, a few records of look-ahead after a difference; a zone
// rewritten throughout is left mostly whole). Which pairs it finds changes
// no result of compareRecords, only how many records remain to compare.
func trimSame(base, head []dns.RR) ([]dns.RR, []dns.RR) {
	p, q := newWirePacker(), newWirePacker()
	b, h, _ := zones.PairRecords(base, head, func(x, y dns.RR) bool { return p.same(q, x, y) })
	return b, h
}

// lostApexNS names the apex NS records of bz that hz does not have, in the
// order of bz (a record bz holds n times and hz m times is lost n-m times,
// its last occurrences).
func lostApexNS(wp *wirePacker, bz, hz *zones.Zone) []string {
	apex := func(rr dns.RR, origin string) bool {
		h := rr.Header()
		return h.Rrtype == dns.TypeNS && strings.EqualFold(h.Name, origin)
	}
	have := map[string]int{}
	for _, rr := range hz.Records() {
		if apex(rr, hz.Origin()) {
			k, _ := wp.wireKeys(rr)
			have[k]++
		}
	}
	var lost []string
	for _, rr := range bz.Records() {
		if !apex(rr, bz.Origin()) {
			continue
		}
		if k, _ := wp.wireKeys(rr); have[k] > 0 {
			have[k]--
			continue
		}
		lost = append(lost, rr.(*dns.NS).Ns)
	}
	return lost
}

// wirePacker packs one record at a time into scratch space, through
// dns.Msg: dns.PackRR would write the record's Rdlength, and a zone's
// records are shared with the revision being served (and, through
// LoadAgainst, with the next one): nothing may write them.
type wirePacker struct {
	msg dns.Msg
	buf []byte
}

func newWirePacker() *wirePacker { return &wirePacker{buf: make([]byte, 0, 1<<16+512)} }

// wireKeys identifies a record by its uncompressed wire form with the owner
// name in lower case: key without the TTL, keyTTL with it.
func (p *wirePacker) wireKeys(rr dns.RR) (key, keyTTL string) {
	w, ttlAt, ok := p.wire(rr)
	if !ok {
		k := recordKey(rr)
		return k, fmt.Sprintf("%s %d", k, rr.Header().Ttl)
	}
	keyTTL = string(w)
	w[ttlAt], w[ttlAt+1], w[ttlAt+2], w[ttlAt+3] = 0, 0, 0, 0
	return string(w), keyTTL
}

// same reports whether x and y have the same keyTTL (wireKeys); q is a
// second packer for y. It errs towards false: records that do not pack
// are never the same.
func (p *wirePacker) same(q *wirePacker, x, y dns.RR) bool {
	if x == y {
		return true
	}
	// The common case without packing: two A records written alike.
	if a, ok := x.(*dns.A); ok {
		b, ok := y.(*dns.A)
		if !ok || a.Hdr.Name != b.Hdr.Name || a.Hdr.Rrtype != b.Hdr.Rrtype || a.Hdr.Class != b.Hdr.Class || a.Hdr.Ttl != b.Hdr.Ttl {
			return false
		}
		// An A record's wire rdata is its address's 4-byte form.
		a4, b4 := a.A.To4(), b.A.To4()
		return a4 != nil && b4 != nil && a4.Equal(b4)
	}
	wx, _, okx := p.wire(x)
	wy, _, oky := q.wire(y)
	return okx && oky && bytes.Equal(wx, wy)
}

// wire packs rr: its uncompressed wire form with the owner name in lower
// case, and where its TTL is in it; ok is false when it does not pack.
// The bytes are p's scratch space, valid until the next call.
func (p *wirePacker) wire(rr dns.RR) (w []byte, ttlAt int, ok bool) {
	p.msg.Answer = append(p.msg.Answer[:0], rr)
	out, err := p.msg.PackBuffer(p.buf[:cap(p.buf)])
	p.msg.Answer[0] = nil
	if err != nil || len(out) < 12 {
		return nil, 0, false
	}
	if cap(out) > cap(p.buf) {
		p.buf = out[:0]
	}
	w = out[12:] // after the message header
	// lower-case the owner name: labels up to the root label
	i := 0
	for i < len(w) && w[i] != 0 {
		l := int(w[i])
		for j := i + 1; j <= i+l && j < len(w); j++ {
			if c := w[j]; c >= 'A' && c <= 'Z' {
				w[j] = c + 'a' - 'A'
			}
		}
		i += l + 1
	}
	// owner, 0, type(2) class(2) ttl(4) rdlength(2) rdata
	ttlAt = i + 1 + 4
	if ttlAt+4 > len(w) {
		return nil, 0, false
	}
	return w, ttlAt, true
}

// zonePos is the position of the first apex record of type t, or the file.
func zonePos(z *zones.Zone, t uint16) zones.Position {
	pos := z.Positions()
	for i, rr := range z.Records() {
		if rr.Header().Rrtype == t && strings.EqualFold(rr.Header().Name, z.Origin()) && i < len(pos) {
			return pos[i]
		}
	}
	return zones.Position{File: z.File()}
}

// serialIncreased compares SOA serials with RFC 1982 serial arithmetic.
func serialIncreased(old, cur uint32) bool {
	d := cur - old
	return d != 0 && d < 1<<31
}
