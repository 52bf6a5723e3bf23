package resolver

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestResolveScripted(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, f *fakeNet)
		qname     string
		qtype     uint16
		wantRcode int
		want      []string // answer section, in order
		wantCache []string // answer from the cache when it differs from want
		wantNS    string   // owner of the SOA in the authority section ("" = none)
	}{
		{
			name: "plain delegation",
			setup: func(t *testing.T, f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
				f.set("127.0.1.2", zone(t, "example.com.", "www A 192.0.2.1\nwww A 192.0.2.2"))
			},
			qname: "www.example.com.", qtype: dns.TypeA,
			want: []string{"www.example.com. A 192.0.2.1", "www.example.com. A 192.0.2.2"},
		},
		{
			name: "missing glue: NS name resolved separately",
			setup: func(t *testing.T, f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "example NS ns.hoster.net."))
				f.set("127.0.2.1", zone(t, "net.", "hoster NS ns.hoster\nns.hoster A 127.0.2.2"))
				f.set("127.0.2.2", zone(t, "hoster.net.", "ns A 127.0.1.3"))
				f.set("127.0.1.3", zone(t, "example.com.", "www A 192.0.2.7"))
			},
			qname: "www.example.com.", qtype: dns.TypeA,
			want: []string{"www.example.com. A 192.0.2.7"},
		},
		{
			name: "CNAME chain across three zones",
			setup: func(t *testing.T, f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10"))
				f.set("127.0.2.1", zone(t, "net.", "b NS ns.b\nns.b A 127.0.2.10"))
				f.set("127.0.3.1", zone(t, "org.", "c NS ns.c\nns.c A 127.0.3.10"))
				f.set("127.0.1.10", zone(t, "a.com.", "www CNAME x.b.net."))
				f.set("127.0.2.10", zone(t, "b.net.", "x CNAME y.c.org."))
				f.set("127.0.3.10", zone(t, "c.org.", "y A 192.0.2.9"))
			},
			qname: "www.a.com.", qtype: dns.TypeA,
			want: []string{"www.a.com. CNAME x.b.net.", "x.b.net. CNAME y.c.org.", "y.c.org. A 192.0.2.9"},
		},
		{
			name: "CNAME chain inside one zone answered in one reply",
			setup: func(t *testing.T, f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10"))
				f.set("127.0.1.10", zone(t, "a.com.", "www CNAME web\nweb CNAME host\nhost A 192.0.2.3"))
			},
			qname: "www.a.com.", qtype: dns.TypeA,
			want: []string{"www.a.com. CNAME web.a.com.", "web.a.com. CNAME host.a.com.", "host.a.com. A 192.0.2.3"},
		},
		{
			name: "DNAME",
			setup: func(t *testing.T, f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10"))
				f.set("127.0.2.1", zone(t, "net.", "b NS ns.b\nns.b A 127.0.2.10"))
				f.set("127.0.1.10", zone(t, "a.com.", "old DNAME new.b.net."))
				f.set("127.0.2.10", zone(t, "b.net.", "www.new A 192.0.2.4"))
			},
			qname: "www.old.a.com.", qtype: dns.TypeA,
			want:      []string{"old.a.com. DNAME new.b.net.", "www.old.a.com. CNAME www.new.b.net.", "www.new.b.net. A 192.0.2.4"},
			wantCache: []string{"www.old.a.com. CNAME www.new.b.net.", "www.new.b.net. A 192.0.2.4"}, // the synthesised CNAME is cached
		},
		{
			name: "NXDOMAIN",
			setup: func(t *testing.T, f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
				f.set("127.0.1.2", zone(t, "example.com.", "www A 192.0.2.1"))
			},
			qname: "nope.example.com.", qtype: dns.TypeA,
			wantRcode: dns.RcodeNameError, wantNS: "example.com.",
		},
		{
			name: "NODATA",
			setup: func(t *testing.T, f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
				f.set("127.0.1.2", zone(t, "example.com.", "www A 192.0.2.1"))
			},
			qname: "www.example.com.", qtype: dns.TypeAAAA,
			wantNS: "example.com.",
		},
		{
			name: "CNAME to a name that does not exist",
			setup: func(t *testing.T, f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10"))
				f.set("127.0.2.1", zone(t, "net.", "b NS ns.b\nns.b A 127.0.2.10"))
				f.set("127.0.1.10", zone(t, "a.com.", "www CNAME gone.b.net."))
				f.set("127.0.2.10", zone(t, "b.net.", "x A 192.0.2.1"))
			},
			qname: "www.a.com.", qtype: dns.TypeA,
			wantRcode: dns.RcodeNameError, want: []string{"www.a.com. CNAME gone.b.net."}, wantNS: "b.net.",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(f *fakeNet) { tc.setup(t, f) }, nil)
			m, err := e.resolve(t, tc.qname, tc.qtype)
			if tc.wantRcode == dns.RcodeSuccess && err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if m.Rcode != tc.wantRcode {
				t.Fatalf("rcode %s, want %s (err %v)", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.wantRcode], err)
			}
			if got := rdata(m); !slices.Equal(got, tc.want) {
				t.Fatalf("answer\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			gotNS := ""
			if len(m.Ns) > 0 {
				gotNS = m.Ns[0].Header().Name
			}
			if gotNS != tc.wantNS {
				t.Fatalf("authority owner %q, want %q", gotNS, tc.wantNS)
			}
			// The same question again comes from the cache: nothing sent.
			e.net.reset()
			hits := e.m.Hits.Load()
			m2, _ := e.resolve(t, tc.qname, tc.qtype)
			if n := len(e.net.sends()); n != 0 {
				t.Fatalf("second resolution sent %d queries: %v", n, e.net.sends())
			}
			wantCache := tc.want
			if tc.wantCache != nil {
				wantCache = tc.wantCache
			}
			if e.m.Hits.Load() != hits+1 || m2.Rcode != tc.wantRcode || !slices.Equal(rdata(m2), wantCache) {
				t.Fatalf("cached answer differs: %s %v", dns.RcodeToString[m2.Rcode], rdata(m2))
			}
		})
	}
}

