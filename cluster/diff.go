package cluster

import (
	"fmt"
	"sort"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
)

// Plan is the record-level difference between two revisions: what applying
// Head in place of Base changes, per zone and per cluster. dnsctl diff
// prints it for a pull request.
type Plan struct {
	Base     string        `json:"base"`
	Head     string        `json:"head"`
	Zones    []ZoneDiff    `json:"zones"`
	Clusters []ClusterDiff `json:"clusters"`
	Fallback RecordDiff    `json:"fallback"`
	Probes   []Change      `json:"probes"`
	Policy   []Change      `json:"policy"`
	RPZ      []ZoneDiff    `json:"rpz,omitempty"` // policy files by policy name (Origin)
	Summary  Summary       `json:"summary"`
}

// Status of a zone or cluster in a plan.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// ZoneDiff is the change of one zone.
type ZoneDiff struct {
	Origin    string `json:"origin"`
	Status    string `json:"status"`
	OldSerial uint32 `json:"old_serial,omitempty"`
	NewSerial uint32 `json:"new_serial,omitempty"`
	RecordDiff
}

// RecordDiff lists records added and removed, and records changed: one old
// record replaced by one new one at the same owner and type (rdata or TTL).
// Records are in presentation format.
type RecordDiff struct {
	Added   []string       `json:"added,omitempty"`
	Removed []string       `json:"removed,omitempty"`
	Changed []RecordChange `json:"changed,omitempty"`
}

