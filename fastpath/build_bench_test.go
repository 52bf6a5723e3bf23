package fastpath

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/internal/zonetest"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/zones"
)

// zone10k is shaped like the benchmark kit's corp.internal. (10,000
// records: A 4000, AAAA 2000, CNAME 1500, SRV 1000, TXT 1500).
func zone10k(t testing.TB) *node.Snapshot {
	var b strings.Builder
	b.WriteString("$ORIGIN corp.internal.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\n@ IN NS ns2\nns1 IN A 198.18.0.1\nns2 IN A 198.18.0.2\n")
	for i := 0; i < 4000; i++ {
		fmt.Fprintf(&b, "host-%04d.dc%d IN A 10.%d.%d.%d\n", i, i%3, i%250, i/250, i%200+1)
	}
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&b, "host-%04d.dc%d IN AAAA 2001:db8::%x\n", i, i%3, i+1)
	}
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&b, "alias-%04d IN CNAME host-%04d.dc%d\n", i, i, i%3)
	}
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "_svc%d._tcp IN SRV 10 5 %d host-%04d.dc%d\n", i, 1000+i, i, i%3)
	}
	for i := 0; i < 1500; i++ {
		fmt.Fprintf(&b, "txt-%04d IN TXT \"v=spf1 include:_spf.corp.internal ~all\" \"id=%d\"\n", i, i)
	}
	z, findings := zones.Parse("corp.internal.zone", "corp.internal.", []byte(b.String()))
	for _, f := range findings {
		if f.Severity == zones.SeverityError {
			t.Fatal(f)
		}
	}
	return &node.Snapshot{Authority: zones.NewAuthority(z)}
}

// BenchmarkBuild10k: precomputing a revision's answers for a 10,000-record
// zone — time per build, and the heap it keeps (reported per record).
func BenchmarkBuild10k(b *testing.B) {
	snap := zone10k(b)
	records := snap.Authority.Zones()[0].Len()
	var kept uint64
	var responses int
	b.ReportAllocs()
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		a, err := Build(snap, BuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept = after.HeapAlloc - before.HeapAlloc
		responses = a.Responses
		runtime.KeepAlive(a)
	}
	b.ReportMetric(float64(kept)/float64(records), "heapB/record")
	b.ReportMetric(float64(responses), "responses")
}

// BenchmarkPacketCacheMemory: heap per cached response of one A record
// (what a W2-style key costs in the packet cache, on top of the resolver's
// RRset cache).
func BenchmarkPacketCacheMemory(b *testing.B) {
	const n = 20000
	var perEntry float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := NewPacketCache(n)
		for i := 0; i < n; i++ {
			qm := query(fmt.Sprintf("host-%05d.example.com.", i), 1, false, false)
			qm.RecursionDesired = true
			var q Query
			q.Parse(pack(b, qm))
			admit(c, &q, response(b, qm, 0, false, qm.Question[0].Name+" 300 IN A 192.0.2.1"), c.Generation())
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perEntry = float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perEntry, "heapB/entry")
}

// zone100k is a zone of 100,000 records, one owner each
// (zonetest.Mixed); changed is the address of h50018, the target of
// c50019's CNAME.
func zone100k(t testing.TB, serial int, changed string) *zones.Zone {
	z, findings := zones.Parse("big.example.zone", "big.example.", []byte(zonetest.Mixed("big.example.", 100_000, serial, 50_018, changed)))
	if zones.HasErrors(findings) {
		t.Fatal(findings)
	}
	return z
}

// BenchmarkBuildFromOneRecord100k: precomputing the answers of a revision
// that changed one address (and the serial) in a zone of 100,000 owners,
// from the previous revision's answers; "scratch" is the same build
// without them.
func BenchmarkBuildFromOneRecord100k(b *testing.B) {
	prevSnap := &node.Snapshot{Authority: zones.NewAuthority(zone100k(b, 1, "192.0.2.1"))}
	snap := &node.Snapshot{Authority: zones.NewAuthority(zone100k(b, 2, "192.0.2.2"))}
	prev, err := Build(prevSnap, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		from *Answers
	}{{"from-previous", prev}, {"scratch", nil}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := BuildFrom(tc.from, snap, BuildOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
