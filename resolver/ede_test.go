package resolver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestExtendedError: the EDE of a SERVFAIL follows from how the resolution
// failed, each case produced by a real failed resolution.
func TestExtendedError(t *testing.T) {
	refusing := func(_ string, q *dns.Msg) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeRefused)
		return m, nil
	}
	for _, tc := range []struct {
		name  string
		setup func(f *fakeNet)
		qname string
		code  uint16
	}{
		{"every authority lame", func(f *fakeNet) {
			f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10"))
			f.set("127.0.1.10", refusing)
		}, "x.a.com.", dns.ExtendedErrorCodeNoReachableAuthority},
		{"every authority silent", func(f *fakeNet) {
			f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10")) // nothing at .10
		}, "x.a.com.", dns.ExtendedErrorCodeNoReachableAuthority},
		{"CNAME loop", func(f *fakeNet) {
			f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10\nb NS ns.b\nns.b A 127.0.1.11"))
			f.set("127.0.1.10", zone(t, "a.com.", "x CNAME y.b.com."))
			f.set("127.0.1.11", zone(t, "b.com.", "y CNAME x.a.com."))
		}, "x.a.com.", dns.ExtendedErrorCodeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.setup, func(c *Config) { c.Deadline = 2 * time.Second })
			m, err := e.resolve(t, tc.qname, dns.TypeA)
			if m.Rcode != dns.RcodeServerFailure {
				t.Fatalf("rcode %s, want SERVFAIL", dns.RcodeToString[m.Rcode])
			}
			if code, text := ExtendedError(err); code != tc.code || (code == dns.ExtendedErrorCodeOther && text == "") {
				t.Fatalf("EDE %d %q for %v, want %d", code, text, err, tc.code)
			}
			// The failure is cached (RFC 9520): the cached one says the same.
			m, err2 := e.resolve(t, tc.qname, dns.TypeA)
			if c1, _ := ExtendedError(err); m.Rcode != dns.RcodeServerFailure {
				t.Fatalf("again: %s", dns.RcodeToString[m.Rcode])
			} else if c2, _ := ExtendedError(err2); c2 != c1 {
				t.Fatalf("cached failure EDE %d (%v), first %d", c2, err2, c1)
			}
		})
	}
}

// TestExtendedErrorNetwork: an authority whose port is closed (ICMP port
// unreachable, ECONNREFUSED on a real socket) is a network error.
func TestExtendedErrorNetwork(t *testing.T) {
	closed := closedPort(t)
	r, err := New(Config{
		RootHints:      mustRRs(t, ".", fmt.Sprintf(". NS a.root.test.\na.root.test. A %s", closed.Addr())),
		Port:           closed.Port(),
		HealthInterval: -1,
		QueryLocalhost: true,
		Deadline:       2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m, rerr := r.Resolve(context.Background(), dns.Question{Name: "x.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s", dns.RcodeToString[m.Rcode])
	}
	if code, _ := ExtendedError(rerr); code != dns.ExtendedErrorCodeNetworkError {
		t.Fatalf("EDE %d for %v, want 23 Network Error", code, rerr)
	}
}
