package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/dnsname"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/miekg/dns"
	"go.yaml.in/yaml/v3"
)

// Names of the files and folders of a config repo (DESIGN.md "Interfaces v1").
const (
	PolicyFile   = "policy.yaml"
	ClustersDir  = "clusters"
	ZonesDir     = "zones"
	FallbackFile = "fallback.zone"
	ProbesFile   = "probes.yaml"
)

// maxZoneFileSize bounds one zone file; maxRecordFileSize bounds
// fallback.zone and the root hints.
const (
	maxZoneFileSize   = 512 << 20
	maxRecordFileSize = 4 << 20
	maxFilesPerDir    = 100000
)

// Rule ids reported by Load (see README.md).
const (
	RuleRead           = "read-error"
	RuleLayout         = "repo-layout"
	RuleZoneFileName   = "zone-file-name"
	RuleClusterName    = "cluster-name"
	RuleEnvironment    = "cluster-environment"
	RuleNodeAddress    = "node-address"
	RuleNodeDuplicate  = "node-duplicate"
	RuleZoneRef        = "cluster-zone-unknown"
	RuleForwardSyntax  = "forward-syntax"
	RuleForwardTLS     = "forward-tls"
	RuleRecursionAllow = "recursion-allow"
	RulePolicy         = "policy-value"
	RuleRecordSyntax   = "record-syntax"
	RuleProbeSyntax    = "probe-syntax"
	RuleRootHints      = "root-hints"
	RuleTrustAnchors   = "trust-anchors"
)

type loader struct {
	fsys     fs.FS
	dir      string
	base     *model.Revision // what unchanged files are taken from; may be nil
	findings []zones.Finding
}

// BlobFS is an fs.FS that names each regular file's content by a hash, as
// git's blob ids do (cluster/gittree implements it). LoadAgainst takes
// what its base revision made of a file whose blob is unchanged.
type BlobFS interface {
	fs.FS
	Blob(name string) (id string, ok bool)
}

func (l *loader) path(name string) string {
	if l.dir == "" {
		return name
	}
	return path.Join(l.dir, name)
}

func (l *loader) add(f zones.Finding) { l.findings = append(l.findings, f) }