func TestCacheDecrementsTTL(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(t, "example.com.", "www 300 A 192.0.2.1"))
	}, nil)
	m, _ := e.resolve(t, "www.example.com.", dns.TypeA)
	if ttl := m.Answer[0].Header().Ttl; ttl != 300 {
		t.Fatalf("first TTL %d, want 300", ttl)
	}
	e.clock.Advance(100 * time.Second)
	m, _ = e.resolve(t, "www.example.com.", dns.TypeA)
	if ttl := m.Answer[0].Header().Ttl; ttl != 200 {
		t.Fatalf("TTL after 100 s %d, want 200", ttl)
	}
	// The reply is the caller's: changing it does not change the cache.
	m.Answer[0].Header().Ttl = 1
	m.Answer[0].(*dns.A).A[3] = 99
	m, _ = e.resolve(t, "www.example.com.", dns.TypeA)
	if got := rdata(m); got[0] != "www.example.com. A 192.0.2.1" || m.Answer[0].Header().Ttl != 200 {
		t.Fatalf("cache was modified through a reply: %v ttl %d", got, m.Answer[0].Header().Ttl)
	}
	e.clock.Advance(201 * time.Second)
	e.net.reset()
	e.resolve(t, "www.example.com.", dns.TypeA)
	if len(e.net.sends()) == 0 {
		t.Fatal("expired RRset answered from the cache")
	}
}

func TestCNAMELoop(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10\nb NS ns.b\nns.b A 127.0.1.11"))
		f.set("127.0.1.10", zone(t, "a.com.", "x CNAME y.b.com."))
		f.set("127.0.1.11", zone(t, "b.com.", "y CNAME x.a.com."))
	}, nil)
	m, err := e.resolve(t, "x.a.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrCNAMELoop) {
		t.Fatalf("rcode %s err %v, want SERVFAIL and a CNAME loop", dns.RcodeToString[m.Rcode], err)
	}
	if n := len(e.net.sends()); n > 8 {
		t.Fatalf("loop took %d sends", n)
	}
}

func TestLongCNAMEChainExhaustsBudget(t *testing.T) {
	var text strings.Builder
	for i := 0; i < 30; i++ {
		text.WriteString("c" + itoa(i) + " CNAME c" + itoa(i+1) + ".b.com.\n")
	}
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "a NS ns.a\nns.a A 127.0.1.10\nb NS ns.b\nns.b A 127.0.1.11"))
		// every other link crosses zones so each hop needs a restart
		f.set("127.0.1.11", zone(t, "b.com.", text.String()))
	}, nil)
	m, err := e.resolve(t, "c0.b.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrBudget) {
		t.Fatalf("rcode %s err %v, want SERVFAIL from the CNAME budget", dns.RcodeToString[m.Rcode], err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestNegativeCaching(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		// SOA minimum 60 s
		f.set("127.0.1.2", zone(t, "example.com.", "www A 192.0.2.1"))
	}, nil)
	m, _ := e.resolve(t, "nope.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeNameError {
		t.Fatalf("rcode %s", dns.RcodeToString[m.Rcode])
	}
	// NXDOMAIN covers every type of the name.
	e.net.reset()
	m, _ = e.resolve(t, "nope.example.com.", dns.TypeTXT)
	if m.Rcode != dns.RcodeNameError || len(e.net.sends()) != 0 {
		t.Fatalf("NXDOMAIN for TXT: rcode %s after %d sends, want from cache", dns.RcodeToString[m.Rcode], len(e.net.sends()))
	}
	if ttl := m.Ns[0].Header().Ttl; ttl != 60 {
		t.Fatalf("negative TTL %d, want 60 (SOA minimum)", ttl)
	}
	e.clock.Advance(61 * time.Second)
	e.resolve(t, "nope.example.com.", dns.TypeA)
	if len(e.net.sends()) == 0 {
		t.Fatal("negative answer outlived the SOA minimum")
	}
}

