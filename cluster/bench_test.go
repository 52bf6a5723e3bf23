package cluster

import (
	"fmt"
	"path"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gittree"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/zonetest"

	"github.com/gitops-dns/resolverd/zones"
	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

// bigRepo generates a config repo with nZones zones holding perZone
// records each (A, AAAA, CNAME, TXT and MX, in equal shares) and a few
// clusters. serial is the SOA serial of every zone; bump, when >= 0, names
// a zone whose first data record differs (so it changed against a repo
// generated with bump -1).
func bigRepo(nZones, perZone int, serial uint32, bump int) fstest.MapFS {
	m := fstest.MapFS{}
	for c := 0; c < 4; c++ {
		env := "production"
		if c == 0 {
			env = "staging"
		}
		m[fmt.Sprintf("clusters/dc%d.yaml", c)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"name: dc%d\nenvironment: %s\nnodes:\n  - {name: ns1, address: 198.18.%d.1}\n  - {name: ns2, address: 198.18.%d.2}\nforward:\n  - zone: partner%d.example.\n    to: [198.18.%d.1]\n",
			c, env, c, c, c, (c+1)%4))}
	}
	for z := 0; z < nZones; z++ {
		origin := fmt.Sprintf("z%03d.corp.example.", z)
		var b strings.Builder
		b.Grow(perZone * 48)
		fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 3600\n@ IN SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ IN NS ns1\n@ IN NS ns2\nns1 IN A 198.18.0.1\nns2 IN A 198.18.0.2\n", origin, serial)
		first := 0
		if z == bump {
			first = 1
		}
		for i := 5; i < perZone; i++ {
			switch i % 5 {
			case 0:
				fmt.Fprintf(&b, "h%d IN A 198.18.%d.%d\n", i, (i/250)%256, i%250+first)
			case 1:
				fmt.Fprintf(&b, "h%d IN AAAA 2001:db8::%x\n", i-1, i)
			case 2:
				fmt.Fprintf(&b, "c%d IN CNAME h%d\n", i, i-2)
			case 3:
				fmt.Fprintf(&b, "h%d IN TXT \"record %d\"\n", i-3, i)
			case 4:
				fmt.Fprintf(&b, "m%d IN MX 10 h%d\n", i, i-4)
			}
		}
		m["zones/"+origin+"zone"] = &fstest.MapFile{Data: []byte(b.String())}
	}
	return m
}

func countRecords(rev *model.Revision) int {
	n := 0
	for _, z := range rev.Zones {
		n += z.Len()
	}
	return n
}

// BenchmarkLoadCheck1M loads and checks a generated repo of 100 zones and
// 1,000,000 records, alone (as dnsctl check of a first revision does).
func BenchmarkLoadCheck1M(b *testing.B) {
	fsys := bigRepo(100, 10_000, 1, -1)
	b.ReportAllocs()
	var rev *model.Revision
	for b.Loop() {
		var fs []zones.Finding
		rev, fs = Load(fsys, "")
		if zones.HasErrors(fs) {
			b.Fatal(findingStrings(fs[:min(len(fs), 5)]))
		}
		if n := countRecords(rev); n != 1_000_000 {
			b.Fatalf("%d records", n)
		}
		fs = Check(rev, nil)
		if zones.HasErrors(fs) {
			b.Fatal(findingStrings(fs[:min(len(fs), 5)]))
		}
	}
	reportRetained(b, rev)
}

// reportRetained reports the heap a loaded revision keeps alive.
func reportRetained(b *testing.B, rev *model.Revision) {
	b.StopTimer()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
	runtime.KeepAlive(rev)
}