func (l *loader) errorf(pos zones.Position, rule, format string, args ...any) {
	l.add(zones.Finding{Pos: pos, Severity: zones.SeverityError, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(pos zones.Position, rule, format string, args ...any) {
	l.add(zones.Finding{Pos: pos, Severity: zones.SeverityWarning, Rule: rule, Msg: fmt.Sprintf(format, args...)})
}

// read returns a file's bytes; ok=false with no finding when it does not
// exist and optional is set.
func (l *loader) read(name string, limit int64, optional bool) ([]byte, bool) {
	pos := zones.Position{File: l.path(name)}
	if st, err := fs.Stat(l.fsys, name); err == nil {
		if !st.Mode().IsRegular() {
			l.errorf(pos, RuleRead, "not a regular file")
			return nil, false
		}
		if st.Size() > limit {
			l.errorf(pos, RuleRead, "file is %d bytes, more than the %d allowed", st.Size(), limit)
			return nil, false
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if !optional {
			l.errorf(pos, RuleLayout, "missing file")
		}
		return nil, false
	}
	data, err := fs.ReadFile(l.fsys, name)
	if err != nil {
		l.errorf(pos, RuleRead, "cannot read: %v", err)
		return nil, false
	}
	return data, true
}

// Load reads one revision of a config repo. fsys is rooted at the config
// folder; dir is that folder's path inside the repository and prefixes every
// file name in positions (so findings name files as the operator sees them).
//
// Load always returns a Revision (possibly partial) and every problem it
// found in the files: syntax, strict YAML, unknown fields, wrong types,
// malformed addresses, zone file syntax, unknown zones named by a cluster. A
// revision with findings of severity error must not be served; Check adds the
// semantic rules (forwarder graph, zone lint, base revision rules).
func Load(fsys fs.FS, dir string) (*model.Revision, []zones.Finding) {
	return LoadAgainst(fsys, dir, nil)
}

// LoadAgainst is Load for a revision that follows base (the last good
// revision, or the base of a check or diff): a zone file whose git blob
// (fsys is a BlobFS) is the one base loaded at the same path is neither
// read, parsed nor linted again; base's zone, findings and lint are shared
// (they are immutable). The result equals Load's: the same blob at the same
// path parses the same, and lint is redone when the policy's TTL bounds
// changed. base may be nil, or loaded from a plain folder (no blobs).
func LoadAgainst(fsys fs.FS, dir string, base *model.Revision) (*model.Revision, []zones.Finding) {
	dir = strings.Trim(path.Clean("/"+dir), "/")
	l := &loader{fsys: fsys, dir: dir, base: base}
	rev := &model.Revision{Dir: dir}
	l.loadPolicy(rev)
	l.loadClusters(rev)
	l.loadZones(rev)
	l.loadFallback(rev)
	l.loadProbes(rev)
	l.loadRootHints(rev)
	l.loadTrustAnchors(rev)
	l.loadRPZ(rev)
	l.loadForwardCAs(rev)
	l.crossRefs(rev)
	SortFindings(l.findings)
	return rev, l.findings
}

// SortFindings orders findings by file, line, column, then rule, keeping the
// order of equal ones.
func SortFindings(fs []zones.Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i].Pos, fs[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Col != b.Col {
			return a.Col < b.Col
		}
		return fs[i].Rule < fs[j].Rule
	})
}

func (l *loader) loadPolicy(rev *model.Revision) {
	rev.Policy = defaultPolicy(l.path(PolicyFile))
	data, ok := l.read(PolicyFile, maxYAMLSize, true)
	if !ok {
		return
	}
	pol, fs := ParsePolicy(l.path(PolicyFile), data)
	rev.Policy = pol
	l.findings = append(l.findings, fs...)
}

// defaultPolicy is the policy of a repo without policy.yaml (file is where
// it would be).
func defaultPolicy(file string) model.Policy {
	return model.Policy{
		FallbackTTL:      model.DefaultFallbackTTL,
		MaxDeletePercent: model.DefaultMaxDeletePercent,
		MinTTL:           model.DefaultMinTTL,
		MaxTTL:           model.DefaultMaxTTL,
		DNSSEC:           model.DNSSECPolicy{Validation: true},
		Pos:              zones.Position{File: file},
	}
}

// ParsePolicy decodes policy.yaml (file is the path used in findings),
// starting from the defaults.
func ParsePolicy(file string, data []byte) (model.Policy, []zones.Finding) {
	p := defaultPolicy(file)
	d := &ydec{file: file}
	if root := d.parse(data); root != nil {
		decodePolicy(d, root, &p)
	}
	return p, d.findings
}

func decodePolicy(d *ydec, root *yaml.Node, p *model.Policy) {
	var minNode, maxNode *yaml.Node
	d.mapping(root, "policy", map[string]field{
		"recursion": {fn: func(v *yaml.Node) {
			d.mapping(v, "recursion", map[string]field{
				"root_hints": {fn: func(v *yaml.Node) {
					if s, ok := d.str(v, "recursion.root_hints"); ok {
						clean := path.Clean(s)
						if s == "" || path.IsAbs(s) || clean == ".." || strings.HasPrefix(clean, "../") {
							d.errorf(v, RulePolicy, "recursion.root_hints must be a path inside the config folder, not %q", s)
							return
						}
						p.RootHintsFile = clean
					}
				}},
			})
		}},
		"fallback": {fn: func(v *yaml.Node) {
			d.mapping(v, "fallback", map[string]field{
				"ttl": {fn: func(v *yaml.Node) {
					if n, ok := d.uint(v, "fallback.ttl", 86400); ok {
						if n == 0 {
							d.errorf(v, RulePolicy, "fallback.ttl must be at least 1 second")
							return
						}
						p.FallbackTTL = uint32(n)
					}
				}},
			})
		}},
		"dnssec": {fn: func(v *yaml.Node) { decodeDNSSEC(d, v, &p.DNSSEC) }},
		"rpz":    {fn: func(v *yaml.Node) { decodeRPZ(d, v, p) }},
		"limits": {fn: func(v *yaml.Node) {
			d.mapping(v, "limits", map[string]field{
				"max_delete_percent": {fn: func(v *yaml.Node) {
					if n, ok := d.uint(v, "limits.max_delete_percent", 100); ok {
						p.MaxDeletePercent = int(n)
					}
				}},
				"min_ttl": {fn: func(v *yaml.Node) {
					if n, ok := d.uint(v, "limits.min_ttl", 1<<31-1); ok {
						p.MinTTL, minNode = uint32(n), v
					}
				}},
				"max_ttl": {fn: func(v *yaml.Node) {
					if n, ok := d.uint(v, "limits.max_ttl", 1<<31-1); ok {
						p.MaxTTL, maxNode = uint32(n), v
					}
				}},
			})
		}},
	})
	if p.MinTTL > p.MaxTTL {
		n := maxNode
		if n == nil {
			n = minNode
		}
		d.errorf(n, RulePolicy, "limits.min_ttl (%d) is larger than limits.max_ttl (%d)", p.MinTTL, p.MaxTTL)
	}
}

var clusterNameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func (l *loader) loadClusters(rev *model.Revision) {
	entries, err := fs.ReadDir(l.fsys, ClustersDir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			l.errorf(zones.Position{File: l.path(ClustersDir)}, RuleLayout, "missing folder %s/: a config repo needs at least one cluster file", ClustersDir)
		} else {
			l.errorf(zones.Position{File: l.path(ClustersDir)}, RuleRead, "cannot read folder: %v", err)
		}
		return
	}
	if len(entries) > maxFilesPerDir {
		l.errorf(zones.Position{File: l.path(ClustersDir)}, RuleLayout, "more than %d files", maxFilesPerDir)
		return
	}
	for _, e := range entries {
		name := e.Name()
		rel := ClustersDir + "/" + name
		if e.IsDir() {
			l.warnf(zones.Position{File: l.path(rel)}, RuleLayout, "folder ignored: cluster files are clusters/<name>.yaml")
			continue
		}
		if !strings.HasSuffix(name, ".yaml") {
			l.warnf(zones.Position{File: l.path(rel)}, RuleLayout, "file ignored: cluster files are clusters/<name>.yaml")
			continue
		}
		data, ok := l.read(rel, maxYAMLSize, false)
		if !ok {
			continue
		}
		c, fs := ParseCluster(l.path(rel), data)
		l.findings = append(l.findings, fs...)
		if c != nil {
			rev.Clusters = append(rev.Clusters, c)
		}
	}
	sort.Slice(rev.Clusters, func(i, j int) bool { return rev.Clusters[i].Name < rev.Clusters[j].Name })
	if len(rev.Clusters) == 0 {
		l.errorf(zones.Position{File: l.path(ClustersDir)}, RuleLayout, "no cluster file (clusters/<name>.yaml)")
	}
	// Node names and addresses are unique across the repo: a target address
	// must name exactly one node for the forwarder graph to be meaningful.
	seen := map[netip.AddrPort]string{}
	for _, c := range rev.Clusters {
		for _, n := range c.Nodes {
			if !n.Address.IsValid() {
				continue
			}
			ap := n.AddrPort()
			if other, dup := seen[ap]; dup {
				l.errorf(n.Pos, RuleNodeDuplicate, "node %s/%s has the address %s of node %s", c.Name, n.Name, ap, other)
				continue
			}
			seen[ap] = c.Name + "/" + n.Name
		}
	}
}

// ParseCluster decodes one clusters/<name>.yaml. file is the path used in
// findings; its base name (without .yaml) must equal the cluster's name. It
// returns nil when the file is unusable (not YAML, not a mapping).
func ParseCluster(file string, data []byte) (*model.Cluster, []zones.Finding) {
	d := &ydec{file: file}
	root := d.parse(data)
	if root == nil {
		return nil, d.findings
	}
	c := &model.Cluster{Pos: zones.Position{File: file}}
	var nameNode *yaml.Node
	d.mapping(root, "cluster", map[string]field{
		"name": {required: true, fn: func(v *yaml.Node) {
			nameNode = v
			if s, ok := d.str(v, "name"); ok {
				c.Name = s
				if !clusterNameRE.MatchString(s) {
					d.errorf(v, RuleClusterName, "cluster name %q must be lower-case letters, digits and dashes", s)
				}
			}
		}},
		"environment": {required: true, fn: func(v *yaml.Node) {
			if s, ok := d.str(v, "environment"); ok {
				switch model.Environment(s) {
				case model.Production, model.Staging:
					c.Environment = model.Environment(s)
				default:
					d.errorf(v, RuleEnvironment, "environment must be production or staging, not %q", s)
				}
			}
		}},
		"track": {fn: func(v *yaml.Node) {
			if s, ok := d.str(v, "track"); ok {
				if !strings.HasPrefix(s, "refs/") || strings.ContainsAny(s, " ~^:?*[\\") || strings.Contains(s, "..") {
					d.errorf(v, ruleYAMLType, "track must be a full git ref such as refs/heads/main, not %q", s)
					return
				}
				c.Track = s
			}
		}},
		"canary": {fn: func(v *yaml.Node) {
			if b, ok := d.boolean(v, "canary"); ok {
				c.Canary = b
			}
		}},
		"nodes":     {required: true, fn: func(v *yaml.Node) { decodeNodes(d, v, c) }},
		"zones":     {fn: func(v *yaml.Node) { decodeZones(d, v, c) }},
		"forward":   {fn: func(v *yaml.Node) { decodeForward(d, v, c) }},
		"recursion": {fn: func(v *yaml.Node) { decodeRecursion(d, v, c) }},
	})
	base := strings.TrimSuffix(path.Base(file), ".yaml")
	if c.Name != "" && c.Name != base {
		d.errorf(nameNode, RuleClusterName, "cluster name %q does not match its file name %s.yaml", c.Name, base)
	}
	return c, d.findings
}

// decodeNodes reads nodes: each with a name unique in the cluster, an IP
// literal a server can listen on, and a port (default 53).
func decodeNodes(d *ydec, v *yaml.Node, c *model.Cluster) {
	names := map[string]bool{}
	d.seq(v, "nodes", func(i int, item *yaml.Node) {
		n := model.Node{Port: 53, Pos: d.pos(item)}
		d.mapping(item, fmt.Sprintf("nodes[%d]", i), map[string]field{
			"name": {required: true, fn: func(v *yaml.Node) {
				if s, ok := d.str(v, "node name"); ok {
					if !clusterNameRE.MatchString(s) {
						d.errorf(v, RuleNodeAddress, "node name %q must be lower-case letters, digits and dashes", s)
					}
					if names[s] {
						d.errorf(v, RuleNodeDuplicate, "node name %q used twice in this cluster", s)
					}
					names[s] = true
					n.Name = s
				}
			}},
			"address": {required: true, fn: func(v *yaml.Node) {
				if s, ok := d.scalarText(v, "node address"); ok {
					a, err := netip.ParseAddr(s)
					if err != nil || a.Zone() != "" {
						d.errorf(v, RuleNodeAddress, "node address must be an IP literal, not %q", s)
						return
					}
					n.Address = a.Unmap()
					if why := unusableAddr(n.Address); why != "" {
						d.errorf(v, RuleNodeAddress, "node address %s is %s", n.Address, why)
					}
				}
			}},
			"port": {fn: func(v *yaml.Node) {
				if p, ok := d.uint(v, "node port", 65535); ok {
					if p == 0 {
						d.errorf(v, RuleNodeAddress, "node port must be 1-65535")
						return
					}
					n.Port = uint16(p)
				}
			}},
		})
		c.Nodes = append(c.Nodes, n)
	})
	if len(c.Nodes) == 0 {
		d.errorf(v, RuleNodeAddress, "a cluster needs at least one node")
	}
}

// decodeZones reads zones: the origins the cluster serves, each once.
func decodeZones(d *ydec, v *yaml.Node, c *model.Cluster) {
	c.Zones = []string{}
	seen := map[string]bool{}
	d.seq(v, "zones", func(i int, item *yaml.Node) {
		s, ok := d.str(item, "zone")
		if !ok {
			return
		}
		z, ok := normalizeName(s)
		if !ok {
			d.errorf(item, ruleYAMLType, "zone %q is not a domain name", s)
			return
		}
		if seen[z] {
			d.errorf(item, ruleYAMLDup, "zone %s listed twice", z)
			return
		}
		seen[z] = true
		c.Zones = append(c.Zones, z)
		c.ZonesPos = append(c.ZonesPos, d.pos(item))
	})
}

// decodeForward reads forward: one rule per zone, each with at least one
// target (an IP literal, port optional, or tls://ADDR[:PORT]@NAME) and,
// when a target is tls://, the tls_ca file (read by loadForwardCAs).
func decodeForward(d *ydec, v *yaml.Node, c *model.Cluster) {
	seen := map[string]bool{}
	d.seq(v, "forward", func(i int, item *yaml.Node) {
		r := model.ForwardRule{Pos: d.pos(item)}
		var zoneNode, tlsCANode *yaml.Node
		d.mapping(item, fmt.Sprintf("forward[%d]", i), map[string]field{
			"zone": {required: true, fn: func(v *yaml.Node) {
				zoneNode = v
				if s, ok := d.str(v, "forward zone"); ok {
					z, ok := normalizeName(s)
					if !ok {
						d.errorf(v, RuleForwardSyntax, "forward zone %q is not a domain name", s)
						return
					}
					r.Zone = z
				}
			}},
			"to": {required: true, fn: func(v *yaml.Node) {
				before := len(d.findings)
				d.seq(v, "forward targets", func(j int, t *yaml.Node) {
					s, ok := d.scalarText(t, "forward target")
					if !ok {
						return
					}
					ap, name, err := parseForwardTarget(s)
					if err != nil {
						d.errorf(t, RuleForwardSyntax, "forward target %q: %v", s, err)
						return
					}
					if name != "" && r.TLSName == nil {
						r.TLSName = make([]string, len(r.To), cap(r.To))
					}
					if r.TLSName != nil {
						r.TLSName = append(r.TLSName, name)
					}
					r.To = append(r.To, ap)
					r.ToPos = append(r.ToPos, d.pos(t))
				})
				if len(r.To) == 0 && len(d.findings) == before {
					d.errorf(v, RuleForwardSyntax, "a forward rule needs at least one target")
				}
			}},
			"tls_ca": {fn: func(v *yaml.Node) {
				tlsCANode = v
				if s, ok := d.str(v, "tls_ca"); ok {
					clean := path.Clean(s)
					if s == "" || path.IsAbs(s) || clean == ".." || strings.HasPrefix(clean, "../") {
						d.errorf(v, RuleForwardTLS, "tls_ca must be a path inside the config folder, not %q", s)
						return
					}
					r.TLSCA = &model.CAFile{File: clean, Pos: d.pos(v)}
				}
			}},
		})
		hasTLS := slices.ContainsFunc(r.TLSName, func(n string) bool { return n != "" })
		switch {
		case hasTLS && r.TLSCA == nil && tlsCANode == nil:
			d.errorf(item, RuleForwardTLS, "forward %s has tls:// targets but no tls_ca: name the CA file (PEM, in the config folder) their certificates are verified against", r.Zone)
		case !hasTLS && tlsCANode != nil:
			d.errorf(tlsCANode, RuleForwardTLS, "tls_ca is for tls:// targets and forward %s has none", r.Zone)
			r.TLSCA = nil
		}
		if r.Zone != "" {
			if seen[r.Zone] {
				d.errorf(zoneNode, RuleForwardSyntax, "second forward rule for zone %s: merge the targets into one rule", r.Zone)
				return
			}
			seen[r.Zone] = true
			c.Forward = append(c.Forward, r)
		}
	})
}

// decodeRecursion reads recursion.allow: the CIDRs that may recurse.
func decodeRecursion(d *ydec, v *yaml.Node, c *model.Cluster) {
	d.mapping(v, "recursion", map[string]field{
		"allow": {fn: func(v *yaml.Node) {
			d.seq(v, "recursion.allow", func(i int, item *yaml.Node) {
				s, ok := d.scalarText(item, "recursion.allow entry")
				if !ok {
					return
				}
				p, err := parsePrefix(s)
				if err != nil {
					d.errorf(item, RuleRecursionAllow, "recursion.allow entry %q: %v", s, err)
					return
				}
				c.Recursion.Allow = append(c.Recursion.Allow, p)
				c.Recursion.AllowPos = append(c.Recursion.AllowPos, d.pos(item))
			})
		}},
	})
}

// normalizeName makes a domain name absolute and lower case.
func normalizeName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	if _, ok := dns.IsDomainName(s); !ok || strings.Contains(s, "..") && s != "." {
		return "", false
	}
	if strings.ContainsAny(s, " \t\\*@") {
		return "", false
	}
	return strings.ToLower(dns.Fqdn(s)), true
}

