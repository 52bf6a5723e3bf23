package resolver

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/nsdtest"
)

// The fake internet the NSD test serves: root, two TLDs on one server, and
// three second-level zones on another, each server on its own loopback
// address, all on one free port.
var nsdZones = map[string]map[string]string{
	"127.0.53.1": {
		".": `
. 86400 IN SOA a.root.test. hostmaster.root.test. 1 1800 900 604800 86400
. 518400 IN NS a.root.test.
a.root.test. 518400 IN A 127.0.53.1
com. 172800 IN NS ns.nic.com.
ns.nic.com. 172800 IN A 127.0.53.2
net. 172800 IN NS ns.nic.net.
ns.nic.net. 172800 IN A 127.0.53.2
`},
	"127.0.53.2": {
		"com.": `
com. 900 IN SOA ns.nic.com. hostmaster.nic.com. 1 1800 900 604800 900
com. 172800 IN NS ns.nic.com.
ns.nic.com. 172800 IN A 127.0.53.2
example.com. 172800 IN NS ns1.example.com.
example.com. 172800 IN NS ns2.example.com.
ns1.example.com. 172800 IN A 127.0.53.3
ns2.example.com. 172800 IN A 127.0.53.3
other.com. 172800 IN NS ns.dns-host.net.
`,
		"net.": `
net. 900 IN SOA ns.nic.net. hostmaster.nic.net. 1 1800 900 604800 900
net. 172800 IN NS ns.nic.net.
ns.nic.net. 172800 IN A 127.0.53.2
dns-host.net. 172800 IN NS ns.dns-host.net.
ns.dns-host.net. 172800 IN A 127.0.53.3
`},
	"127.0.53.3": {
		"example.com.": `
example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 3600 900 604800 300
example.com. 3600 IN NS ns1.example.com.
example.com. 3600 IN NS ns2.example.com.
ns1.example.com. 3600 IN A 127.0.53.3
ns2.example.com. 3600 IN A 127.0.53.3
www.example.com. 3600 IN A 192.0.2.10
www.example.com. 3600 IN A 192.0.2.11
www.example.com. 3600 IN AAAA 2001:db8::10
alias.example.com. 3600 IN CNAME www.other.com.
mail.example.com. 3600 IN MX 10 mx.example.com.
mx.example.com. 3600 IN A 192.0.2.25
deep.a.b.c.example.com. 3600 IN A 192.0.2.99
*.wild.example.com. 3600 IN A 192.0.2.77
` + bigTXT("big.example.com."),
		"other.com.": `
other.com. 3600 IN SOA ns.dns-host.net. hostmaster.other.com. 1 3600 900 604800 300
other.com. 3600 IN NS ns.dns-host.net.
www.other.com. 3600 IN A 192.0.2.20
`,
		"dns-host.net.": `
dns-host.net. 3600 IN SOA ns.dns-host.net. hostmaster.dns-host.net. 1 3600 900 604800 300
dns-host.net. 3600 IN NS ns.dns-host.net.
ns.dns-host.net. 3600 IN A 127.0.53.3
`},
}

// bigTXT makes an RRset too large for a 1232-byte UDP reply.
func bigTXT(owner string) string {
	var b strings.Builder
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&b, "%s 3600 IN TXT \"%02d-%s\"\n", owner, i, strings.Repeat("x", 60))
	}
	return b.String()
}

