package cluster

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gitops-dns/resolverd/cluster/gittree"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/resolver/dnssec"

	"github.com/gitops-dns/resolverd/zones"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/miekg/dns"
)

func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return m
}

func TestLoadGood(t *testing.T) {
	rev, fs := Load(mapFS(goodRepo), "config")
	if len(fs) != 0 {
		t.Fatalf("unexpected findings:\n%s", findingStrings(fs))
	}
	if got := len(rev.Clusters); got != 3 || rev.Clusters[0].Name != "eu-west" {
		t.Fatalf("clusters = %d, first %q", got, rev.Clusters[0].Name)
	}
	if len(rev.Zones) != 2 || rev.Zones[0].Origin() != "18.198.in-addr.arpa." {
		t.Fatalf("zones: %v", rev.Zones)
	}
	us := rev.ClusterByName("us-east")
	if us.Pos.File != "config/clusters/us-east.yaml" {
		t.Errorf("cluster pos %v", us.Pos)
	}
	fw := us.Forward[0]
	if fw.Zone != "partner.example." || len(fw.To) != 2 || fw.To[0].String() != "198.18.9.1:53" || fw.To[1].String() != "198.18.9.2:5353" {
		t.Errorf("forward = %+v", fw)
	}
	if fw.Pos.Line != 9 || fw.Pos.Col != 5 {
		t.Errorf("forward pos = %v", fw.Pos)
	}
	if len(rev.Fallback) != 2 || rev.Fallback[1].Pos.Line != 3 || rev.Fallback[1].RR.Header().Name != "ct.log.example." {
		t.Errorf("fallback = %+v", rev.Fallback)
	}
	if len(rev.Probes) != 2 || rev.Probes[1].Rcode != dns.RcodeNameError || !rev.Probes[0].Gate {
		t.Errorf("probes = %+v", rev.Probes)
	}
	if rev.Policy.FallbackTTL != 30 || rev.Policy.MinTTL != model.DefaultMinTTL || rev.Policy.MaxTTL != model.DefaultMaxTTL {
		t.Errorf("policy = %+v", rev.Policy)
	}
}

// TestLoadExample: the project's example config repo loads and passes every
// rule.
func TestLoadExample(t *testing.T) {
	const dir = "../examples/dns-config"
	if _, err := os.Stat(dir); err != nil {
		t.Skip("example config repo not present")
	}
	rev, fs := Load(os.DirFS(dir), "examples/dns-config")
	fs = append(fs, Check(rev, nil)...)
	if zones.HasErrors(fs) {
		t.Fatalf("example has errors:\n%s", findingStrings(fs))
	}
	if len(rev.Clusters) == 0 || len(rev.Zones) == 0 {
		t.Fatalf("example loaded empty: %+v", rev)
	}
}

