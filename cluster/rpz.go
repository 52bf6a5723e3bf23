package cluster

import (
	"path"
	"strings"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/rpz"
	"github.com/gitops-dns/resolverd/zones"
	"go.yaml.in/yaml/v3"
)

// RuleRPZ is reported for policy.yaml's rpz entries (files and clusters
// they name); the policy files' own findings carry package rpz's rules.
const RuleRPZ = "rpz-entry"

// maxRPZFileSize bounds one policy file: as a zone file (a blocklist of
// millions of names is a normal size).
const maxRPZFileSize = maxZoneFileSize

// decodeRPZ reads policy.yaml's rpz list: each entry a file inside the
// config folder, listed once, and optionally the clusters applying it.
func decodeRPZ(d *ydec, v *yaml.Node, p *model.Policy) {
	seen := map[string]bool{}
	d.seq(v, "rpz", func(i int, item *yaml.Node) {
		e := model.RPZ{Pos: d.pos(item)}
		d.mapping(item, "rpz entry", map[string]field{
			"file": {required: true, fn: func(v *yaml.Node) {
				s, ok := d.str(v, "rpz.file")
				if !ok {
					return
				}
				clean := path.Clean(s)
				if s == "" || path.IsAbs(s) || clean == ".." || strings.HasPrefix(clean, "../") {
					d.errorf(v, RuleRPZ, "rpz file must be a path inside the config folder, not %q", s)
					return
				}
				if seen[clean] {
					d.errorf(v, RuleRPZ, "rpz file %s is listed twice", clean)
					return
				}
				seen[clean] = true
				e.File = clean
			}},
			"clusters": {fn: func(v *yaml.Node) {
				e.Clusters = []string{}
				d.seq(v, "rpz.clusters", func(_ int, c *yaml.Node) {
					if s, ok := d.str(c, "cluster"); ok {
						e.Clusters = append(e.Clusters, s)
						e.ClustersPos = append(e.ClustersPos, d.pos(c))
					}
				})
			}},
		})
		if e.File != "" {
			p.RPZ = append(p.RPZ, e)
		}
	})
}

// loadRPZ parses the policy files policy.yaml lists and checks the
// clusters each names exist and the policy names are distinct (metrics and
// EDE texts name a policy by its SOA owner).
func (l *loader) loadRPZ(rev *model.Revision) {
	names := map[string]string{}
	for i := range rev.Policy.RPZ {
		e := &rev.Policy.RPZ[i]
		for j, c := range e.Clusters {
			if rev.ClusterByName(c) == nil {
				l.errorf(e.ClustersPos[j], RuleRPZ, "rpz file %s names cluster %q, which is not in %s/ (clusters: %s)", e.File, c, ClustersDir, strings.Join(rev.ClusterNames(), ", "))
			}
		}
		if !l.parseRPZ(e) {
			continue
		}
		l.findings = append(l.findings, e.Findings...)
		p := e.Parsed
		if p == nil {
			continue
		}
		if other, dup := names[p.Name]; dup {
			l.errorf(zones.Position{File: l.path(e.File)}, RuleRPZ, "policy %s (the SOA owner) is also the name of %s: each policy needs its own name", p.Name, other)
			continue
		}
		names[p.Name] = l.path(e.File)
		e.Policy = p
	}
}

// parseRPZ fills e's Parsed, Findings and Blob: from the base revision's
// entry for the same file when its blob is the same (a blocklist of
// millions of names is parsed once, not at every revision), else by
// reading and parsing the file. false: the file could not be read (a
// finding says why).
func (l *loader) parseRPZ(e *model.RPZ) bool {
	if blobs, ok := l.fsys.(BlobFS); ok {
		e.Blob, _ = blobs.Blob(e.File)
	}
	if l.base != nil && e.Blob != "" && l.base.Dir == l.dir {
		for _, b := range l.base.Policy.RPZ {
			if b.File == e.File && b.Blob == e.Blob {
				e.Parsed, e.Findings = b.Parsed, b.Findings
				return true
			}
		}
	}
	data, ok := l.read(e.File, maxRPZFileSize, false)
	if !ok {
		e.Blob = ""
		return false
	}
	e.Parsed, e.Findings = rpz.Parse(l.path(e.File), data)
	return true
}

// rpzDeleted counts, for the mass-deletion guard, the records of base's
// response policies and how many of them head deletes: a policy whose name
// is gone is refused like a deleted zone (unblocking every name it held),
// and removed rules count toward limits.max_delete_percent with the zones'.
func (c *checker) rpzDeleted(base *model.Revision, refuse func(pos zones.Position, rule, format string, args ...any)) (total, deleted int) {
	head := map[string]*zones.Zone{}
	for _, z := range policyZones(c.rev) {
		head[z.Origin()] = z
	}
	for _, bz := range policyZones(base) {
		total += bz.Len()
		hz := head[bz.Origin()]
		if hz == nil {
			deleted += bz.Len()
			refuse(zones.Position{File: bz.File()}, RuleZoneDeleted, "response policy %s is deleted or no longer listed in %s (%d records)", bz.Origin(), PolicyFile, bz.Len())
			continue
		}
		if bz == hz || sameRecords(bz, hz) { // bz == hz: the file's blob did not change (LoadAgainst)
			continue
		}
		kept := make(map[string]bool, hz.Len())
		for _, rr := range hz.Records() {
			kept[recordKey(rr)] = true
		}
		for _, rr := range bz.Records() {
			if !kept[recordKey(rr)] {
				deleted++
			}
		}
	}
	return total, deleted
}
