package zones

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// genZone writes an n-record zone: A 40%, AAAA 20%, CNAME 15%, SRV 10%,
// TXT 15% (in blocks of 20), plus SOA, apex NS and a wildcard.
func genZone(n int) []byte {
	var b strings.Builder
	b.Grow(n * 48)
	b.WriteString("$TTL 3600\n$ORIGIN bench.test.\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n")
	b.WriteString("@ IN NS ns1\n@ IN NS ns2\nns1 IN A 192.0.2.1\nns2 IN A 192.0.2.2\n*.wild IN A 192.0.2.3\n")
	for i := 0; i < n-6; i++ {
		switch k := i % 20; {
		case k < 8:
			fmt.Fprintf(&b, "h%d IN A 10.%d.%d.%d\n", i, i>>16&255, i>>8&255, i&255)
		case k < 12:
			fmt.Fprintf(&b, "h%d IN AAAA 2001:db8::%x\n", i, i&0xffff)
		case k < 15:
			fmt.Fprintf(&b, "h%d IN CNAME h%d\n", i, i-i%20)
		case k < 17:
			fmt.Fprintf(&b, "_s%d._tcp IN SRV 10 5 443 h%d\n", i, i-i%20)
		default:
			fmt.Fprintf(&b, "h%d IN TXT \"v=spf1 -all\" \"record %d\"\n", i, i)
		}
	}
	return []byte(b.String())
}

func BenchmarkLookup(b *testing.B) {
	z, fs := Parse("bench.zone", "bench.test.", genZone(10000))
	if HasErrors(fs) || z.Len() < 10000 {
		b.Fatalf("generated zone: %d records, %v", z.Len(), fs)
	}
	for _, bc := range []struct {
		name  string
		qname string
		qtype uint16
		ans   int
		rcode int
	}{
		{"exact", "h4000.bench.test.", dns.TypeA, 1, dns.RcodeSuccess},
		{"exact-mixed-case", "H4000.Bench.Test.", dns.TypeA, 1, dns.RcodeSuccess},
		{"cname", "h4012.bench.test.", dns.TypeA, 2, dns.RcodeSuccess},
		{"nxdomain", "nothere.bench.test.", dns.TypeA, 0, dns.RcodeNameError},
		{"nodata", "h4000.bench.test.", dns.TypeMX, 0, dns.RcodeSuccess},
		{"wildcard", "x.wild.bench.test.", dns.TypeA, 1, dns.RcodeSuccess},
	} {
		b.Run(bc.name, func(b *testing.B) {
			if a := z.Lookup(bc.qname, bc.qtype); len(a.Answer) != bc.ans || a.Rcode != bc.rcode {
				b.Fatalf("answer %v rcode %d", a.Answer, a.Rcode)
			}
			b.ReportAllocs()
			for b.Loop() {
				z.Lookup(bc.qname, bc.qtype)
			}
		})
	}
}

func BenchmarkParse(b *testing.B) {
	data := genZone(10000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, fs := Parse("bench.zone", "bench.test.", data); len(fs) != 0 {
			b.Fatal(fs)
		}
	}
	b.ReportMetric(float64(10000*b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkParseLint1M parses and lints a 1,000,000-record zone and reports
// records/s and the heap the zone holds per record.
func BenchmarkParseLint1M(b *testing.B) {
	const n = 1_000_000
	data := genZone(n)
	b.SetBytes(int64(len(data)))
	var perRecord float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		z, fs := Parse("bench.zone", "bench.test.", data)
		fs = append(fs, Lint(z, LintPolicy{MinTTL: 60, MaxTTL: 86400})...)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perRecord = float64(after.HeapAlloc-before.HeapAlloc) / float64(z.Len())
		if z.Len() < n {
			b.Fatalf("%d records", z.Len())
		}
		runtime.KeepAlive(z)
		_ = fs
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(perRecord, "heap-bytes/record")
}

func BenchmarkAuthorityMatch(b *testing.B) {
	var zs []*Zone
	for i := 0; i < 100; i++ {
		z, _ := Parse("z.zone", fmt.Sprintf("zone%d.corp.internal.", i), []byte("@ 300 IN SOA ns1 h 1 7200 900 1209600 300\n"))
		zs = append(zs, z)
	}
	a := NewAuthority(zs...)
	q := "Host42.Sub.Zone57.corp.internal."
	if z := a.Match(q); z == nil || z.Origin() != "zone57.corp.internal." {
		b.Fatalf("matched %v", z)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.Match(q)
	}
}

// BenchmarkParseChange parses a 100,000-record zone in which one record
// changed (and the serial), as the node's apply benchmark changes one
// (issue 21): from scratch, and against the previous version's parse.
// Lint of the changed zone (as the node lints it, built against the
// previous version) is reported apart.
func BenchmarkParseChange(b *testing.B) {
	const n = 100_000
	gen := func(serial int, last string) []byte {
		var sb strings.Builder
		fmt.Fprintf(&sb, "$ORIGIN z3.bench.internal.\n$TTL 300\n@ IN SOA ns1 hostmaster %d 3600 600 1209600 300\n  IN NS ns1\n  IN NS ns2\nns1 IN A 198.18.1.1\nns2 IN A 198.18.2.1\n", serial)
		for j := 0; j < n; j++ {
			if last != "" && j == 7 {
				continue // moved to the end, changed
			}
			fmt.Fprintf(&sb, "h%07d IN A 10.3.%d.%d\n", j, (j>>8)&255, j&255)
		}
		sb.WriteString(last)
		return []byte(sb.String())
	}
	prevData, data := gen(1, ""), gen(2, "h0000007 IN A 198.18.99.7\n")
	prev, fs := Parse("z.zone", "z3.bench.internal.", prevData)
	if len(fs) != 0 {
		b.Fatal(fs)
	}
	lp := LintPolicy{MinTTL: 30, MaxTTL: 86400}
	changed, _ := ParseAgainst("z.zone", "z3.bench.internal.", data, prev)
	b.Run("scratch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Parse("z.zone", "z3.bench.internal.", data)
		}
	})
	b.Run("against", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, parsed := parse("z.zone", "z3.bench.internal.", data, prev); parsed > 2 {
				b.Fatalf("%d entries parsed", parsed)
			}
		}
	})
	// A change every 100 lines (1,000 records): more runs of
	// dns.ZoneParser, each between reused records.
	scattered := []byte(strings.ReplaceAll(string(prevData), "00 IN A 10.3.", "00 IN A 10.4."))
	b.Run("against-scattered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, parsed := parse("z.zone", "z3.bench.internal.", scattered, prev); parsed != n/100 {
				b.Fatalf("%d entries parsed", parsed)
			}
		}
	})
	b.Run("lint", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			Lint(changed, lp)
		}
	})
}