// BenchmarkLoadCheckBase1M is the CI case: load and check the head
// revision against its base (loaded once, outside the timing), where one
// zone of 100 changed.
func BenchmarkLoadCheckBase1M(b *testing.B) {
	base, fs := Load(bigRepo(100, 10_000, 1, -1), "")
	if zones.HasErrors(fs) {
		b.Fatal(findingStrings(fs))
	}
	head := bigRepo(100, 10_000, 1, 42)
	for k, v := range head {
		if !strings.HasPrefix(k, "zones/z042") {
			continue
		}
		v.Data = []byte(strings.Replace(string(v.Data), "hostmaster 1 ", "hostmaster 2 ", 1))
	}
	b.ReportAllocs()
	for b.Loop() {
		rev, fs := Load(head, "")
		fs = append(fs, Check(rev, base)...)
		if zones.HasErrors(fs) {
			b.Fatal(findingStrings(fs[:min(len(fs), 5)]))
		}
	}
}

// TestBigRepoSmall runs the generator and both paths on a small repo, so
// the benchmark's fixture is known to be valid without running it.
func TestBigRepoSmall(t *testing.T) {
	base, fs := Load(bigRepo(3, 200, 1, -1), "")
	fs = append(fs, Check(base, nil)...)
	if zones.HasErrors(fs) {
		t.Fatal(findingStrings(fs))
	}
	if n := countRecords(base); n != 600 {
		t.Fatalf("%d records", n)
	}
	head := bigRepo(3, 200, 2, 1)
	rev, fs := Load(head, "")
	fs = append(fs, Check(rev, base)...)
	if zones.HasErrors(fs) {
		t.Fatal(findingStrings(fs))
	}
}

// BenchmarkLoadCommitCheck1M is BenchmarkLoadCheck1M through git: the
// generated repo is committed (go-git, in memory) and each iteration reads
// the commit's tree, parses and checks it, as dnsctl check does.
func BenchmarkLoadCommitCheck1M(b *testing.B) {
	repo, wt := memRepo(b)
	h := commitFiles(b, repo, wt, bigRepo(100, 10_000, 1, -1))
	b.ReportAllocs()
	var rev *model.Revision
	for b.Loop() {
		var fs []zones.Finding
		var err error
		rev, fs, err = LoadCommit(repo, h, "cfg")
		if err != nil {
			b.Fatal(err)
		}
		fs = append(fs, Check(rev, nil)...)
		if zones.HasErrors(fs) || countRecords(rev) != 1_000_000 {
			b.Fatal(findingStrings(fs[:min(len(fs), 5)]))
		}
	}
	reportRetained(b, rev)
}

// BenchmarkCheckAgainstBase1M is dnsctl check --base (and the node's
// apply) of a commit that changes one zone of 100 in a 1,000,000-record
// repo: the head loaded whole and checked against the base (whole), or
// loaded against the base, sharing what its unchanged blobs gave
// (against-base). The base is loaded outside the timing.
func BenchmarkCheckAgainstBase1M(b *testing.B) {
	repo, wt := memRepo(b)
	bh := commitFiles(b, repo, wt, bigRepo(100, 10_000, 1, -1))
	head := bigRepo(100, 10_000, 1, 42)
	for k, v := range head {
		if strings.HasPrefix(k, "zones/z042") {
			v.Data = []byte(strings.Replace(string(v.Data), "hostmaster 1 ", "hostmaster 2 ", 1))
		}
	}
	hh := commitFiles(b, repo, wt, head)
	base, fs, err := LoadCommit(repo, bh, "cfg")
	if err != nil || zones.HasErrors(fs) {
		b.Fatal(err, findingStrings(fs))
	}
	for _, tc := range []struct {
		name string
		from *model.Revision
	}{{"whole", nil}, {"against-base", base}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c, err := gittree.Open(repo, hh, "cfg")
				if err != nil {
					b.Fatal(err)
				}
				rev, fs := LoadAgainst(c.FS, c.Dir, tc.from)
				fs = append(fs, Check(rev, base)...)
				if zones.HasErrors(fs) || countRecords(rev) != 1_000_000 {
					b.Fatal(findingStrings(fs[:min(len(fs), 5)]))
				}
			}
		})
	}
}

// memRepo is an empty git repository in memory with its work tree.
func memRepo(b *testing.B) (*git.Repository, *git.Worktree) {
	repo, err := git.Init(memory.NewStorage(), memfs.New())
	if err != nil {
		b.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		b.Fatal(err)
	}
	return repo, wt
}