// parseTarget reads an IP literal, optionally with a port ("198.18.9.2:5353",
// "[2001:db8::1]:5353"). Host names are refused: a forwarder reached through
// DNS is a forwarder that fails when DNS fails.
func parseTarget(s string) (netip.AddrPort, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return netip.AddrPort{}, errors.New("IPv6 zones are not allowed")
		}
		return netip.AddrPortFrom(a.Unmap(), 53), nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return netip.AddrPort{}, errors.New("want an IP literal, optionally with a port (198.18.9.2, 198.18.9.2:5353, [2001:db8::1]:5353)")
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, errors.New("IPv6 zones are not allowed")
	}
	if ap.Port() == 0 {
		return netip.AddrPort{}, errors.New("port 0")
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), nil
}

// parsePrefix reads a CIDR or a bare address (a one-address prefix).
func parsePrefix(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, errors.New("want a CIDR such as 198.18.0.0/15 or an IP literal")
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits set (did you mean %s?)", p.Masked())
	}
	return p, nil
}

type zoneJob struct {
	origin, rel string
	data        []byte
	file        *model.ZoneFile
	// reused: file is base's; lint it again only if the policy's TTL
	// bounds are not the ones it was linted under.
	reused bool
	// prev is the zone base parsed from an earlier version of the file:
	// its unchanged entries are not parsed again (zones.ParseAgainst).
	prev *zones.Zone
}