func TestNegativeTTLCapped(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", func(_ string, q *dns.Msg) (*dns.Msg, error) {
			m := new(dns.Msg)
			m.SetRcode(q, dns.RcodeNameError)
			m.Authoritative = true
			m.Ns = mustRRs(t, "example.com.", "@ 604800 SOA ns h 1 2 3 4 604800")
			return m, nil
		})
	}, func(c *Config) { c.NegativeMaxTTL = 10 * time.Minute })
	m, _ := e.resolve(t, "nope.example.com.", dns.TypeA)
	if ttl := m.Ns[0].Header().Ttl; ttl != 600 {
		// from the network the SOA comes as sent; check the cache copy
		m, _ = e.resolve(t, "nope.example.com.", dns.TypeA)
		if ttl = m.Ns[0].Header().Ttl; ttl != 600 {
			t.Fatalf("cached negative TTL %d, want the 600 s cap", ttl)
		}
	}
	e.clock.Advance(601 * time.Second)
	e.net.reset()
	e.resolve(t, "nope.example.com.", dns.TypeA)
	if len(e.net.sends()) == 0 {
		t.Fatal("negative answer outlived the cap")
	}
}

func TestLameServerSkippedAndRemembered(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nexample NS ns2.example\nns1.example A 127.0.1.2\nns2.example A 127.0.1.3"))
		// ns1 is lame: it refuses the zone.
		f.set("127.0.1.2", func(_ string, q *dns.Msg) (*dns.Msg, error) {
			m := new(dns.Msg)
			return m.SetRcode(q, dns.RcodeRefused), nil
		})
		f.set("127.0.1.3", zone(t, "example.com.", "a A 192.0.2.1\nb A 192.0.2.2\nc A 192.0.2.3\nd A 192.0.2.4"))
	}, nil)
	for _, n := range []string{"a", "b", "c", "d"} {
		m, err := e.resolve(t, n+".example.com.", dns.TypeA)
		if err != nil || len(m.Answer) != 1 {
			t.Fatalf("%s: %v %v", n, err, m)
		}
	}
	if n := e.net.count("127.0.1.2"); n > 1 {
		t.Fatalf("lame server asked %d times, want at most once", n)
	}
	// Remembered for a while (LameTTL, 5 min), then given another chance.
	e.clock.Advance(6 * time.Minute)
	e.net.set("127.0.1.3", func(string, *dns.Msg) (*dns.Msg, error) { return nil, context.DeadlineExceeded })
	e.resolve(t, "e.example.com.", dns.TypeA)
	if n := e.net.count("127.0.1.2"); n < 1 {
		t.Fatal("lame server never asked again after its lameness expired")
	}
}

func TestServersOrderedBySmoothedRTT(t *testing.T) {
	var e *testEnv
	delayed := func(h handler, d time.Duration) handler {
		return func(n string, q *dns.Msg) (*dns.Msg, error) {
			e.clock.Advance(d) // the exchange takes d on the resolver's clock
			return h(n, q)
		}
	}
	var names strings.Builder
	for i := 0; i < 20; i++ {
		names.WriteString("h" + itoa(i) + " A 192.0.2.1\n")
	}
	e = newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nexample NS ns2.example\nns1.example A 127.0.1.2\nns2.example A 127.0.1.3"))
		f.set("127.0.1.2", delayed(zone(t, "example.com.", names.String()), 80*time.Millisecond))
		f.set("127.0.1.3", delayed(zone(t, "example.com.", names.String()), 2*time.Millisecond))
	}, func(c *Config) { c.DisableQNAMEMinimisation = true })
	for i := 0; i < 20; i++ {
		if m, err := e.resolve(t, "h"+itoa(i)+".example.com.", dns.TypeA); err != nil || len(m.Answer) != 1 {
			t.Fatalf("%v %v", err, m)
		}
	}
	slow, fast := e.net.count("127.0.1.2"), e.net.count("127.0.1.3")
	if slow > 2 || fast < 18 {
		t.Fatalf("slow server asked %d times, fast %d: want the fast one preferred once both are measured", slow, fast)
	}
}

func TestOverloadFailsFast(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", func(n string, q *dns.Msg) (*dns.Msg, error) {
			<-release
			return zone(t, "com.", "x A 192.0.2.1\ny A 192.0.2.2")(n, q)
		})
	}, func(c *Config) { c.MaxInFlight = 1 })
	done := make(chan *dns.Msg)
	go func() {
		m, _ := e.resolve(t, "x.com.", dns.TypeA)
		done <- m
	}()
	for e.net.count("127.0.1.1") == 0 {
		time.Sleep(time.Millisecond)
	}
	m, err := e.resolve(t, "y.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrOverload) {
		t.Fatalf("second resolution with the only slot taken: %s %v", dns.RcodeToString[m.Rcode], err)
	}
	close(release)
	if m := <-done; len(m.Answer) != 1 {
		t.Fatalf("first resolution: %v", m)
	}
	// The overload was not cached as a failure of y.com.
	if m, err := e.resolve(t, "y.com.", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("after the overload: %v %v", err, m)
	}
}

func TestUpwardReferralIsLame(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nexample NS ns2.example\nns1.example A 127.0.1.2\nns2.example A 127.0.1.3"))
		// ns1 answers with a referral to the root: lame.
		f.set("127.0.1.2", func(_ string, q *dns.Msg) (*dns.Msg, error) {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Ns = mustRRs(t, ".", ". NS a.root.test.")
			return m, nil
		})
		f.set("127.0.1.3", zone(t, "example.com.", "www A 192.0.2.1"))
	}, nil)
	m, err := e.resolve(t, "www.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", err, m)
	}
}

