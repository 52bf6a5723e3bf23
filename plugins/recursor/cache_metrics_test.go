package recursor

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/resolver"
)

// cacheGauges scrapes coredns_recursor_cache_entries and _bytes of server.
func cacheGauges(t *testing.T, server string) (entries, bytes float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(forwardCollector)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != server {
				continue
			}
			switch mf.GetName() {
			case "coredns_recursor_cache_entries":
				entries = m.GetGauge().GetValue()
				found++
			case "coredns_recursor_cache_bytes":
				bytes = m.GetGauge().GetValue()
				found++
			}
		}
	}
	if found != 2 {
		t.Fatalf("scrape has %d of the 2 cache gauges of %s", found, server)
	}
	return entries, bytes
}

// TestCacheGauges: the cache gauges exist at 0 before the first query,
// follow what the resolver's cache holds after answers, and drop with an
// operator's flush.
func TestCacheGauges(t *testing.T) {
	root, _ := authServer(t, "www.example.com. 300 IN A 192.0.2.1\nmail.example.com. 300 IN A 192.0.2.2", false)
	src := &swapSource{}
	src.p.Store(&node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, RootHints: hints(t)})
	rc := &Recursor{Source: src, Config: resolver.Config{Port: root.Port(), DisableIPv6: true, HealthInterval: -1, QueryLocalhost: true}}
	defer rc.Close()
	const server = "dns://127.0.0.1:5300"
	forwardCollector.add(rc, server)
	defer forwardCollector.remove(rc)

	if e, b := cacheGauges(t, server); e != 0 || b != 0 {
		t.Fatalf("before any query: %v entries, %v bytes", e, b)
	}
	for _, name := range []string{"www.example.com.", "mail.example.com."} {
		if m, _, err := query(t, rc, "127.0.0.9", name, dns.TypeA, dns.ClassINET); err != nil || len(m.Answer) != 1 {
			t.Fatalf("%s: %v %v", name, m, err)
		}
	}
	e, b := cacheGauges(t, server)
	entries, bytes := rc.res.Load().CacheUsage()
	if e < 2 || e != float64(entries) || b != float64(bytes) || b < 2*200 {
		t.Fatalf("after two answers: gauges %v entries, %v bytes; the cache %d, %d", e, b, entries, bytes)
	}
	if rc.FlushCache(node.CacheFlush{Name: "www.example.com."}) != 1 {
		t.Fatal("flush of www dropped nothing")
	}
	e2, b2 := cacheGauges(t, server)
	if e2 != e-1 || b2 >= b {
		t.Fatalf("after flushing www: %v entries, %v bytes (were %v, %v)", e2, b2, e, b)
	}
	rc.FlushCache(node.CacheFlush{Name: ".", Subtree: true})
	if e, b := cacheGauges(t, server); e != 0 || b != 0 {
		t.Fatalf("after flushing everything: %v entries, %v bytes", e, b)
	}
}