// Empty reports whether nothing changed.
func (d RecordDiff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// RecordChange is one record replaced by another.
type RecordChange struct {
	Old string `json:"old"`
	New string `json:"new"`
}

// ClusterDiff is the change of one cluster.
type ClusterDiff struct {
	Name    string   `json:"name"`
	Status  string   `json:"status"`
	Changes []Change `json:"changes,omitempty"`
}

// Change is one added, removed or changed item (a node, a forward rule, a
// setting, a probe), described in one line each.
type Change struct {
	Kind string `json:"kind"` // added, removed, changed
	What string `json:"what"` // e.g. "forward ad.corp.internal.", "node ns1", "track"
	Old  string `json:"old,omitempty"`
	New  string `json:"new,omitempty"`
}

// Summary counts what a plan changes.
type Summary struct {
	ZonesAdded      int `json:"zones_added"`
	ZonesRemoved    int `json:"zones_removed"`
	ZonesChanged    int `json:"zones_changed"`
	RecordsAdded    int `json:"records_added"`
	RecordsRemoved  int `json:"records_removed"`
	RecordsChanged  int `json:"records_changed"`
	ClustersAdded   int `json:"clusters_added"`
	ClustersRemoved int `json:"clusters_removed"`
	ClustersChanged int `json:"clusters_changed"`
	ForwardAdded    int `json:"forward_added"`
	ForwardRemoved  int `json:"forward_removed"`
	ForwardChanged  int `json:"forward_changed"`
	FallbackAdded   int `json:"fallback_added"`
	FallbackRemoved int `json:"fallback_removed"`
	FallbackChanged int `json:"fallback_changed"`
	ProbesAdded     int `json:"probes_added"`
	ProbesRemoved   int `json:"probes_removed"`
	ProbesChanged   int `json:"probes_changed"`
	PolicyChanged   int `json:"policy_changed"`
	RPZAdded        int `json:"rpz_added,omitempty"`
	RPZRemoved      int `json:"rpz_removed,omitempty"`
	RPZChanged      int `json:"rpz_changed,omitempty"`
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	return len(p.Zones) == 0 && len(p.Clusters) == 0 && p.Fallback.Empty() && len(p.Probes) == 0 && len(p.Policy) == 0 && len(p.RPZ) == 0
}

// String is the one-line summary.
func (s Summary) String() string {
	return fmt.Sprintf("zones +%d -%d ~%d; records +%d -%d ~%d; clusters +%d -%d ~%d; forward rules +%d -%d ~%d; fallback +%d -%d ~%d; probes +%d -%d ~%d; policy ~%d",
		s.ZonesAdded, s.ZonesRemoved, s.ZonesChanged,
		s.RecordsAdded, s.RecordsRemoved, s.RecordsChanged,
		s.ClustersAdded, s.ClustersRemoved, s.ClustersChanged,
		s.ForwardAdded, s.ForwardRemoved, s.ForwardChanged,
		s.FallbackAdded, s.FallbackRemoved, s.FallbackChanged,
		s.ProbesAdded, s.ProbesRemoved, s.ProbesChanged, s.PolicyChanged) + s.rpzText()
}

// rpzText is the summary's response-policy part, only when policies
// changed (plans of repos without RPZ read as before).
func (s Summary) rpzText() string {
	if s.RPZAdded+s.RPZRemoved+s.RPZChanged == 0 {
		return ""
	}
	return fmt.Sprintf("; rpz +%d -%d ~%d", s.RPZAdded, s.RPZRemoved, s.RPZChanged)
}

// Diff computes the plan from base to head.
func Diff(base, head *model.Revision) *Plan {
	p := &Plan{Base: base.ID, Head: head.ID}
	p.diffZones(base, head)
	p.diffClusters(base, head)
	p.Fallback = diffRecords(recordRRs(base.Fallback), recordRRs(head.Fallback))
	s := &p.Summary
	s.FallbackAdded, s.FallbackRemoved, s.FallbackChanged = len(p.Fallback.Added), len(p.Fallback.Removed), len(p.Fallback.Changed)
	p.diffProbes(base, head)
	p.Policy = diffPolicy(base.Policy, head.Policy)
	s.PolicyChanged = len(p.Policy)
	p.diffRPZ(base, head)
	return p
}

// diffZones adds the record-level diff of every zone added, removed or
// changed (a zone whose records only moved is not changed).
func (p *Plan) diffZones(base, head *model.Revision) {
	s := &p.Summary
	p.Zones = p.diffZoneSets(base.Zones, head.Zones, &s.ZonesAdded, &s.ZonesRemoved, &s.ZonesChanged)
}

// diffRPZ adds the rule-level diff of every response policy added, removed
// or changed, by policy name; their records count with the zones'.
func (p *Plan) diffRPZ(base, head *model.Revision) {
	s := &p.Summary
	p.RPZ = p.diffZoneSets(policyZones(base), policyZones(head), &s.RPZAdded, &s.RPZRemoved, &s.RPZChanged)
}

func policyZones(rev *model.Revision) []*zones.Zone {
	var out []*zones.Zone
	for _, r := range rev.Policy.RPZ {
		if r.Policy != nil {
			out = append(out, r.Policy.Zone)
		}
	}
	return out
}

// diffZoneSets returns the diff of each zone (by origin) added, removed or
// changed, counting them and their records into the summary.
func (p *Plan) diffZoneSets(base, head []*zones.Zone, added, removed, changed *int) []ZoneDiff {
	s := &p.Summary
	bz := map[string]*zones.Zone{}
	hz := map[string]*zones.Zone{}
	var origins []string
	var out []ZoneDiff
	for _, z := range base {
		bz[z.Origin()] = z
		origins = append(origins, z.Origin())
	}
	for _, z := range head {
		hz[z.Origin()] = z
		if bz[z.Origin()] == nil {
			origins = append(origins, z.Origin())
		}
	}
	sort.Strings(origins)
	for _, o := range origins {
		b, h := bz[o], hz[o]
		zd := ZoneDiff{Origin: o}
		switch {
		case b == nil:
			zd.Status = Added
			zd.RecordDiff = diffRecords(nil, h.Records())
			*added++
		case h == nil:
			zd.Status = Removed
			zd.RecordDiff = diffRecords(b.Records(), nil)
			*removed++
		default:
			if b == h || sameRecords(b, h) { // b == h: an unchanged blob (LoadAgainst)
				continue
			}
			zd.Status = Changed
			zd.RecordDiff = diffRecords(diffable(b.Records(), h.Records()))
			if zd.RecordDiff.Empty() {
				continue // only the order of records changed
			}
			*changed++
		}
		if b != nil && b.SOA() != nil {
			zd.OldSerial = b.SOA().Serial
		}
		if h != nil && h.SOA() != nil {
			zd.NewSerial = h.SOA().Serial
		}
		s.RecordsAdded += len(zd.Added)
		s.RecordsRemoved += len(zd.Removed)
		s.RecordsChanged += len(zd.Changed)
		out = append(out, zd)
	}
	return out
}

// diffClusters adds the changes of every cluster file added, removed or
// changed, counting forward rules apart.
func (p *Plan) diffClusters(base, head *model.Revision) {
	s := &p.Summary
	bc := map[string]*model.Cluster{}
	hc := map[string]*model.Cluster{}
	var names []string
	for _, c := range base.Clusters {
		bc[c.Name] = c
		names = append(names, c.Name)
	}
	for _, c := range head.Clusters {
		hc[c.Name] = c
		if bc[c.Name] == nil {
			names = append(names, c.Name)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		b, h := bc[n], hc[n]
		cd := ClusterDiff{Name: n}
		switch {
		case b == nil:
			cd.Status = Added
			cd.Changes = diffCluster(&model.Cluster{}, h)
			s.ClustersAdded++
		case h == nil:
			cd.Status = Removed
			cd.Changes = diffCluster(b, &model.Cluster{})
			s.ClustersRemoved++
		default:
			cd.Status = Changed
			cd.Changes = diffCluster(b, h)
			if len(cd.Changes) == 0 {
				continue
			}
			s.ClustersChanged++
		}
		for _, c := range cd.Changes {
			if strings.HasPrefix(c.What, "forward ") {
				c.count(&s.ForwardAdded, &s.ForwardRemoved, &s.ForwardChanged)
			}
		}
		p.Clusters = append(p.Clusters, cd)
	}

}

// diffProbes adds the probes added, removed or changed, by name.
func (p *Plan) diffProbes(base, head *model.Revision) {
	s := &p.Summary
	bp := map[string]string{}
	hp := map[string]string{}
	var pnames []string
	for _, pr := range base.Probes {
		bp[pr.Name] = probeText(pr)
		pnames = append(pnames, pr.Name)
	}
	for _, pr := range head.Probes {
		hp[pr.Name] = probeText(pr)
		if _, ok := bp[pr.Name]; !ok {
			pnames = append(pnames, pr.Name)
		}
	}
	sort.Strings(pnames)
	p.Probes = diffTexts("probe ", pnames, bp, hp)
	for _, c := range p.Probes {
		c.count(&s.ProbesAdded, &s.ProbesRemoved, &s.ProbesChanged)
	}
}

// count adds one to the counter of c's kind.
func (c Change) count(added, removed, changed *int) {
	switch c.Kind {
	case Added:
		*added++
	case Removed:
		*removed++
	default:
		*changed++
	}
}

func recordRRs(rs []model.Record) []dns.RR {
	out := make([]dns.RR, len(rs))
	for i, r := range rs {
		out[i] = r.RR
	}
	return out
}

// diffable returns the records of base and head, in their order, that
// diffRecords needs to give what it gives on the whole lists: a change is
// mostly a few lines of a large file, and the records of an owner that
// trimSame paired off everywhere cancel out in the multisets. Every
// record whose key (wireKeys: owner in lower case) is left unpaired
// anywhere is kept with all the others of that key, in order, so which
// occurrence is reported and in what order are as before; they are found
// by owner name (a key's owner is its owner). An owner written with
// escapes may have other spellings of the same key: then the lists are
// taken whole.
func diffable(base, head []dns.RR) ([]dns.RR, []dns.RR) {
	rb, rh := trimSame(base, head)
	if len(rb) == len(base) && len(rh) == len(head) {
		return base, head
	}
	owners := make(map[string]bool, len(rb)+len(rh))
	for _, rs := range [2][]dns.RR{rb, rh} {
		for _, rr := range rs {
			name := rr.Header().Name
			if strings.IndexByte(name, '\\') >= 0 {
				return base, head
			}
			owners[strings.ToLower(name)] = true
		}
	}
	keep := func(rs []dns.RR) []dns.RR {
		var out []dns.RR
		for _, rr := range rs {
			if name := rr.Header().Name; strings.IndexByte(name, '\\') >= 0 || owners[strings.ToLower(name)] {
				out = append(out, rr)
			}
		}
		return out
	}
	return keep(base), keep(head)
}

// diffRecords compares two record lists as multisets. Within one owner and
// type, removed and added records are paired in order as changes.
func diffRecords(base, head []dns.RR) RecordDiff {
	type entry struct {
		text string
		set  string // owner class type
	}
	mk := func(rr dns.RR) entry {
		h := rr.Header()
		set := strings.ToLower(h.Name) + " " + dns.ClassToString[h.Class] + " " + dns.TypeToString[h.Rrtype]
		return entry{text: strings.ReplaceAll(rr.String(), "\t", " "), set: set}
	}
	// Match by wire form with TTL (fast); render only what differs.
	wp := newWirePacker()
	count := make(map[string]int, len(head))
	for _, rr := range head {
		_, kt := wp.wireKeys(rr)
		count[kt]++
	}
	var removed []entry
	for _, rr := range base {
		if _, kt := wp.wireKeys(rr); count[kt] > 0 {
			count[kt]--
			continue
		}
		removed = append(removed, mk(rr))
	}
	var added []entry
	for _, rr := range head {
		if _, kt := wp.wireKeys(rr); count[kt] > 0 {
			count[kt]--
			added = append(added, mk(rr))
		}
	}
	// pair by owner and type
	bySet := map[string][]int{}
	for i, e := range added {
		bySet[e.set] = append(bySet[e.set], i)
	}
	used := make([]bool, len(added))
	var d RecordDiff
	for _, e := range removed {
		if idx := bySet[e.set]; len(idx) > 0 {
			bySet[e.set] = idx[1:]
			used[idx[0]] = true
			d.Changed = append(d.Changed, RecordChange{Old: e.text, New: added[idx[0]].text})
			continue
		}
		d.Removed = append(d.Removed, e.text)
	}
	for i, e := range added {
		if !used[i] {
			d.Added = append(d.Added, e.text)
		}
	}
	return d
}

func probeText(p model.Probe) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s -> %s", p.Query, dns.TypeToString[p.Type], dns.RcodeToString[p.Rcode])
	if len(p.Expect) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(p.Expect, ", "))
	}
	if p.Gate {
		b.WriteString(" gate")
	}
	return b.String()
}

