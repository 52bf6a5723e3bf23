package resolver

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/node"
)

// scanUsage is what CacheUsage must say, by walking the cache: the entries,
// and the sum of their sizes, each size computed again.
func scanUsage(t *testing.T, c *caches) (int, int64) {
	t.Helper()
	var sum int64
	keys := c.rr.Keys()
	for _, k := range keys {
		e, ok := c.rr.Peek(k)
		if !ok {
			continue
		}
		if want := entrySize(k, e); e.size != want {
			t.Errorf("%v: size %d, recomputed %d", k, e.size, want)
		}
		sum += int64(e.size)
	}
	return len(keys), sum
}

// TestCacheUsage: the running sums CacheUsage reports (the gauges
// coredns_recursor_cache_entries and _bytes) follow every way an entry
// comes and goes: inserts, replacements, capacity evictions, flushes, the
// purge of a DNSSEC change.
func TestCacheUsage(t *testing.T) {
	for _, size := range []int{0, 3} { // default; a bound of 3 entries that evicts
		t.Run(fmt.Sprintf("cache_size %d", size), func(t *testing.T) {
			e := newEnv(t, cacheZones(t), func(c *Config) { c.CacheSize = size })
			check := func(step string) (int, int64) {
				t.Helper()
				entries, bytes := e.r.CacheUsage()
				n, sum := scanUsage(t, e.r.c)
				if entries != n || bytes != sum {
					t.Fatalf("%s: CacheUsage %d entries, %d bytes; the cache holds %d entries of %d bytes", step, entries, bytes, n, sum)
				}
				if size > 0 && entries > size {
					t.Fatalf("%s: %d entries above cache_size %d", step, entries, size)
				}
				return entries, bytes
			}
			if n, b := check("empty"); n != 0 || b != 0 {
				t.Fatalf("empty cache: %d entries, %d bytes", n, b)
			}
			for _, q := range []struct {
				name  string
				qtype uint16
			}{{"www.example.com.", dns.TypeA}, {"www.example.com.", dns.TypeAAAA}, {"a.b.example.com.", dns.TypeA}, {"nope.example.com.", dns.TypeA}} {
				if _, err := e.resolve(t, q.name, q.qtype); err != nil {
					t.Fatal(err)
				}
				if n, b := check("after " + q.name); n == 0 || b < int64(n)*lruOverhead {
					t.Fatalf("after %s: %d entries of %d bytes", q.name, n, b)
				}
			}
			// Expired and asked again: replaced, counted once.
			e.clock.Advance(90 * time.Second)
			if _, err := e.resolve(t, "www.example.com.", dns.TypeA); err != nil {
				t.Fatal(err)
			}
			check("after a replacement")
			before, _ := check("before the flush")
			if e.r.FlushCache(node.CacheFlush{Name: "www.example.com."}) == 0 {
				t.Fatal("nothing flushed")
			}
			if n, _ := check("after a flush"); n >= before {
				t.Fatalf("flush: %d entries, %d before", n, before)
			}
			e.r.FlushCache(node.CacheFlush{Name: ".", Subtree: true})
			if n, b := check("after flushing everything"); n != 0 || b != 0 {
				t.Fatalf("after flushing everything: %d entries, %d bytes", n, b)
			}
			if _, err := e.resolve(t, "www.example.com.", dns.TypeA); err != nil {
				t.Fatal(err)
			}
			e.r.c.rr.Purge() // what SetDNSSEC does on a change
			if n, b := check("after a purge"); n != 0 || b != 0 {
				t.Fatalf("after a purge: %d entries, %d bytes", n, b)
			}
		})
	}
}

// TestCacheMaxBytes: past the byte bound the least recently used entries
// go, until the estimated bytes are under it; the newest stay.
func TestCacheMaxBytes(t *testing.T) {
	var names strings.Builder
	for i := range 30 {
		fmt.Fprintf(&names, "h%d 300 A 192.0.2.%d\n", i, i+1)
	}
	world := func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example.com. NS ns.example.com.\nns.example.com. A 127.0.1.10\n"))
		f.set("127.0.1.10", zone(t, "example.com.", "@ 300 SOA ns h 1 60 60 600 60\n@ NS ns\nns A 127.0.1.10\n"+names.String()))
	}
	const bound = 4000
	e := newEnv(t, world, func(c *Config) { c.CacheMaxBytes = bound })
	for i := range 30 {
		if _, err := e.resolve(t, fmt.Sprintf("h%d.example.com.", i), dns.TypeA); err != nil {
			t.Fatal(err)
		}
		entries, bytes := e.r.CacheUsage()
		if n, sum := scanUsage(t, e.r.c); n != entries || sum != bytes {
			t.Fatalf("h%d: CacheUsage %d/%d, cache %d/%d", i, entries, bytes, n, sum)
		}
		if bytes > bound {
			t.Fatalf("h%d: %d bytes cached, above the bound of %d", i, bytes, bound)
		}
	}
	cached := func(name string) bool {
		for _, c := range e.r.InspectCache(name) {
			if c.Cache == "resolver" && c.Type == "A" {
				return true
			}
		}
		return false
	}
	if !cached("h29.example.com.") || !cached("h28.example.com.") {
		t.Fatal("the newest answers were evicted")
	}
	if cached("h0.example.com.") || cached("h10.example.com.") {
		t.Fatal("the oldest answers are still cached past the byte bound")
	}
	if entries, _ := e.r.CacheUsage(); entries >= 30 || entries < 3 {
		t.Fatalf("%d entries under a bound of %d bytes", entries, bound)
	}
}