// commitFiles writes fsys under cfg/ in wt and commits it.
func commitFiles(b *testing.B, repo *git.Repository, wt *git.Worktree, fsys fstest.MapFS) plumbing.Hash {
	for name, f := range fsys {
		p := "cfg/" + name
		if err := wt.Filesystem.MkdirAll(path.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		w, err := wt.Filesystem.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(f.Data); err != nil {
			b.Fatal(err)
		}
		w.Close()
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		b.Fatal(err)
	}
	h, err := wt.Commit("generated", &git.CommitOptions{Author: &object.Signature{Name: "b", Email: "b@example.org", When: time.Unix(0, 0)}})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkCheckAllZonesChanged1M is the worst case of the base rules:
// every zone of 1,000,000 records changed (a serial bump everywhere), so
// every zone is compared record by record. Only Check is timed.
func BenchmarkCheckAllZonesChanged1M(b *testing.B) {
	base, fs := Load(bigRepo(100, 10_000, 1, -1), "")
	if zones.HasErrors(fs) {
		b.Fatal(findingStrings(fs))
	}
	head, fs := Load(bigRepo(100, 10_000, 2, -1), "")
	if zones.HasErrors(fs) {
		b.Fatal(findingStrings(fs))
	}
	b.ReportAllocs()
	for b.Loop() {
		if fs := Check(head, base); zones.HasErrors(fs) {
			b.Fatal(findingStrings(fs[:min(len(fs), 5)]))
		}
	}
}

// BenchmarkDiffOneRecord100k is dnsctl diff's plan (Diff, loads not
// timed) of a one-record change in a zone of 100,000 records (A, with a
// CNAME, MX or SRV in every tenth), the serial bumped.
func BenchmarkDiffOneRecord100k(b *testing.B) {
	zone := func(serial int, changed string) fstest.MapFS {
		return fstest.MapFS{"zones/big.example.zone": {Data: []byte(zonetest.Mixed("big.example.", 100_000, serial, 50_000, changed))}}
	}
	base, fs := Load(zone(1, "192.0.2.1"), "")
	if len(base.Zones) != 1 || base.Zones[0].Len() != 100_000 {
		b.Fatal(findingStrings(fs))
	}
	head, _ := Load(zone(2, "192.0.2.2"), "")
	b.ReportAllocs()
	for b.Loop() {
		p := Diff(base, head)
		if s := p.Summary; s.ZonesChanged != 1 || s.RecordsChanged != 2 || s.RecordsAdded+s.RecordsRemoved != 0 {
			b.Fatalf("plan: %s", s)
		}
	}
}

// BenchmarkLoadAgainstRPZ100k loads, against its base, a revision that
// changed one zone of a repo with a response policy of 100,000 rules (the
// policy file unchanged).
func BenchmarkLoadAgainstRPZ100k(b *testing.B) {
	repo, wt := memRepo(b)
	files := bigRepo(2, 1000, 1, -1)
	var p strings.Builder
	p.WriteString("$TTL 300\n$ORIGIN block.rpz.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n  NS localhost.\n")
	for i := range 100_000 {
		fmt.Fprintf(&p, "bad%d.example CNAME .\n", i)
	}
	files["policy.yaml"] = &fstest.MapFile{Data: []byte("rpz:\n  - file: policy/block.rpz\n")}
	files["policy/block.rpz"] = &fstest.MapFile{Data: []byte(p.String())}
	bh := commitFiles(b, repo, wt, files)
	head := bigRepo(2, 1000, 2, 1)
	hh := commitFiles(b, repo, wt, head)
	base, fs, err := LoadCommit(repo, bh, "cfg")
	if err != nil || zones.HasErrors(fs) {
		b.Fatal(err, findingStrings(fs))
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := gittree.Open(repo, hh, "cfg")
		if err != nil {
			b.Fatal(err)
		}
		rev, fs := LoadAgainst(c.FS, c.Dir, base)
		if zones.HasErrors(fs) || len(rev.RPZFor("dc1")) != 1 {
			b.Fatal(findingStrings(fs))
		}
	}
}