func (l *loader) loadZones(rev *model.Revision) {
	entries, err := fs.ReadDir(l.fsys, ZonesDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.errorf(zones.Position{File: l.path(ZonesDir)}, RuleRead, "cannot read folder: %v", err)
		return
	}
	if len(entries) > maxFilesPerDir {
		l.errorf(zones.Position{File: l.path(ZonesDir)}, RuleLayout, "more than %d files", maxFilesPerDir)
		return
	}
	blobs, _ := l.fsys.(BlobFS)
	var jobs []*zoneJob
	seen := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		rel := ZonesDir + "/" + name
		pos := zones.Position{File: l.path(rel)}
		if e.IsDir() {
			l.warnf(pos, RuleZoneFileName, "folder ignored: zone files are zones/<origin>zone, e.g. zones/corp.internal.zone")
			continue
		}
		origin, ok := originFromFileName(name)
		if !ok {
			l.warnf(pos, RuleZoneFileName, "file ignored: zone files are named after their origin with its final dot, e.g. zones/corp.internal.zone")
			continue
		}
		if other, dup := seen[origin]; dup {
			l.errorf(pos, RuleZoneFileName, "zone %s is also in %s", origin, other)
			continue
		}
		seen[origin] = pos.File
		blob := ""
		if blobs != nil {
			blob, _ = blobs.Blob(rel)
		}
		bf := l.baseZoneFile(pos.File)
		if bf != nil && blob != "" && bf.Blob == blob {
			jobs = append(jobs, &zoneJob{origin: origin, rel: pos.File, file: bf, reused: true})
			continue
		}
		data, ok := l.read(rel, maxZoneFileSize, false)
		if !ok {
			continue
		}
		var prev *zones.Zone
		if bf != nil {
			prev = bf.Zone
		}
		jobs = append(jobs, &zoneJob{origin: origin, rel: pos.File, data: data, file: &model.ZoneFile{Blob: blob}, prev: prev})
	}
	// Parse and lint in parallel: zone files are independent and large
	// repos hold millions of records.
	lp := zones.LintPolicy{MinTTL: rev.Policy.MinTTL, MaxTTL: rev.Policy.MaxTTL}
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	var wg sync.WaitGroup
	next := make(chan *zoneJob)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				j.run(lp)
			}
		}()
	}
	for _, j := range jobs {
		next <- j
	}
	close(next)
	wg.Wait()
	rev.ZoneFiles = make(map[string]*model.ZoneFile, len(jobs))
	for _, j := range jobs {
		rev.ZoneFiles[j.rel] = j.file
		l.findings = append(l.findings, j.file.Findings...)
		if j.file.Zone != nil {
			rev.Zones = append(rev.Zones, j.file.Zone)
		}
	}
	sort.Slice(rev.Zones, func(i, j int) bool { return rev.Zones[i].Origin() < rev.Zones[j].Origin() })
	if len(jobs) == 0 {
		l.errorf(zones.Position{File: l.path(ZonesDir)}, RuleLayout, "no zone file (zones/<origin>zone, e.g. zones/corp.internal.zone)")
	}
}

