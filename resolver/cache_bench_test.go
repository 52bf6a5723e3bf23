package resolver

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// benchEntries are the entries BenchmarkCacheInsert stores: an A RRset of
// one record, and a signed MX RRset (two records and an RRSIG), under
// distinct names so that, past the cache size, every insert also evicts.
func benchEntries(b *testing.B, n int, signed bool) ([]rrKey, []*entry) {
	keys := make([]rrKey, n)
	entries := make([]*entry, n)
	for i := range n {
		name := fmt.Sprintf("host-%d.example.com.", i)
		var rrs, sigs []dns.RR
		if signed {
			for _, s := range []string{name + " 300 IN MX 10 mx1.example.com.", name + " 300 IN MX 20 mx2.example.com."} {
				rr, err := dns.NewRR(s)
				if err != nil {
					b.Fatal(err)
				}
				rrs = append(rrs, rr)
			}
			sig, err := dns.NewRR(name + " 300 IN RRSIG MX 13 3 300 20270101000000 20261201000000 12345 example.com. " +
				"oJB1W6WNGv+ldvQ3WDG0MQkg5IEhjRip8WTrPYGv07h108dUKGMeDPKijVCHX3DDKdfb+v6oB9wfuh3DTJXUAfI/M0zmO/zz8bW0Rznl8O3tGNazPwQKkRN20XPXV6nwwfoXmJQbsLNrLfkGJ5D6fwFm8nN+6pBzeDQfsS3Ap3o=")
			if err != nil {
				b.Fatal(err)
			}
			sigs = []dns.RR{sig}
			keys[i] = typeKey(name, dns.TypeMX)
		} else {
			rr, err := dns.NewRR(name + " 300 IN A 192.0.2.1")
			if err != nil {
				b.Fatal(err)
			}
			rrs = []dns.RR{rr}
			keys[i] = typeKey(name, dns.TypeA)
		}
		entries[i] = &entry{rrs: rrs, sigs: sigs, expires: time.Unix(1_800_000_000, 0), from: netip.MustParseAddrPort("192.0.2.53:53")}
	}
	return keys, entries
}

// BenchmarkCacheInsert is the cost of storing one RRset in the recursor's
// cache (100k entries, full: each insert evicts the oldest), bookkeeping
// included.
func BenchmarkCacheInsert(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "A"
		if signed {
			name = "signed-MX"
		}
		b.Run(name, func(b *testing.B) {
			const distinct = 1 << 18
			keys, entries := benchEntries(b, distinct, signed)
			cfg := &Config{}
			cfg.setDefaults()
			c := newCaches(cfg)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % distinct
				e := *entries[j] // a fresh entry per insert, as the resolver makes one
				c.addTyped(keys[j], &e, 100)
			}
		})
	}
}

// BenchmarkEntrySize is the accounting's own work per insert: the size
// estimate of one entry (the rest is an atomic add and a compare).
func BenchmarkEntrySize(b *testing.B) {
	for _, signed := range []bool{false, true} {
		name := "A"
		if signed {
			name = "signed-MX"
		}
		b.Run(name, func(b *testing.B) {
			keys, entries := benchEntries(b, 1, signed)
			b.ReportAllocs()
			n := 0
			for i := 0; i < b.N; i++ {
				n += entrySize(keys[0], entries[0])
			}
			if n == 0 {
				b.Fatal("no size")
			}
		})
	}
}
