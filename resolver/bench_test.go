package resolver

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkCacheHit measures Resolve answering from the cache (an A RRset
// of two records, the W2 shape).
func BenchmarkCacheHit(b *testing.B) {
	e := newEnv(b, func(f *fakeNet) {
		f.set("127.0.1.1", zone(b, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(b, "example.com.", "www 3600 A 192.0.2.1\nwww 3600 A 192.0.2.2\nalias 3600 CNAME www"))
	}, nil)
	for _, name := range []string{"www.example.com.", "alias.example.com."} {
		q := dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}
		if m, err := e.r.Resolve(context.Background(), q); err != nil || len(m.Answer) == 0 {
			b.Fatal(err, m)
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				m, _ := e.r.Resolve(ctx, q)
				if len(m.Answer) == 0 {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkCacheHitParallel is the same from every core.
func BenchmarkCacheHitParallel(b *testing.B) {
	e := newEnv(b, func(f *fakeNet) {
		f.set("127.0.1.1", zone(b, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(b, "example.com.", "www 3600 A 192.0.2.1"))
	}, nil)
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	e.r.Resolve(context.Background(), q)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e.r.Resolve(context.Background(), q)
		}
	})
}

// BenchmarkMemoryPerRRset reports the heap held per cached RRset (one A
// record, a typical external answer) with the cache holding 100,000 of
// them; held-B/rrset is what goes with the resolver, beside the cache's own
// estimate (entrySize). (B/rrset is lower: the outcomes the entries were
// stored from are freed during its measurement.)
func BenchmarkMemoryPerRRset(b *testing.B) {
	const n = 100000
	for i := 0; i < b.N; i++ {
		r, err := New(Config{RootHints: mustRRs(b, ".", ". NS a.root.test.\na.root.test. A 127.0.0.1"), Transport: newFakeNet(), HealthInterval: -1, CacheSize: n, QueryLocalhost: true})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		// Built outside the measurement: what a reply would hold.
		outs := make([]*outcome, n)
		for j := range outs {
			rr, _ := dns.NewRR(fmt.Sprintf("host%d.example%d.com. 3600 IN A 192.0.2.%d", j, j%100, j%250))
			outs[j] = &outcome{chain: []dns.RR{rr}, status: statusAnswer}
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for _, o := range outs {
			r.store(o, dns.TypeA, now)
		}
		outs = nil
		runtime.GC()
		runtime.ReadMemStats(&after)
		if r.c.rr.Len() != n {
			b.Fatalf("cache holds %d", r.c.rr.Len())
		}
		// The records themselves were allocated before: count them in.
		rec := recordSize(b)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n+rec, "B/rrset")
		// What the cache holds, records included (nothing else refers to
		// them now): the heap that goes when the resolver does; beside it,
		// the cache's own estimate (coredns_recursor_cache_bytes).
		_, est := r.CacheUsage()
		r.Close()
		r = nil
		runtime.GC()
		var gone runtime.MemStats
		runtime.ReadMemStats(&gone)
		b.ReportMetric(float64(after.HeapAlloc-gone.HeapAlloc)/n, "held-B/rrset")
		b.ReportMetric(float64(est)/n, "estimated-B/rrset")
	}
}

// recordSize is the heap of one parsed A record (kept by the cache).
func recordSize(b *testing.B) float64 {
	const n = 10000
	rrs := make([]dns.RR, n)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for j := range rrs {
		rrs[j], _ = dns.NewRR(fmt.Sprintf("host%d.example%d.com. 3600 IN A 192.0.2.%d", j, j%100, j%250))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(rrs)
	return float64(after.HeapAlloc-before.HeapAlloc) / n
}