// baseZoneFile returns what the base revision loaded from the zone file at
// path file, or nil.
func (l *loader) baseZoneFile(file string) *model.ZoneFile {
	if l.base == nil {
		return nil
	}
	return l.base.ZoneFiles[file]
}

// run parses and lints the job's file, or lints base's again when the TTL
// bounds changed (a copy: base's entry is shared and stays as it is).
func (j *zoneJob) run(lp zones.LintPolicy) {
	if j.reused {
		if j.file.LintPolicy != lp && j.file.Zone != nil {
			zf := *j.file
			zf.Lint, zf.LintPolicy = zones.Lint(zf.Zone, lp), lp
			j.file = &zf
		}
		return
	}
	j.file.Zone, j.file.Findings = zones.ParseAgainst(j.rel, j.origin, j.data, j.prev)
	j.data, j.prev = nil, nil
	if j.file.Zone != nil {
		j.file.Lint, j.file.LintPolicy = zones.Lint(j.file.Zone, lp), lp
	}
}

// originFromFileName maps "corp.internal.zone" to "corp.internal.".
func originFromFileName(name string) (string, bool) {
	if !strings.HasSuffix(name, ".zone") || len(name) <= len(".zone") {
		return "", false
	}
	o := strings.TrimSuffix(name, "zone")
	z, ok := normalizeName(o)
	if !ok || z == "." {
		return "", false
	}
	return z, true
}