func diffTexts(prefix string, keys []string, base, head map[string]string) []Change {
	var out []Change
	for _, k := range keys {
		b, inB := base[k]
		h, inH := head[k]
		switch {
		case !inB:
			out = append(out, Change{Kind: Added, What: prefix + k, New: h})
		case !inH:
			out = append(out, Change{Kind: Removed, What: prefix + k, Old: b})
		case b != h:
			out = append(out, Change{Kind: Changed, What: prefix + k, Old: b, New: h})
		}
	}
	return out
}

func joinStrings[T fmt.Stringer](xs []T) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.String()
	}
	return strings.Join(parts, ", ")
}

func diffCluster(b, h *model.Cluster) []Change {
	var out []Change
	one := func(what, old, new string) {
		if old != new {
			out = append(out, Change{Kind: kindOf(old, new), What: what, Old: old, New: new})
		}
	}
	one("environment", string(b.Environment), string(h.Environment))
	one("track", b.Track, h.Track)
	if b.Canary != h.Canary {
		out = append(out, Change{Kind: Changed, What: "canary", Old: fmt.Sprint(b.Canary), New: fmt.Sprint(h.Canary)})
	}
	// nodes
	bn, hn := map[string]string{}, map[string]string{}
	var keys []string
	for _, n := range b.Nodes {
		bn[n.Name] = n.AddrPort().String()
		keys = append(keys, n.Name)
	}
	for _, n := range h.Nodes {
		hn[n.Name] = n.AddrPort().String()
		if _, ok := bn[n.Name]; !ok {
			keys = append(keys, n.Name)
		}
	}
	sort.Strings(keys)
	out = append(out, diffTexts("node ", keys, bn, hn)...)
	// zones served
	zs := func(c *model.Cluster) string {
		if c.Zones == nil {
			if c.Name == "" {
				return ""
			}
			return "(every zone)"
		}
		return strings.Join(c.Zones, ", ")
	}
	one("zones", zs(b), zs(h))
	// forward rules
	bf, hf := map[string]string{}, map[string]string{}
	keys = keys[:0]
	for _, r := range b.Forward {
		bf[r.Zone] = forwardText(&r)
		keys = append(keys, r.Zone)
	}
	for _, r := range h.Forward {
		hf[r.Zone] = forwardText(&r)
		if _, ok := bf[r.Zone]; !ok {
			keys = append(keys, r.Zone)
		}
	}
	sort.Strings(keys)
	out = append(out, diffTexts("forward ", keys, bf, hf)...)
	one("recursion.allow", joinStrings(b.Recursion.Allow), joinStrings(h.Recursion.Allow))
	return out
}

