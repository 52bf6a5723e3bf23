package resolver

import (
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/node"
	"github.com/miekg/dns"
)

// cacheWorld serves example.com. from 127.0.1.10 (delegated by com.).
func cacheWorld(t *testing.T) *testEnv { return newEnv(t, cacheZones(t), nil) }

// cacheZones are cacheWorld's authorities.
func cacheZones(t *testing.T) func(f *fakeNet) {
	return func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", `
example.com. NS ns.example.com.
ns.example.com. A 127.0.1.10
`))
		f.set("127.0.1.10", zone(t, "example.com.", `
@ 300 SOA ns h 1 60 60 600 60
@ NS ns
ns A 127.0.1.10
www 60 A 192.0.2.1
www 60 AAAA 2001:db8::1
a.b 60 A 192.0.2.2
`))
	}
}

func TestInspectCache(t *testing.T) {
	e := cacheWorld(t)
	if _, err := e.resolve(t, "www.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	if _, err := e.resolve(t, "nope.example.com.", dns.TypeA); err != nil {
		t.Fatal(err)
	}
	got := e.r.InspectCache("WWW.example.com")
	if len(got) != 1 {
		t.Fatalf("entries %+v, want the A RRset", got)
	}
	if a := got[0]; a.Cache != "resolver" || a.Type != "A" || a.TTL != 60 || a.Stale || a.From != "127.0.1.10:53" || len(a.Records) != 1 || !strings.Contains(a.Records[0], "192.0.2.1") {
		t.Errorf("www A: %+v", a)
	}
	neg := e.r.InspectCache("nope.example.com.")
	if len(neg) != 1 || neg[0].Type != "" || neg[0].Rcode != "NXDOMAIN" || neg[0].From != "127.0.1.10:53" {
		t.Errorf("nope: %+v", neg)
	}
	e.clock.Advance(90 * time.Second)
	if a := e.r.InspectCache("www.example.com.")[0]; !a.Stale || a.TTL != 0 || a.ExpiredFor != "30s" {
		t.Errorf("after expiry: %+v", a)
	}
	if d := e.r.InspectCache("example.com."); len(d) != 1 || d[0].Cache != "resolver delegation" || !strings.HasPrefix(d[0].Records[0], "ns.example.com. 127.0.1.10") {
		t.Errorf("example.com. cut: %+v", d)
	}
}

func TestFlushCache(t *testing.T) {
	for _, tc := range []struct {
		name    string
		f       node.CacheFlush
		kept    []string // "name type" still cached after the flush
		flushed []string
	}{
		{"one name, every type", node.CacheFlush{Name: "www.example.com."},
			[]string{"a.b.example.com. A", "nope.example.com. "}, []string{"www.example.com. A", "www.example.com. AAAA"}},
		{"one type", node.CacheFlush{Name: "www.example.com.", Type: dns.TypeAAAA},
			[]string{"www.example.com. A", "a.b.example.com. A"}, []string{"www.example.com. AAAA"}},
		{"a subtree", node.CacheFlush{Name: "b.example.com.", Subtree: true},
			[]string{"www.example.com. A", "www.example.com. AAAA"}, []string{"a.b.example.com. A"}},
		{"the zone and below", node.CacheFlush{Name: "example.com.", Subtree: true},
			nil, []string{"www.example.com. A", "www.example.com. AAAA", "a.b.example.com. A", "nope.example.com. "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := cacheWorld(t)
			for _, q := range []struct {
				n string
				t uint16
			}{{"www.example.com.", dns.TypeA}, {"www.example.com.", dns.TypeAAAA}, {"a.b.example.com.", dns.TypeA}, {"nope.example.com.", dns.TypeA}} {
				if _, err := e.resolve(t, q.n, q.t); err != nil {
					t.Fatal(err)
				}
			}
			if n := e.r.FlushCache(tc.f); n < len(tc.flushed) {
				t.Errorf("flushed %d entries, want at least %d", n, len(tc.flushed))
			}
			cached := func(nt string) bool {
				name, typ, _ := strings.Cut(nt, " ")
				for _, c := range e.r.InspectCache(name) {
					if c.Cache == "resolver" && c.Type == typ {
						return true
					}
				}
				return false
			}
			for _, k := range tc.kept {
				if !cached(k) {
					t.Errorf("%s was flushed", k)
				}
			}
			for _, k := range tc.flushed {
				if cached(k) {
					t.Errorf("%s is still cached", k)
				}
			}
			if _, cut := e.r.c.deleg.Peek("example.com."); cut == (tc.f.Name == "example.com.") {
				t.Errorf("zone cut example.com. cached: %v after flushing %+v", cut, tc.f)
			}
		})
	}
}
