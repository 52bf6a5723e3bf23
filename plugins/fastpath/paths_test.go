package fastpath

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// e2e is a node with its forwarders: up answers example., crit (blackholed)
// stands for crit.example.'s forwarder, stale (TTL 1 s) for stale.example.'s.
type e2e struct {
	*node
	up, stale *upstream
	crit      net.PacketConn
	vars      e2eVars
}

var upstreamNames = map[string]string{
	"cached.example.": "198.18.99.1",
	"acl.example.":    "198.18.99.2",
	"fwd.example.":    "198.18.99.3",
	"svc1.example.":   "198.18.99.11",
	"svc2.example.":   "198.18.99.12",
	"ttl.example.":    "198.18.99.4",
}

func newE2E(t *testing.T) *e2e {
	t.Helper()
	e := &e2e{
		up:    startUpstream(t, "", 300, upstreamNames),
		crit:  blackhole(t),
		stale: startUpstream(t, "", 1, map[string]string{"stale.example.": "198.18.99.5"}),
	}
	e.vars = defaultVars(freePort(t), e.up.port(), e.crit.LocalAddr().(*net.UDPAddr).Port, e.stale.port())
	e.node = startNode(t, e.vars, fastpathBlock)
	return e
}

// TestMetricsCountedOnFastPath: answers the fast path sends itself are
// counted in CoreDNS's request and response metrics, in the authority
// plugin's answers (precomputed answers) and in the fast path's own
// counter, exactly once each, under the labels the chain uses.
func TestMetricsCountedOnFastPath(t *testing.T) {
	e := newE2E(t)
	const N = 25
	server := e.server()

	t.Run("prebuilt", func(t *testing.T) {
		e.waitFast("www.corp.internal.", dns.TypeA, "prebuilt")
		before := e.scrape()
		for i := 0; i < N; i++ {
			if r := e.exchange("www.corp.internal.", dns.TypeA, false); r.Rcode != dns.RcodeSuccess || len(aRecords(r)) != 1 || !r.Authoritative {
				t.Fatalf("www.corp.internal.: %v", r)
			}
		}
		after := e.scrape()
		for _, c := range []struct {
			name   string
			labels map[string]string
		}{
			{"coredns_dns_requests_total", map[string]string{"server": server, "zone": ".", "proto": "udp", "type": "A"}},
			{"coredns_dns_responses_total", map[string]string{"server": server, "zone": ".", "rcode": "NOERROR"}},
			{"coredns_dns_request_duration_seconds", map[string]string{"server": server, "zone": "."}},
			{"coredns_dns_response_size_bytes", map[string]string{"server": server, "zone": ".", "proto": "udp"}},
			{"coredns_authority_answers_total", map[string]string{"server": server, "zone": "corp.internal.", "result": "answer"}},
			{"coredns_fastpath_responses_total", map[string]string{"server": server, "path": "prebuilt"}},
		} {
			if d := delta(before, after, c.name, c.labels); d != N {
				t.Errorf("%s%v grew by %v, want %d", c.name, c.labels, d, N)
			}
		}
		if d := delta(before, after, "coredns_fastpath_responses_total", map[string]string{"path": "packetcache"}); d != 0 {
			t.Errorf("packetcache responses grew by %v for internal answers", d)
		}
	})

	t.Run("packetcache", func(t *testing.T) {
		// The first query walks the chain (forwarded to up) and is learnt.
		if r := e.exchange("cached.example.", dns.TypeA, true); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.1" {
			t.Fatalf("cached.example.: %v", r)
		}
		e.waitFast("cached.example.", dns.TypeA, "packetcache")
		asked := e.up.queries.Load()
		before := e.scrape()
		for i := 0; i < N; i++ {
			if r := e.exchange("cached.example.", dns.TypeA, true); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.1" || !r.RecursionAvailable {
				t.Fatalf("cached.example.: %v", r)
			}
		}
		after := e.scrape()
		for _, c := range []struct {
			name   string
			labels map[string]string
		}{
			{"coredns_dns_requests_total", map[string]string{"server": server, "zone": ".", "proto": "udp", "type": "A"}},
			{"coredns_dns_responses_total", map[string]string{"server": server, "zone": ".", "rcode": "NOERROR"}},
			{"coredns_fastpath_responses_total", map[string]string{"server": server, "path": "packetcache"}},
		} {
			if d := delta(before, after, c.name, c.labels); d != N {
				t.Errorf("%s%v grew by %v, want %d", c.name, c.labels, d, N)
			}
		}
		if d := delta(before, after, "coredns_authority_answers_total", nil); d != 0 {
			t.Errorf("authority answers grew by %v for recursive answers", d)
		}
		if got := e.up.queries.Load(); got != asked {
			t.Errorf("the upstream was asked %d more times: not answered from the packet cache", got-asked)
		}
	})

	t.Run("same labels as the chain", func(t *testing.T) {
		// TCP is CoreDNS's own: the series it fills must be the ones the
		// fast path fills, protocol aside.
		before := e.scrape()
		c := &dns.Client{Net: "tcp", Timeout: 3 * time.Second}
		q := new(dns.Msg)
		q.SetQuestion("www.corp.internal.", dns.TypeA)
		if _, _, err := c.Exchange(q, e.addr); err != nil {
			t.Fatal(err)
		}
		// The chain counts after it wrote the response: wait for it.
		after := e.scrape()
		for i := 0; i < 50 && delta(before, after, "coredns_dns_responses_total", map[string]string{"server": server}) == 0; i++ {
			time.Sleep(10 * time.Millisecond)
			after = e.scrape()
		}
		for _, c := range []struct {
			name   string
			labels map[string]string
		}{
			{"coredns_dns_requests_total", map[string]string{"server": server, "zone": ".", "proto": "tcp", "type": "A"}},
			{"coredns_dns_responses_total", map[string]string{"server": server, "zone": ".", "rcode": "NOERROR"}},
			{"coredns_authority_answers_total", map[string]string{"server": server, "zone": "corp.internal.", "result": "answer"}},
		} {
			if d := delta(before, after, c.name, c.labels); d != 1 {
				t.Errorf("chain over TCP: %s%v grew by %v, want 1", c.name, c.labels, d)
			}
		}
	})
}