func (l *loader) loadFallback(rev *model.Revision) {
	data, ok := l.read(FallbackFile, maxRecordFileSize, true)
	if !ok {
		return
	}
	recs, fs := parseRecordFile(l.path(FallbackFile), data)
	l.findings = append(l.findings, fs...)
	rev.Fallback = recs
}

func (l *loader) loadRootHints(rev *model.Revision) {
	if rev.Policy.RootHintsFile == "" {
		return
	}
	data, ok := l.read(rev.Policy.RootHintsFile, maxRecordFileSize, false)
	if !ok {
		return
	}
	file := l.path(rev.Policy.RootHintsFile)
	recs, fs := parseRecordFile(file, data)
	l.findings = append(l.findings, fs...)
	for _, r := range recs {
		rev.RootHints = append(rev.RootHints, r.RR)
	}
	l.findings = append(l.findings, checkRootHints(file, recs)...)
}

func checkRootHints(file string, recs []model.Record) []zones.Finding {
	var out []zones.Finding
	addrs := map[string]bool{}
	var ns []model.Record
	for _, r := range recs {
		switch rr := r.RR.(type) {
		case *dns.NS:
			if rr.Hdr.Name != "." {
				out = append(out, zones.Finding{Pos: r.Pos, Rule: RuleRootHints, Msg: fmt.Sprintf("NS record for %s: root hints hold NS records of the root (.) only", rr.Hdr.Name)})
				continue
			}
			ns = append(ns, r)
		case *dns.A, *dns.AAAA:
			addrs[dnsname.Lower(rr.Header().Name)] = true
		default:
			out = append(out, zones.Finding{Pos: r.Pos, Rule: RuleRootHints, Msg: fmt.Sprintf("%s record: root hints hold NS, A and AAAA records only", dns.TypeToString[r.RR.Header().Rrtype])})
		}
	}
	if len(ns) == 0 {
		out = append(out, zones.Finding{Pos: zones.Position{File: file}, Rule: RuleRootHints, Msg: "no NS record for the root (.)"})
	}
	for _, r := range ns {
		t := dnsname.Lower(r.RR.(*dns.NS).Ns)
		if !addrs[t] {
			out = append(out, zones.Finding{Pos: r.Pos, Rule: RuleRootHints, Msg: fmt.Sprintf("root server %s has no A or AAAA record in the hints", t)})
		}
	}
	return out
}

var lineInErrRE = regexp.MustCompile(` at line: (\d+):(\d+)$`)