func TestTimeoutOfOneOfTwoServers(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nexample NS ns2.example\nns1.example A 127.0.1.2\nns2.example A 127.0.1.3"))
		// 127.0.1.2 is not scripted: it times out.
		f.set("127.0.1.3", zone(t, "example.com.", "a A 192.0.2.1\nb A 192.0.2.2\nc A 192.0.2.3\nd A 192.0.2.4"))
	}, nil)
	for _, n := range []string{"a", "b", "c", "d"} {
		m, err := e.resolve(t, n+".example.com.", dns.TypeA)
		if err != nil || len(m.Answer) != 1 {
			t.Fatalf("%s: %v %v", n, err, m)
		}
	}
	if n := e.net.count("127.0.1.2"); n > 1 {
		t.Fatalf("dead server asked %d times, want at most once (RTT ordering)", n)
	}
	if e.m.Timeouts.Load() > 1 {
		t.Fatalf("%d timeouts counted", e.m.Timeouts.Load())
	}
}

func TestTruncatedThenTCP(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		full := zone(t, "example.com.", "big TXT \"a\"\nbig TXT \"b\"")
		f.set("127.0.1.2", func(network string, q *dns.Msg) (*dns.Msg, error) {
			if network == "udp" {
				m := new(dns.Msg)
				m.SetReply(q)
				m.Authoritative = true
				m.Truncated = true
				return m, nil
			}
			return full(network, q)
		})
	}, nil)
	m, err := e.resolve(t, "big.example.com.", dns.TypeTXT)
	if err != nil || len(m.Answer) != 2 {
		t.Fatalf("%v %v", err, m)
	}
	if e.m.TCP.Load() != 1 {
		t.Fatalf("%d TCP queries, want 1", e.m.TCP.Load())
	}
}

func TestSpoofedRepliesIgnored(t *testing.T) {
	good := func(t *testing.T) handler { return zone(t, "example.com.", "www A 192.0.2.1") }
	tests := []struct {
		name  string
		spoof func(t *testing.T) handler
	}{
		{"wrong id", func(t *testing.T) handler {
			return func(n string, q *dns.Msg) (*dns.Msg, error) {
				m, _ := good(t)(n, q)
				m.Id ^= 0x5a5a
				m.Answer[0].(*dns.A).A = []byte{6, 6, 6, 6}
				return m, nil
			}
		}},
		{"wrong question", func(t *testing.T) handler {
			return func(n string, q *dns.Msg) (*dns.Msg, error) {
				m, _ := good(t)(n, q)
				m.Question[0].Name = "evil.example.com."
				m.Answer[0].(*dns.A).A = []byte{6, 6, 6, 6}
				return m, nil
			}
		}},
		{"not a response", func(t *testing.T) handler {
			return func(n string, q *dns.Msg) (*dns.Msg, error) {
				m, _ := good(t)(n, q)
				m.Response = false
				m.Answer[0].(*dns.A).A = []byte{6, 6, 6, 6}
				return m, nil
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nexample NS ns2.example\nns1.example A 127.0.1.2\nns2.example A 127.0.1.3"))
				f.set("127.0.1.2", tc.spoof(t))
				f.set("127.0.1.3", tc.spoof(t))
			}, nil)
			m, _ := e.resolve(t, "www.example.com.", dns.TypeA)
			if m.Rcode != dns.RcodeServerFailure || len(m.Answer) != 0 {
				t.Fatalf("spoofed reply accepted: %s %v", dns.RcodeToString[m.Rcode], rdata(m))
			}
		})
	}
}

func TestOutOfBailiwickRecordsScrubbed(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2\nvictim NS ns.victim\nns.victim A 127.0.1.9"))
		honest := zone(t, "example.com.", "www CNAME www.victim.com.")
		f.set("127.0.1.2", func(n string, q *dns.Msg) (*dns.Msg, error) {
			m, _ := honest(n, q)
			// poison: answers for another zone, an NS takeover, glue for it
			m.Answer = append(m.Answer, mustRRs(t, ".", "www.victim.com. 86400 A 6.6.6.6")...)
			m.Ns = append(m.Ns, mustRRs(t, ".", "victim.com. 86400 NS ns.evil.net.\ncom. 86400 NS ns.evil.net.")...)
			m.Extra = append(m.Extra, mustRRs(t, ".", "ns.evil.net. 86400 A 6.6.6.7\nns.victim.com. 86400 A 6.6.6.8")...)
			return m, nil
		})
		f.set("127.0.1.9", zone(t, "victim.com.", "www A 192.0.2.80"))
	}, nil)
	m, err := e.resolve(t, "www.example.com.", dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"www.example.com. CNAME www.victim.com.", "www.victim.com. A 192.0.2.80"}
	if !slices.Equal(rdata(m), want) {
		t.Fatalf("answer %v, want %v", rdata(m), want)
	}
	if e.net.count("127.0.1.9") == 0 {
		t.Fatal("victim.com's real server was never asked: poisoned data was used")
	}
	e.net.reset()
	m, _ = e.resolve(t, "other.victim.com.", dns.TypeA)
	for _, s := range e.net.sends() {
		if s.server.Addr().String() == "6.6.6.7" || s.server.Addr().String() == "6.6.6.8" {
			t.Fatalf("asked poisoned server %s", s.server)
		}
	}
	if m.Rcode != dns.RcodeNameError {
		t.Fatalf("other.victim.com: %s", dns.RcodeToString[m.Rcode])
	}
}