// forwardText is a forward rule's targets in one line, with its tls_ca and
// the start of the file's digest: a CA file changed in place is a change
// of the rule (whom its targets are trusted by).
func forwardText(r *model.ForwardRule) string {
	parts := make([]string, len(r.To))
	for i := range r.To {
		parts[i] = r.Target(i)
	}
	t := strings.Join(parts, ", ")
	if ca := r.TLSCA; ca != nil {
		t += " (tls_ca " + ca.File
		if len(ca.SHA256) >= 12 {
			t += " sha256:" + ca.SHA256[:12]
		}
		t += ")"
	}
	return t
}

func kindOf(old, new string) string {
	switch {
	case old == "":
		return Added
	case new == "":
		return Removed
	}
	return Changed
}

func diffPolicy(b, h model.Policy) []Change {
	var out []Change
	num := func(what string, old, new uint64) {
		if old != new {
			out = append(out, Change{Kind: Changed, What: what, Old: fmt.Sprint(old), New: fmt.Sprint(new)})
		}
	}
	if b.RootHintsFile != h.RootHintsFile {
		out = append(out, Change{Kind: kindOf(b.RootHintsFile, h.RootHintsFile), What: "recursion.root_hints", Old: b.RootHintsFile, New: h.RootHintsFile})
	}
	num("fallback.ttl", uint64(b.FallbackTTL), uint64(h.FallbackTTL))
	num("limits.max_delete_percent", uint64(b.MaxDeletePercent), uint64(h.MaxDeletePercent))
	num("limits.min_ttl", uint64(b.MinTTL), uint64(h.MinTTL))
	num("limits.max_ttl", uint64(b.MaxTTL), uint64(h.MaxTTL))
	if bo, ho := rpzOrder(b), rpzOrder(h); bo != ho {
		out = append(out, Change{Kind: kindOf(bo, ho), What: "rpz", Old: bo, New: ho})
	}
	return out
}

// rpzOrder is policy.yaml's rpz list in one line: its order is the
// policies' priority.
func rpzOrder(p model.Policy) string {
	parts := make([]string, 0, len(p.RPZ))
	for _, r := range p.RPZ {
		t := r.File
		if r.Clusters != nil {
			t += " (clusters " + strings.Join(r.Clusters, ", ") + ")"
		}
		parts = append(parts, t)
	}
	return strings.Join(parts, ", ")
}