// parseRecordFile reads a small RFC 1035 master file whose owner names are
// all absolute (fallback.zone, root hints), keeping the position of every
// record. $ORIGIN, $INCLUDE and $GENERATE are refused; $TTL is honoured.
func parseRecordFile(file string, data []byte) ([]model.Record, []zones.Finding) {
	var recs []model.Record
	var out []zones.Finding
	add := func(line, col int, rule, msg string) {
		out = append(out, zones.Finding{Pos: zones.Position{File: file, Line: line, Col: col}, Rule: rule, Msg: msg})
	}
	errf := func(line, col int, format string, args ...any) {
		add(line, col, RuleRecordSyntax, fmt.Sprintf(format, args...))
	}
	var defTTL uint32 = 3600
	prevOwner := ""
	for _, e := range splitEntries(data) {
		text := e.text
		trimmed := strings.TrimLeft(text, " \t")
		if strings.HasPrefix(trimmed, "$") {
			fields := strings.Fields(trimmed)
			switch strings.ToUpper(fields[0]) {
			case "$TTL":
				if len(fields) != 2 {
					errf(e.line, e.col, "$TTL needs one value")
					continue
				}
				ttl, ok := parseTTL(fields[1])
				if !ok {
					errf(e.line, e.col, "$TTL %q is not a TTL", fields[1])
					continue
				}
				defTTL = ttl
			default:
				errf(e.line, e.col, "%s is not allowed here: write every record with its absolute owner name", fields[0])
			}
			continue
		}
		if e.col > 1 {
			if prevOwner == "" {
				errf(e.line, e.col, "record without an owner name")
				continue
			}
			text = prevOwner + " " + trimmed
		}
		zp := dns.NewZoneParser(strings.NewReader(text), "", file)
		zp.SetDefaultTTL(defTTL)
		rr, ok := zp.Next()
		if err := zp.Err(); err != nil {
			line, col := e.line, 1
			msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), file+": "), "dns: ")
			if m := lineInErrRE.FindStringSubmatch(msg); m != nil {
				dl, _ := strconv.Atoi(m[1])
				dc, _ := strconv.Atoi(m[2])
				line = e.line + dl - 1
				if dl == 1 {
					col = dc
				}
				msg = msg[:len(msg)-len(m[0])]
			}
			if strings.Contains(msg, "bad owner name") || strings.Contains(msg, "bad ") && strings.Contains(msg, "Ns") {
				msg += " (names must be absolute: end them with a dot)"
			}
			errf(line, col, "%s", msg)
			continue
		}
		if !ok {
			continue
		}
		if _, more := zp.Next(); more {
			errf(e.line, e.col, "more than one record on one entry")
			continue
		}
		if rr.Header().Name == "" {
			// "( A )": the parenthesis opens the entry, so the parser
			// takes the owner as blank, and there is none before it.
			errf(e.line, e.col, "record without an owner name")
			continue
		}
		if msg := zones.NameNotASCII(rr.Header().Name); msg != "" {
			add(e.line, e.col, zones.RuleNameNotASCII, msg)
			continue
		}
		rr.Header().Name = dnsname.Lower(rr.Header().Name)
		prevOwner = rr.Header().Name
		recs = append(recs, model.Record{RR: rr, Pos: zones.Position{File: file, Line: e.line, Col: 1}})
	}
	return recs, out
}

type entry struct {
	text      string
	line, col int
}

// splitEntries splits master-file text into logical entries (one record or
// directive each), joining parenthesised continuation lines and dropping
// comments, and remembers the line and column each entry starts at.
func splitEntries(data []byte) []entry {
	var out []entry
	var cur strings.Builder
	depth, line := 0, 1
	inQuote, escaped := false, false
	startLine, startCol := 0, 0
	col := 0
	flush := func() {
		if startLine != 0 && strings.TrimSpace(cur.String()) != "" {
			out = append(out, entry{text: cur.String(), line: startLine, col: startCol})
		}
		cur.Reset()
		startLine, startCol = 0, 0
	}
	inComment := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		col++
		if c == '\n' {
			inComment = false
			line++
			col = 0
			if depth == 0 && !inQuote {
				flush()
				continue
			}
			cur.WriteByte(' ')
			continue
		}
		if inComment {
			continue
		}
		if escaped {
			escaped = false
			cur.WriteByte(c)
			continue
		}
		switch {
		case c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == ';':
			inComment = true
			continue
		case c == '(':
			depth++
		case c == ')':
			if depth > 0 {
				depth--
			}
		}
		if startLine == 0 && c != ' ' && c != '\t' && c != '\r' {
			startLine, startCol = line, col
		}
		cur.WriteByte(c)
	}
	flush()
	return out
}

func (l *loader) loadProbes(rev *model.Revision) {
	data, ok := l.read(ProbesFile, maxYAMLSize, true)
	if !ok {
		return
	}
	probes, fs := ParseProbes(l.path(ProbesFile), data)
	l.findings = append(l.findings, fs...)
	rev.Probes = probes
}