func TestServeStaleWhenAuthoritiesUnreachable(t *testing.T) {
	var mu sync.Mutex
	down := false
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example 60 NS ns1.example\nns1.example 60 A 127.0.1.2"))
		h := zone(t, "example.com.", "www 60 A 192.0.2.1")
		f.set("127.0.1.2", func(n string, q *dns.Msg) (*dns.Msg, error) {
			mu.Lock()
			defer mu.Unlock()
			if down {
				return nil, context.DeadlineExceeded
			}
			return h(n, q)
		})
	}, nil)
	if m, err := e.resolve(t, "www.example.com.", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", err, m)
	}
	mu.Lock()
	down = true
	mu.Unlock()
	e.net.set("127.0.1.1", func(string, *dns.Msg) (*dns.Msg, error) { return nil, context.DeadlineExceeded })
	e.net.set("127.0.0.1", func(string, *dns.Msg) (*dns.Msg, error) { return nil, context.DeadlineExceeded })
	e.clock.Advance(2 * time.Hour)
	m, err := e.resolve(t, "www.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 30 {
		t.Fatalf("want the stale answer with TTL 30, got %v %v", err, m)
	}
	if o := m.IsEdns0(); o == nil || len(o.Option) != 1 || o.Option[0].(*dns.EDNS0_EDE).InfoCode != dns.ExtendedErrorCodeStaleAnswer {
		t.Fatalf("stale answer without EDE 3: %v", m)
	}
	if e.m.Stale.Load() != 1 {
		t.Fatalf("stale served counted %d", e.m.Stale.Load())
	}
	// Refreshing backs off: the next query within the failure window sends nothing.
	e.net.reset()
	m, _ = e.resolve(t, "www.example.com.", dns.TypeA)
	if len(m.Answer) != 1 || len(e.net.sends()) != 0 {
		t.Fatalf("second stale answer: %d records after %d sends", len(m.Answer), len(e.net.sends()))
	}
	// More than a day stale: no more.
	e.clock.Advance(25 * time.Hour)
	m, _ = e.resolve(t, "www.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("data stale for over a day served: %v", m)
	}
}

// blockingNet never answers until the attempt's context ends.
type blockingNet struct {
	started chan struct{}
	once    sync.Once
}

func (b *blockingNet) Exchange(ctx context.Context, _ string, _ netip.AddrPort, _ *dns.Msg) (*dns.Msg, error) {
	b.once.Do(func() { close(b.started) })
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestServeStaleAfterClientTimeout: a client waiting on a resolution gets
// stale data when the stale timer fires, also when only the end of its
// CNAME chain is stale; with nothing stale no timer is started.
func TestServeStaleAfterClientTimeout(t *testing.T) {
	for _, tc := range []struct {
		name    string
		qname   string
		records int // in the stale answer; 0: nothing stale, no timer
	}{
		{"stale RRset", "www.example.com.", 1},
		{"fresh CNAME to a stale RRset", "alias.example.com.", 2},
		{"nothing cached", "new.example.com.", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "example 60 NS ns1.example\nns1.example 60 A 127.0.1.2"))
				f.set("127.0.1.2", zone(t, "example.com.", "www 60 A 192.0.2.1\nalias 7200 CNAME www\nnew 60 A 192.0.2.3"))
			}, nil)
			for _, n := range []string{"www.example.com.", "alias.example.com."} {
				if _, err := e.resolve(t, n, dns.TypeA); err != nil {
					t.Fatal(err)
				}
			}
			e.clock.Advance(time.Hour)
			bn := &blockingNet{started: make(chan struct{})}
			e.r.net = bn
			done := make(chan *dns.Msg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				m, _ := e.r.Resolve(ctx, dns.Question{Name: tc.qname, Qtype: dns.TypeA, Qclass: dns.ClassINET})
				done <- m
			}()
			<-bn.started
			if tc.records == 0 {
				cancel() // the client gives up: SERVFAIL, and no stale timer was set
				if m := <-done; m.Rcode != dns.RcodeServerFailure || len(m.Answer) != 0 {
					t.Fatalf("answer without stale data: %v", m)
				}
				if n := e.clock.Pending(); n != 0 {
					t.Fatalf("%d timers started with nothing stale", n)
				}
				return
			}
			for e.clock.Pending() == 0 {
				time.Sleep(time.Millisecond)
			}
			select {
			case m := <-done:
				t.Fatalf("answered before the stale timer: %v", m)
			default:
			}
			e.clock.Advance(1800 * time.Millisecond)
			m := <-done
			if len(m.Answer) != tc.records || m.Answer[len(m.Answer)-1].Header().Ttl != 30 {
				t.Fatalf("want the stale answer after 1.8 s, got %v", m)
			}
		})
	}
}