func TestLoadCommit(t *testing.T) {
	r := newTestRepo(t)
	h1 := r.commit("first", prefixed("dns", goodRepo))
	// The working folder changes after the commit: LoadCommit must not see it.
	if err := os.WriteFile(r.dir+"/dns/policy.yaml", []byte("bogus: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rev, fs, err := LoadCommit(r.repo, h1, "dns")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 0 {
		t.Fatalf("findings:\n%s", findingStrings(fs))
	}
	if rev.ID != h1.String() || rev.Message != "first" || rev.Dir != "dns" {
		t.Errorf("id %q message %q dir %q", rev.ID, rev.Message, rev.Dir)
	}
	if z := rev.Zone("corp.example"); z == nil || z.File() != "dns/zones/corp.example.zone" {
		t.Errorf("zone file = %v", z)
	}
	if _, _, err := LoadCommit(r.repo, h1, "nope"); err == nil {
		t.Error("LoadCommit of a missing folder: want an error")
	}
	if _, _, err := LoadCommit(r.repo, plumbing.NewHash("0123456789abcdef0123456789abcdef01234567"), "dns"); err == nil {
		t.Error("LoadCommit of a missing commit: want an error")
	}
}

func TestNewSnapshot(t *testing.T) {
	rev, fs := Load(mapFS(goodRepo), "")
	if len(fs) != 0 {
		t.Fatal(findingStrings(fs))
	}
	s, err := node.NewSnapshot(rev, "eu-west", "ns2")
	if err != nil {
		t.Fatal(err)
	}
	if s.Node.Name != "ns2" || s.Node.Address.String() != "198.18.2.2" {
		t.Errorf("node %+v", s.Node)
	}
	if got := len(s.Authority.Zones()); got != 1 {
		t.Errorf("eu-west serves %d zones, want 1", got)
	}
	if s.Authority.Match("db.corp.example.") == nil || s.Authority.Match("10.5.18.198.in-addr.arpa.") != nil {
		t.Error("authority serves the wrong zones")
	}
	if len(s.RootHints) != 39 {
		t.Errorf("root hints: %d records", len(s.RootHints))
	}
	fb := s.Fallback["db.corp.example."]
	if len(fb) != 1 || fb[0].Header().Ttl != 30 {
		t.Errorf("fallback %v", fb)
	}
	if rev.Fallback[0].RR.Header().Ttl != 300 {
		t.Error("NewSnapshot modified the revision's records")
	}
	if _, err := node.NewSnapshot(rev, "nope", "ns1"); err == nil {
		t.Error("unknown cluster: want error")
	} else if want := "(clusters: " + strings.Join(rev.ClusterNames(), ", ") + ")"; len(rev.Clusters) < 2 || !strings.Contains(err.Error(), want) || !strings.Contains(want, "eu-west") {
		t.Errorf("unknown cluster: %v, want it to list the clusters %s", err, want)
	}
	if _, err := node.NewSnapshot(rev, "eu-west", "ns9"); err == nil {
		t.Error("unknown node: want error")
	}
}

// TestTreeFS checks the git-tree file system against the fs.FS contract.
func TestTreeFS(t *testing.T) {
	r := newTestRepo(t)
	h := r.commit("tree", prefixed("dns", goodRepo))
	c, err := r.repo.CommitObject(h)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := tree.Tree("dns")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := range goodRepo {
		names = append(names, k)
	}
	if err := fstest.TestFS(gittree.TreeFS(sub), names...); err != nil {
		t.Fatal(err)
	}
}

// TestAliasBomb: aliases that expand a small file into a huge tree are
// refused quickly instead of walked.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: us-east\nenvironment: production\nnodes: [{name: a, address: 198.18.1.1}]\nt: &t [")
	for i := range 1000 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "198.18.9.%d", i%250+1)
	}
	b.WriteString("]\nforward:\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  - {zone: z%d.example., to: *t}\n", i)
	}
	_, fs := ParseCluster("clusters/us-east.yaml", []byte(strings.Replace(b.String(), "\nt: &t", "\nx-anchor: &t", 1)))
	found := false
	for _, f := range fs {
		found = found || strings.Contains(f.Msg, "too large once aliases are expanded")
	}
	if !found {
		t.Fatalf("no budget finding among %d findings:\n%s", len(fs), findingStrings(fs[:min(5, len(fs))]))
	}
}

// TestTrustAnchors: a repo's trust anchor file is what the node validates
// with; without one the IANA root KSKs are.
func TestTrustAnchors(t *testing.T) {
	rev, fs := Load(mapFS(with(goodRepo, map[string]string{
		"policy.yaml": "dnssec:\n  trust_anchors: ta.zone\n  negative_trust_anchors: [Corp.Example.]\n",
		"ta.zone":     "; the lab's own root\n. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF\n",
	})), "")
	if zones.HasErrors(fs) {
		t.Fatalf("findings:\n%s", findingStrings(fs))
	}
	if !rev.Policy.DNSSEC.Validation || len(rev.Policy.DNSSEC.NegativeTrustAnchors) != 1 || rev.Policy.DNSSEC.NegativeTrustAnchors[0] != "corp.example." {
		t.Errorf("dnssec policy: %+v", rev.Policy.DNSSEC)
	}
	a, err := dnssec.AnchorsOrRoot(rev.TrustAnchors)
	if err != nil {
		t.Fatal(err)
	}
	if ds := a.At("."); len(ds) != 1 || ds[0].KeyTag != 12345 {
		t.Errorf("anchors: %v", ds)
	}
	rev, _ = Load(mapFS(goodRepo), "")
	a, err = dnssec.AnchorsOrRoot(rev.TrustAnchors)
	if err != nil {
		t.Fatal(err)
	}
	if ds := a.At("."); len(ds) != 2 {
		t.Errorf("built-in anchors: %v", ds)
	}
	if p, _ := ParsePolicy("policy.yaml", []byte("dnssec:\n  validation: false\n")); p.DNSSEC.Validation {
		t.Error("validation: false was not honoured")
	}
}
