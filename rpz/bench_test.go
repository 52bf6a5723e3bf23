package rpz

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// bigPolicy is a policy of n QNAME rules, half exact, half wildcard, and
// n/10 RPZ-IP rules: the size of a commercial malware feed.
func bigPolicy(b *testing.B, n int) *Policy {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("$TTL 300\n$ORIGIN big.rpz.\n@ SOA . . 1 3600 600 86400 60\n")
	for i := range n {
		if i%2 == 0 {
			fmt.Fprintf(&sb, "bad%d.example CNAME .\n", i)
		} else {
			fmt.Fprintf(&sb, "*.bad%d.example CNAME .\n", i)
		}
	}
	for i := range n / 10 {
		fmt.Fprintf(&sb, "32.%d.%d.%d.10.rpz-ip CNAME .\n", i%256, (i/256)%256, i/65536)
	}
	p, fs := Parse("big.rpz", []byte(sb.String()))
	if p == nil {
		b.Fatal(fs)
	}
	return p
}

// BenchmarkLookup100k is what a recursive answer pays with a 100k-rule
// policy loaded: the QNAME lookup of a name no rule matches (the common
// case: every label suffix is tried against the wildcards) and the RPZ-IP
// lookup of its answer.
func BenchmarkLookup100k(b *testing.B) {
	set := Set{bigPolicy(b, 100_000)}
	a, _ := dns.NewRR("www.example.com. 60 IN A 192.0.2.1")
	answer := []dns.RR{a}
	b.Run("qname-miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := set.QName("www.w2-0001.example.com."); ok {
				b.Fatal("hit")
			}
		}
	})
	b.Run("qname-wildcard-hit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := set.QName("www.bad99.example."); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("ip-miss", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, ok := set.Answer(answer, 1); ok {
				b.Fatal("hit")
			}
		}
	})
	b.Run("empty-set", func(b *testing.B) {
		b.ReportAllocs()
		var none Set
		for b.Loop() {
			none.QName("www.w2-0001.example.com.")
			none.Answer(answer, 0)
		}
	})
}

// BenchmarkParse100k is the load cost of a 100k-rule policy (per revision,
// off the query path).
func BenchmarkParse100k(b *testing.B) {
	for b.Loop() {
		bigPolicy(b, 100_000)
	}
}