func TestFailureCached(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", func(_ string, q *dns.Msg) (*dns.Msg, error) {
			m := new(dns.Msg)
			return m.SetRcode(q, dns.RcodeServerFailure), nil
		})
	}, nil)
	m, _ := e.resolve(t, "www.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatal(m)
	}
	e.net.reset()
	m, err := e.resolve(t, "www.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrRecentFailure) || len(e.net.sends()) != 0 {
		t.Fatalf("failure not cached: %v, %d sends", err, len(e.net.sends()))
	}
	e.clock.Advance(11 * time.Second) // past the failure TTL (5 s) and the broken-server memory (10 s)
	e.resolve(t, "www.example.com.", dns.TypeA)
	if len(e.net.sends()) == 0 {
		t.Fatal("failure remembered for longer than 10 s")
	}
}

func TestBudgetExhaustionNXNS(t *testing.T) {
	// A referral to 20 NS names without glue, each in its own zone under an
	// attacker's delegation that itself has no usable glue: every lookup
	// fails. The resolver must give up within its budget.
	var ns strings.Builder
	for i := 0; i < 20; i++ {
		ns.WriteString("victim NS ns" + itoa(i) + ".sub" + itoa(i) + ".attacker.net.\n")
	}
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", ns.String()))
		var subs strings.Builder
		for i := 0; i < 20; i++ {
			subs.WriteString("sub" + itoa(i) + ".attacker NS ns.sub" + itoa(i) + ".attacker.org.\n")
		}
		f.set("127.0.2.1", zone(t, "net.", "attacker NS ns.attacker\nns.attacker A 127.0.2.2"))
		f.set("127.0.2.2", zone(t, "attacker.net.", subs.String()))
	}, nil)
	m, err := e.resolve(t, "www.victim.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s", dns.RcodeToString[m.Rcode])
	}
	if n := len(e.net.sends()); n > 32 {
		t.Fatalf("%d upstream sends for one question, budget is 32", n)
	}
	if err == nil {
		t.Fatal("no error")
	}
}

func TestBudgetExhaustionSends(t *testing.T) {
	// Every server times out: one question must stop at MaxSends.
	e := newEnv(t, func(f *fakeNet) {
		var b strings.Builder
		for i := 0; i < 40; i++ {
			b.WriteString("example NS ns" + itoa(i) + ".example\nns" + itoa(i) + ".example A 127.0.9." + itoa(i+1) + "\n")
		}
		f.set("127.0.1.1", zone(t, "com.", b.String()))
	}, func(c *Config) { c.MaxSends = 10 })
	m, err := e.resolve(t, "www.example.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure || !errors.Is(err, ErrBudget) {
		t.Fatalf("rcode %s err %v", dns.RcodeToString[m.Rcode], err)
	}
	if n := len(e.net.sends()); n != 10 {
		t.Fatalf("%d sends, want exactly the budget of 10", n)
	}
	if e.m.Budget.Load() != 1 {
		t.Fatalf("budget exhaustion counted %d", e.m.Budget.Load())
	}
}

func TestCyclicDelegation(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "a NS ns.b.net."))
		f.set("127.0.2.1", zone(t, "net.", "b NS ns.a.com."))
	}, nil)
	m, _ := e.resolve(t, "www.a.com.", dns.TypeA)
	if m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("rcode %s", dns.RcodeToString[m.Rcode])
	}
	if n := len(e.net.sends()); n > 12 {
		t.Fatalf("cyclic delegation took %d sends", n)
	}
}

func TestQNAMEMinimisation(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(t, "example.com.", "a.b.c A 192.0.2.1"))
	}, nil)
	m, err := e.resolve(t, "a.b.c.example.com.", dns.TypeAAAA)
	if err != nil || m.Rcode != dns.RcodeSuccess {
		t.Fatalf("%v %v", err, m)
	}
	for _, s := range e.net.sends() {
		switch s.server.Addr().String() {
		case "127.0.0.1":
			if s.name != "com." {
				t.Errorf("root was asked %s", s.name)
			}
		case "127.0.1.1":
			if s.name != "example.com." {
				t.Errorf("com was asked %s", s.name)
			}
		}
		if s.name != "a.b.c.example.com." && s.qtype != dns.TypeA {
			t.Errorf("minimised query %s with type %s, want A", s.name, dns.TypeToString[s.qtype])
		}
	}
}

func TestQNAMEMinimisationRelaxedOnNXDOMAIN(t *testing.T) {
	// A broken server that says NXDOMAIN for empty non-terminals.
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		h := zone(t, "example.com.", "a.b A 192.0.2.1")
		f.set("127.0.1.2", func(n string, q *dns.Msg) (*dns.Msg, error) {
			if q.Question[0].Name == "b.example.com." {
				m, _ := h(n, q)
				m.Rcode = dns.RcodeNameError
				return m, nil
			}
			return h(n, q)
		})
	}, nil)
	m, err := e.resolve(t, "a.b.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("relaxed minimisation did not fall back to the full name: %v %v", err, m)
	}
}