// zoneRecords parses every zone the NSD servers hold.
func zoneRecords(t *testing.T) []dns.RR {
	var all []dns.RR
	for _, zs := range nsdZones {
		for origin, text := range zs {
			zp := dns.NewZoneParser(strings.NewReader(text), origin, "")
			for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
				all = append(all, rr)
			}
			if err := zp.Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return all
}

// held returns what the zones hold for name/type as sorted rdata strings.
func held(all []dns.RR, name string, qtype uint16) []string {
	var out []string
	for _, rr := range all {
		h := rr.Header()
		if h.Rrtype == qtype && strings.EqualFold(h.Name, name) && !(qtype == dns.TypeA && h.Ttl == 172800) {
			out = append(out, strings.TrimPrefix(rr.String(), h.String()))
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func answerOf(m *dns.Msg, name string, qtype uint16) []string {
	var out []string
	for _, rr := range m.Answer {
		h := rr.Header()
		if h.Rrtype == qtype && strings.EqualFold(h.Name, name) {
			out = append(out, strings.TrimPrefix(rr.String(), h.String()))
		}
	}
	sort.Strings(out)
	return out
}

func TestIntegrationNSD(t *testing.T) {
	if !nsdtest.Available() {
		t.Skipf("NSD is not installed at %s: integration test against real authoritative servers skipped", nsdtest.Path)
	}
	if testing.Short() {
		t.Skip("-short")
	}
	addrs := []string{"127.0.53.1", "127.0.53.2", "127.0.53.3"}
	port := nsdtest.FreePort(t, addrs)
	for _, a := range addrs {
		nsdtest.Start(t, a, port, nsdZones[a])
	}
	hints := mustRRs(t, ".", ". 518400 NS a.root.test.\na.root.test. 518400 A 127.0.53.1")
	m := &Counters{}
	r, err := New(Config{RootHints: hints, Port: uint16(port), Metrics: m, DisableIPv6: true, HealthInterval: -1, QueryLocalhost: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	all := zoneRecords(t)

	tests := []struct {
		qname     string
		qtype     uint16
		rcode     int
		chain     []string // CNAME owners to follow, in order, before the final name
		finalName string
	}{
		{qname: "www.example.com.", qtype: dns.TypeA},
		{qname: "www.example.com.", qtype: dns.TypeAAAA},
		{qname: "mail.example.com.", qtype: dns.TypeMX},
		{qname: "deep.a.b.c.example.com.", qtype: dns.TypeA},
		{qname: "big.example.com.", qtype: dns.TypeTXT}, // truncated over UDP: TCP
		{qname: "alias.example.com.", qtype: dns.TypeA, chain: []string{"alias.example.com."}, finalName: "www.other.com."},
		{qname: "www.other.com.", qtype: dns.TypeA}, // NS name without glue
		{qname: "nope.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{qname: "mx.example.com.", qtype: dns.TypeAAAA},                              // NODATA
		{qname: "b.c.example.com.", qtype: dns.TypeA},                                // empty non-terminal: NODATA
		{qname: "no-such-tld.", qtype: dns.TypeA, rcode: dns.RcodeNameError},         // NXDOMAIN from the root
		{qname: "WWW.Example.COM.", qtype: dns.TypeA, finalName: "www.example.com."}, // case
	}
	for _, tc := range tests {
		t.Run(tc.qname+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			got, err := r.Resolve(ctx, dns.Question{Name: tc.qname, Qtype: tc.qtype, Qclass: dns.ClassINET})
			if got.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s (err %v)", dns.RcodeToString[got.Rcode], dns.RcodeToString[tc.rcode], err)
			}
			for _, owner := range tc.chain {
				if w, g := held(all, owner, dns.TypeCNAME), answerOf(got, owner, dns.TypeCNAME); !slices.Equal(w, g) {
					t.Fatalf("CNAME at %s: got %v, zones hold %v", owner, g, w)
				}
			}
			final := tc.qname
			if tc.finalName != "" {
				final = tc.finalName
			}
			want := held(all, final, tc.qtype)
			gotData := answerOf(got, final, tc.qtype)
			if !slices.Equal(gotData, want) {
				t.Fatalf("%s %s: got %v, zones hold %v", final, dns.TypeToString[tc.qtype], gotData, want)
			}
			if tc.rcode == dns.RcodeSuccess && len(want) == 0 && len(got.Ns) == 0 {
				t.Fatal("NODATA without SOA")
			}
		})
	}
	if m.TCP.Load() == 0 {
		t.Error("the big TXT RRset never made the resolver retry over TCP")
	}
	t.Logf("upstream queries: %d (TCP %d), timeouts %d", m.Upstream.Load(), m.TCP.Load(), m.Timeouts.Load())

	// Everything again: all from the cache.
	before := m.Upstream.Load()
	for _, tc := range tests {
		got, _ := r.Resolve(context.Background(), dns.Question{Name: tc.qname, Qtype: tc.qtype, Qclass: dns.ClassINET})
		if got.Rcode != tc.rcode {
			t.Fatalf("cached %s: rcode %s", tc.qname, dns.RcodeToString[got.Rcode])
		}
	}
	if n := m.Upstream.Load() - before; n != 0 {
		t.Fatalf("second pass sent %d queries, want all from the cache", n)
	}
}

// coldResolver starts the NSD fake internet and returns a resolver on it
// with root, com, example.com and wild.example.com (its NODATA, so QNAME
// minimisation skips it) already cached: from then on every unique name
// under wild.example.com costs exactly one upstream UDP query (the W3
// shape).
func coldResolver(b *testing.B, m Metrics, v transportVariant) *Resolver {
	b.Helper()
	if !nsdtest.Available() {
		b.Skip("NSD not installed")
	}
	addrs := []string{"127.0.53.1", "127.0.53.2", "127.0.53.3"}
	port := nsdtest.FreePort(b, addrs)
	for _, a := range addrs {
		nsdtest.Start(b, a, port, nsdZones[a])
	}
	hints := mustRRs(b, ".", ". 518400 NS a.root.test.\na.root.test. 518400 A 127.0.53.1")
	// Generous attempt timeouts: a benchmark on shared cores must not turn
	// a descheduled process into a failed server (and the per-server cap
	// of a failing one into errors).
	r, err := New(Config{RootHints: hints, Port: uint16(port), DisableIPv6: true, HealthInterval: -1, Metrics: m, QueryLocalhost: true,
		MinTimeout: time.Second, UpstreamTimeout: 2 * time.Second, InitialTimeout: 2 * time.Second,
		UDPPool: v.pool, Disable0x20: !v.mix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	for i := 0; i < 3; i++ {
		q := dns.Question{Name: fmt.Sprintf("prime%d.wild.example.com.", i), Qtype: dns.TypeA, Qclass: dns.ClassINET}
		if m, err := r.Resolve(context.Background(), q); err != nil || len(m.Answer) != 1 {
			b.Fatalf("priming %s: %v %v", q.Name, err, m)
		}
	}
	return r
}

// coldNames returns n unique names of the W3 form.
func coldNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%07d-%08x.wild.example.com.", i, uint32(i)*2654435761)
	}
	return out
}

// cpuTime is the CPU (user + system) this process has used: the resolver's
// cost without NSD's, which runs in other processes.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkColdResolve resolves unique names under the wildcard
// *.wild.example.com through the real NSD servers, one at a time after
// priming: each iteration is one cache miss, one upstream UDP query, one
// cache insert and one answer. cpu-µs/op is the process's CPU per
// resolution (run with GOMAXPROCS=1 taskset -c 0 for the per-core figure).
func BenchmarkColdResolve(b *testing.B) {
	for _, v := range transportVariants {
		b.Run(v.name, func(b *testing.B) { benchColdResolve(b, v) })
	}
}

// transportVariant is one way of sending upstream queries: the default (a
// fresh socket per query, 0x20 on) and the alternatives, side by side.
type transportVariant struct {
	name      string
	pool, mix bool
}

var transportVariants = []transportVariant{
	{"fresh+0x20", false, true}, // the default
	{"fresh", false, false},
	{"pool+0x20", true, true},
	{"pool", true, false}, // the old default
}

func benchColdResolve(b *testing.B, v transportVariant) {
	c := &Counters{}
	r := coldResolver(b, c, v)
	names := coldNames(b.N)
	ctx := context.Background()
	before := c.Upstream.Load()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for i := 0; i < b.N; i++ {
		m, err := r.Resolve(ctx, dns.Question{Name: names[i], Qtype: dns.TypeA, Qclass: dns.ClassINET})
		if err != nil || len(m.Answer) != 1 {
			b.Fatalf("%v %v", err, m)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
	if n := c.Upstream.Load() - before; n != int64(b.N) {
		b.Fatalf("%d upstream queries for %d names, want one each", n, b.N)
	}
}

// BenchmarkColdRecursionNSD is BenchmarkColdResolve with 8 questions in
// flight per core (dnsperf keeps many in flight).
func BenchmarkColdRecursionNSD(b *testing.B) {
	for _, v := range transportVariants {
		b.Run(v.name, func(b *testing.B) { benchColdRecursion(b, v) })
	}
}

func benchColdRecursion(b *testing.B, v transportVariant) {
	c := &Counters{}
	r := coldResolver(b, c, v)
	names := coldNames(b.N)
	ctx := context.Background()
	var seq atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1) - 1
			m, err := r.Resolve(ctx, dns.Question{Name: names[n], Qtype: dns.TypeA, Qclass: dns.ClassINET})
			if err != nil || len(m.Answer) != 1 {
				b.Errorf("%v (upstream timeouts so far: %d)", err, c.Timeouts.Load())
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}