// ParseProbes decodes probes.yaml. file is the path used in findings.
func ParseProbes(file string, data []byte) ([]model.Probe, []zones.Finding) {
	d := &ydec{file: file}
	root := d.parse(data)
	if root == nil {
		return nil, d.findings
	}
	var probes []model.Probe
	names := map[string]bool{}
	d.mapping(root, "probes file", map[string]field{
		"probes": {fn: func(v *yaml.Node) {
			d.seq(v, "probes", func(i int, item *yaml.Node) {
				p := model.Probe{Pos: d.pos(item), Type: dns.TypeA, Rcode: dns.RcodeSuccess}
				what := fmt.Sprintf("probes[%d]", i)
				d.mapping(item, what, map[string]field{
					"name": {required: true, fn: func(v *yaml.Node) {
						if s, ok := d.str(v, "probe name"); ok {
							if s == "" {
								d.errorf(v, RuleProbeSyntax, "probe name is empty")
							} else if names[s] {
								d.errorf(v, RuleProbeSyntax, "probe name %q used twice", s)
							}
							names[s] = true
							p.Name = s
						}
					}},
					"query": {required: true, fn: func(v *yaml.Node) {
						if s, ok := d.str(v, "probe query"); ok {
							if !strings.HasSuffix(s, ".") {
								d.errorf(v, RuleProbeSyntax, "probe query %q must be an absolute name (end it with a dot)", s)
								return
							}
							q, ok := normalizeName(s)
							if !ok {
								d.errorf(v, RuleProbeSyntax, "probe query %q is not a domain name", s)
								return
							}
							p.Query = q
						}
					}},
					"type": {fn: func(v *yaml.Node) {
						if s, ok := d.str(v, "probe type"); ok {
							t, ok := dns.StringToType[strings.ToUpper(s)]
							if !ok || t == dns.TypeANY || t == dns.TypeAXFR || t == dns.TypeIXFR || t == dns.TypeOPT {
								d.errorf(v, RuleProbeSyntax, "probe type %q is not a query type a probe can ask", s)
								return
							}
							p.Type = t
						}
					}},
					"gate": {fn: func(v *yaml.Node) {
						if b, ok := d.boolean(v, "gate"); ok {
							p.Gate = b
						}
					}},
					"expect": {fn: func(v *yaml.Node) {
						d.mapping(v, what+".expect", map[string]field{
							"rcode": {fn: func(v *yaml.Node) {
								if s, ok := d.str(v, "expect.rcode"); ok {
									rc, ok := dns.StringToRcode[strings.ToUpper(s)]
									if !ok || rc > 15 {
										d.errorf(v, RuleProbeSyntax, "expect.rcode %q is not an rcode (NOERROR, NXDOMAIN, SERVFAIL, REFUSED...)", s)
										return
									}
									p.Rcode = rc
								}
							}},
							"answers": {fn: func(v *yaml.Node) {
								d.seq(v, "expect.answers", func(j int, a *yaml.Node) {
									if s, ok := d.scalarText(a, "expected answer"); ok {
										if strings.TrimSpace(s) == "" {
											d.errorf(a, RuleProbeSyntax, "expected answer is empty")
											return
										}
										p.Expect = append(p.Expect, s)
										p.ExpectPos = append(p.ExpectPos, d.pos(a))
									}
								})
							}},
						})
					}},
				})
				for j, a := range p.Expect {
					if msg := checkExpectedAnswer(p.Type, a); msg != "" {
						d.findings = append(d.findings, zones.Finding{Pos: p.ExpectPos[j], Rule: RuleProbeSyntax, Msg: msg})
					}
				}
				if len(p.Expect) > 0 && p.Rcode != dns.RcodeSuccess {
					d.errorf(item, RuleProbeSyntax, "probe %q expects answers with rcode %s: answers come only with NOERROR", p.Name, dns.RcodeToString[p.Rcode])
				}
				probes = append(probes, p)
			})
		}},
	})
	return probes, d.findings
}

// checkExpectedAnswer checks the rdata text of an expected answer for the
// types whose rdata is an address.
func checkExpectedAnswer(t uint16, s string) string {
	switch t {
	case dns.TypeA:
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			return fmt.Sprintf("expected answer %q is not an IPv4 address (the probe type is A)", s)
		}
	case dns.TypeAAAA:
		if a, err := netip.ParseAddr(s); err != nil || !a.Is6() || a.Is4In6() {
			return fmt.Sprintf("expected answer %q is not an IPv6 address (the probe type is AAAA)", s)
		}
	}
	return ""
}

// crossRefs checks references between files: zones named by clusters.
func (l *loader) crossRefs(rev *model.Revision) {
	have := map[string]bool{}
	for _, z := range rev.Zones {
		have[z.Origin()] = true
	}
	for _, c := range rev.Clusters {
		for i, z := range c.Zones {
			if !have[z] {
				l.errorf(c.ZonesPos[i], RuleZoneRef, "cluster %s serves zone %s but there is no zones/%szone", c.Name, z, z)
			}
		}
	}
}

// parseTTL reads the $TTL of fallback.zone: zones.ParseTTL, bounded to
// 32 characters and to 2^31-1 seconds (RFC 2181 section 8).
func parseTTL(s string) (uint32, bool) {
	if len(s) > 32 {
		return 0, false
	}
	ttl, ok := zones.ParseTTL(s)
	if !ok || ttl > 1<<31-1 {
		return 0, false
	}
	return ttl, true
}