// TestSingleflight: identical concurrent questions share one resolution,
// whether it runs on a worker (clients with a deadline) or on the first
// client's own goroutine (clients whose context never ends).
func TestSingleflight(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"on a worker", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 10*time.Second)
		}},
		{"on the leader", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			e := newEnv(t, func(f *fakeNet) {
				f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
				h := zone(t, "example.com.", "www A 192.0.2.1")
				f.set("127.0.1.2", func(n string, q *dns.Msg) (*dns.Msg, error) {
					<-release
					return h(n, q)
				})
			}, nil)
			const n = 20
			var wg sync.WaitGroup
			results := make(chan *dns.Msg, n)
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := tc.ctx()
					defer cancel()
					m, _ := e.r.Resolve(ctx, dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
					results <- m
				}()
			}
			for e.net.count("127.0.1.2") == 0 {
				time.Sleep(time.Millisecond)
			}
			close(release)
			wg.Wait()
			close(results)
			for m := range results {
				if len(m.Answer) != 1 {
					t.Fatalf("waiter got %v", m)
				}
			}
			if c := e.net.count("127.0.1.2"); c != 1 {
				t.Fatalf("%d identical concurrent questions caused %d queries to the authority, want 1", n, c)
			}
		})
	}
}

func TestForwardRules(t *testing.T) {
	fwd := func(t *testing.T, addr string) handler {
		return func(_ string, q *dns.Msg) (*dns.Msg, error) {
			m := new(dns.Msg)
			m.SetReply(q)
			m.RecursionAvailable = true
			if !q.RecursionDesired {
				m.Rcode = dns.RcodeRefused
				return m, nil
			}
			m.Answer = mustRRs(t, ".", q.Question[0].Name+" 60 TXT \"via "+addr+"\"")
			return m, nil
		}
	}
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.8.1", fwd(t, "127.0.8.1"))
		f.set("127.0.8.2", fwd(t, "127.0.8.2"))
		f.set("127.0.8.3", fwd(t, "127.0.8.3"))
	}, func(c *Config) {
		c.Forward = []ForwardRule{
			{Zone: "corp.example.", To: []netip.AddrPort{netip.MustParseAddrPort("127.0.8.1:53")}},
			{Zone: "ad.corp.example.", To: []netip.AddrPort{netip.MustParseAddrPort("127.0.9.9:53"), netip.MustParseAddrPort("127.0.8.2:53")}},
		}
	})
	for _, tc := range []struct{ q, via string }{
		{"x.corp.example.", "127.0.8.1"},
		{"dc1.ad.corp.example.", "127.0.8.2"},
		{"dc2.ad.corp.example.", "127.0.8.2"},
	} {
		m, err := e.resolve(t, tc.q, dns.TypeTXT)
		if err != nil || len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), tc.via) {
			t.Fatalf("%s: %v %v, want via %s", tc.q, err, m, tc.via)
		}
	}
	// The dead target was tried once, then skipped as unhealthy.
	if n := e.net.count("127.0.9.9"); n != 1 {
		t.Fatalf("dead forward target asked %d times, want 1", n)
	}
	if n := e.net.count("127.0.0.1"); n != 0 {
		t.Fatalf("root asked %d times for forwarded zones", n)
	}
	// A health check brings it back once it answers.
	e.net.set("127.0.9.9", fwd(t, "127.0.9.9"))
	e.r.CheckHealth(context.Background())
	e.clock.Advance(time.Hour) // unrelated: let cached answers expire
	m, _ := e.resolve(t, "dc3.ad.corp.example.", dns.TypeTXT)
	if len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), "127.0.9.9") && !strings.Contains(m.Answer[0].String(), "127.0.8.2") {
		t.Fatalf("after health check: %v", m)
	}
	if n := e.net.count("127.0.9.9"); n < 2 {
		t.Fatalf("health check did not probe the recovered target (%d queries)", n)
	}

	// A rule for "." replaces recursion entirely; swapping rules keeps the cache.
	e.r.SetForwardRules([]ForwardRule{{Zone: ".", To: []netip.AddrPort{netip.MustParseAddrPort("127.0.8.3:53")}}})
	e.net.reset()
	m, _ = e.resolve(t, "www.example.com.", dns.TypeTXT)
	if len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), "127.0.8.3") {
		t.Fatalf("forward-all: %v", m)
	}
	if n := e.net.count("127.0.0.1"); n != 0 {
		t.Fatalf("root asked %d times with a forward rule for \".\"", n)
	}
	m, _ = e.resolve(t, "dc3.ad.corp.example.", dns.TypeTXT)
	if len(m.Answer) != 1 || strings.Contains(m.Answer[0].String(), "127.0.8.3") {
		t.Fatalf("SetForwardRules dropped the cache: %v", m)
	}
}

func TestNewForwardRulesForgetFailures(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.8.1", func(_ string, q *dns.Msg) (*dns.Msg, error) {
			m := new(dns.Msg)
			m.SetReply(q)
			m.Answer = mustRRs(t, ".", q.Question[0].Name+" 60 A 192.0.2.1")
			return m, nil
		})
	}, func(c *Config) {
		c.Forward = []ForwardRule{{Zone: "corp.example.", To: []netip.AddrPort{netip.MustParseAddrPort("127.0.9.9:53")}}}
	})
	if m, _ := e.resolve(t, "db.corp.example.", dns.TypeA); m.Rcode != dns.RcodeServerFailure {
		t.Fatalf("dead forwarder: %v", m)
	}
	// Same rules again: the failure is still remembered.
	e.r.SetForwardRules([]ForwardRule{{Zone: "corp.example.", To: []netip.AddrPort{netip.MustParseAddrPort("127.0.9.9:53")}}})
	if _, err := e.resolve(t, "db.corp.example.", dns.TypeA); !errors.Is(err, ErrRecentFailure) {
		t.Fatalf("identical rules dropped the failure cache: %v", err)
	}
	// The operator fixes the rule: the next query uses it at once.
	e.r.SetForwardRules([]ForwardRule{{Zone: "corp.example.", To: []netip.AddrPort{netip.MustParseAddrPort("127.0.8.1:53")}}})
	if m, err := e.resolve(t, "db.corp.example.", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("after fixing the rule: %v %v", err, m)
	}
}

