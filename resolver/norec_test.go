package resolver

import (
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// TestNonRecursive: a question without RD (dig +norec) is answered from the
// cache or by a referral, never by recursion (RFC 1034 4.3.1; issue 13: a
// never-seen name came back resolved).
func TestNonRecursive(t *testing.T) {
	e := metaWorld(t)
	norec := func(name string, qtype uint16) *dns.Msg {
		t.Helper()
		m, err := e.r.NonRecursive(dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s := e.net.sends(); len(s) != 0 {
			t.Fatalf("%s without RD sent %v", name, s)
		}
		return m
	}
	ns := func(m *dns.Msg) (zone string, names, glue []string) {
		for _, rr := range m.Ns {
			if n, ok := rr.(*dns.NS); ok {
				zone = n.Hdr.Name
				names = append(names, n.Ns)
			}
		}
		for _, rr := range m.Extra {
			glue = append(glue, strings.Fields(rr.String())[4])
		}
		return zone, names, glue
	}

	// Nothing cached: the referral to the root, from the hints.
	m := norec("www.example.com.", dns.TypeA)
	if z, names, glue := ns(m); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || z != "." || !slices.Equal(names, []string{"a.root.test."}) || !slices.Equal(glue, []string{"127.0.0.1"}) {
		t.Fatalf("cold +norec: %v", m)
	}

	// Once resolved (with RD), the answer comes from the cache...
	if m, err := e.resolve(t, "www.example.com.", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("resolve: %v %v", m, err)
	}
	if m, _ := e.resolve(t, "nope.example.com.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Fatalf("nope: %v", m)
	}
	e.net.reset()
	if m := norec("www.example.com.", dns.TypeA); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("cached +norec: %v", m)
	}
	// ...a cached NXDOMAIN answers for the names below it (RFC 8020)...
	if m := norec("a.nope.example.com.", dns.TypeA); m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 {
		t.Fatalf("below a cached NXDOMAIN: %v", m)
	}
	// ...and an uncached name gets the closest cached delegation.
	m = norec("other.example.com.", dns.TypeA)
	if z, names, glue := ns(m); m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || z != "example.com." || !slices.Equal(names, []string{"ns1.example.com."}) || !slices.Equal(glue, []string{"127.0.1.2"}) {
		t.Fatalf("uncached +norec below example.com: %v", m)
	}
	if m.Ns[0].Header().Ttl == 0 || m.Ns[0].Header().Ttl > 300 {
		t.Fatalf("referral TTL %d, want what is left of the delegation's 300", m.Ns[0].Header().Ttl)
	}
}