func TestSetRootHints(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(t, "example.com.", "www A 192.0.2.1"))
	}, nil)
	e.resolve(t, "www.example.com.", dns.TypeA)
	// Same hints: cache kept.
	if err := e.r.SetRootHints(mustRRs(t, ".", ". 3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	e.net.reset()
	e.resolve(t, "www.example.com.", dns.TypeA)
	if len(e.net.sends()) != 0 {
		t.Fatal("identical hints dropped the cache")
	}
	// New root: everything learnt from the old one is dropped.
	e.net.set("127.0.0.2", zone(t, ".", "com. NS ns.com.\nns.com. A 127.0.1.1"))
	if err := e.r.SetRootHints(mustRRs(t, ".", ". NS b.root.test.\nb.root.test. A 127.0.0.2")); err != nil {
		t.Fatal(err)
	}
	e.resolve(t, "www.example.com.", dns.TypeA)
	if e.net.count("127.0.0.2") == 0 {
		t.Fatal("new root never asked")
	}
	if err := e.r.SetRootHints(mustRRs(t, ".", ". NS c.root.test.")); err == nil {
		t.Fatal("hints without addresses accepted")
	}
}

func TestANYIsRFC8482(t *testing.T) {
	e := newEnv(t, nil, nil)
	m, err := e.resolve(t, "example.com.", dns.TypeANY)
	if err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.HINFO).Cpu != "RFC8482" || len(e.net.sends()) != 0 {
		t.Fatalf("ANY: %v %v, %d sends", err, m, len(e.net.sends()))
	}
}

func TestNotResolvedRefused(t *testing.T) {
	e := newEnv(t, nil, nil)
	for _, q := range []dns.Question{
		{Name: "version.bind.", Qtype: dns.TypeTXT, Qclass: dns.ClassCHAOS},
		{Name: "example.com.", Qtype: dns.TypeAXFR, Qclass: dns.ClassINET},
		{Name: "example.com.", Qtype: dns.TypeIXFR, Qclass: dns.ClassINET},
	} {
		m, _ := e.r.Resolve(context.Background(), q)
		if m.Rcode != dns.RcodeRefused || len(e.net.sends()) != 0 {
			t.Fatalf("%v: %s after %d sends", q, dns.RcodeToString[m.Rcode], len(e.net.sends()))
		}
	}
}

func TestEDNSBufferSize(t *testing.T) {
	var got uint16
	var mu sync.Mutex
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", func(n string, q *dns.Msg) (*dns.Msg, error) {
			mu.Lock()
			if o := q.IsEdns0(); o != nil {
				got = o.UDPSize()
			}
			mu.Unlock()
			return zone(t, "com.", "x A 192.0.2.1")(n, q)
		})
	}, nil)
	e.resolve(t, "x.com.", dns.TypeA)
	if got != 1232 {
		t.Fatalf("EDNS buffer %d, want 1232", got)
	}
}

func TestQNAMEMinimisationRemembersNames(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(t, "example.com.", "u1.wild 60 A 192.0.2.1\nu2.wild 60 A 192.0.2.2"))
	}, nil)
	e.resolve(t, "u1.wild.example.com.", dns.TypeA)
	e.net.reset()
	// A second unique name below the same empty non-terminal: one query.
	m, err := e.resolve(t, "u2.wild.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", err, m)
	}
	if s := e.net.sends(); len(s) != 1 || s[0].name != "u2.wild.example.com." {
		t.Fatalf("sends %v, want only the full name", s)
	}
}

func TestNetTransportRefusesRealServersInTests(t *testing.T) {
	m := new(dns.Msg)
	m.SetQuestion(".", dns.TypeNS)
	for _, dst := range []string{"198.41.0.4:53", "[2001:503:ba3e::2:30]:53", "192.0.2.1:53"} {
		_, err := NetTransport{}.Exchange(context.Background(), "udp", netip.MustParseAddrPort(dst), m)
		if !errors.Is(err, ErrTestDestination) {
			t.Fatalf("%s: %v, want ErrTestDestination", dst, err)
		}
	}
}

func TestNXDOMAINCoversNamesBelow(t *testing.T) {
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", zone(t, "example.com.", "www A 192.0.2.1"))
	}, nil)
	if m, _ := e.resolve(t, "nope.example.com.", dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Fatal(m)
	}
	e.net.reset()
	m, _ := e.resolve(t, "a.b.nope.example.com.", dns.TypeAAAA)
	if m.Rcode != dns.RcodeNameError || len(m.Ns) != 1 || len(e.net.sends()) != 0 {
		t.Fatalf("name below a cached NXDOMAIN: %s, %d sends (RFC 8020: none)", dns.RcodeToString[m.Rcode], len(e.net.sends()))
	}
}
