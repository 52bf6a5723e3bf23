package fastpath

import (
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"

	"github.com/gitops-dns/resolverd/plugins/fallback"
)

// e2e is a node with its forwarders: up answers example., crit (blackholed)
// stands for crit.example.'s forwarder, stale (TTL 1 s) for stale.example.'s.
type e2e struct {
	*testNode
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
	e.testNode = startNode(t, e.vars, fastpathBlock)
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
		after := e.scrapeUntil(func(f map[string]*dto.MetricFamily) bool {
			return delta(before, f, "coredns_dns_responses_total", map[string]string{"server": server}) > 0
		})
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

// TestACLEnforced: recursion.allow is 127.0.0.1/32. An allowed client warms
// the packet cache; a client on 127.0.0.2 asking the same question gets
// REFUSED, as it would without the fast path, and is never answered from
// the cache; the allowed client still is.
func TestACLEnforced(t *testing.T) {
	e := newE2E(t)
	const name = "acl.example."
	if r := e.exchange(name, dns.TypeA, true); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.2" {
		t.Fatalf("allowed client: %v", r)
	}
	e.waitFast(name, dns.TypeA, "packetcache")

	other := &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}
	for _, edns := range []bool{false, true} {
		before := e.scrape()
		r := e.exchangeFrom(other, name, dns.TypeA, edns)
		after := e.scrape()
		if r.Rcode != dns.RcodeRefused || len(r.Answer) != 0 {
			t.Fatalf("client 127.0.0.2 (edns %t): %s with %d answers, want REFUSED", edns, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		if d := delta(before, after, "coredns_fastpath_responses_total", map[string]string{"path": "packetcache"}); d != 0 {
			t.Fatalf("client 127.0.0.2: %v answers from the packet cache", d)
		}
	}
	// The same over TCP (CoreDNS alone): the fast path gives what the chain gives.
	c := &dns.Client{Net: "tcp", Timeout: 3 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}}
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	if r, _, err := c.Exchange(q, e.addr); err != nil || r.Rcode != dns.RcodeRefused {
		t.Fatalf("client 127.0.0.2 over TCP: %v %v", r, err)
	}
	// An internal name is answered for everyone, from the precomputed answers.
	e.waitFast("www.corp.internal.", dns.TypeA, "prebuilt")
	before := e.fastCount("prebuilt")
	if r := e.exchangeFrom(other, "www.corp.internal.", dns.TypeA, false); r.Rcode != dns.RcodeSuccess || len(aRecords(r)) != 1 {
		t.Fatalf("client 127.0.0.2, internal name: %v", r)
	}
	if e.fastCount("prebuilt") != before+1 {
		t.Fatal("client 127.0.0.2: internal name not answered from the precomputed answers")
	}

	before = e.fastCount("packetcache")
	if r := e.exchange(name, dns.TypeA, true); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.2" {
		t.Fatalf("allowed client after the refused one: %v", r)
	}
	if got := e.fastCount("packetcache"); got != before+1 {
		t.Fatalf("allowed client: packet cache answers grew by %v, want 1", got-before)
	}
}

// TestAtomicSwap: one client asks a precomputed name in a loop while a
// commit changes both its addresses; every answer is the old pair or the
// new pair, never a mix nor a failure, and once the new pair is seen the
// old never comes back. The swap also empties the packet cache: a cached
// answer built from a CNAME of the old revision is not served under the
// new one, and a forwarded answer is learnt again.
func TestAtomicSwap(t *testing.T) {
	e := newE2E(t)
	oldSet, newSet := "198.18.10.1 198.18.10.2", "198.18.10.3 198.18.10.4"

	// Warm the packet cache: a CNAME leaving the zone (the chain follows it
	// through the recursor) and a forwarded name.
	for _, name := range []string{"ext.corp.internal.", "fwd.example."} {
		e.exchange(name, dns.TypeA, true)
		e.waitFast(name, dns.TypeA, "packetcache")
	}
	if r := e.exchange("ext.corp.internal.", dns.TypeA, true); len(r.Answer) != 2 || r.Answer[0].(*dns.CNAME).Target != "svc1.example." || aRecords(r)[0] != "198.18.99.11" {
		t.Fatalf("ext.corp.internal. before the swap: %v", r)
	}
	e.waitFast("swap.corp.internal.", dns.TypeA, "prebuilt")

	type result struct {
		set string
		err error
	}
	stop := make(chan struct{})
	results := make(chan result, 100000)
	var done sync.WaitGroup
	done.Add(1)
	go func() {
		defer done.Done()
		defer close(results)
		c := &dns.Client{Net: "udp", Timeout: 3 * time.Second}
		for i := 0; i < 50000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			q := new(dns.Msg)
			q.SetQuestion("swap.corp.internal.", dns.TypeA)
			r, _, err := c.Exchange(q, e.addr)
			if err == nil && r.Rcode != dns.RcodeSuccess {
				err = fmt.Errorf("rcode %s", dns.RcodeToString[r.Rcode])
			}
			if err != nil {
				results <- result{err: err}
				continue
			}
			a := aRecords(r)
			sort.Strings(a)
			results <- result{set: strings.Join(a, " ")}
		}
	}()

	v := e.vars
	v.Serial = 2
	v.Swap = [2]string{"198.18.10.3", "198.18.10.4"}
	v.Ext = "svc2.example."
	up2 := startUpstream(t, "", 300, map[string]string{"fwd.example.": "198.18.99.3", "svc1.example.": "198.18.99.21", "svc2.example.": "198.18.99.22"})
	v.Upstream = up2.port()
	e.commit(v, "swap: new addresses, ext points to svc2, example. forwarded to another server")

	// Keep asking until the new pair has been answered 200 times.
	seenNew, sawNewAt, n := 0, -1, 0
	deadline := time.After(20 * time.Second)
collect:
	for seenNew < 200 {
		select {
		case r, ok := <-results:
			if !ok {
				break collect
			}
			n++
			switch {
			case r.err != nil:
				t.Fatalf("answer %d: %v", n, r.err)
			case r.set == newSet:
				seenNew++
				if sawNewAt < 0 {
					sawNewAt = n
				}
			case r.set == oldSet:
				if sawNewAt >= 0 {
					t.Fatalf("answer %d: the old addresses again after the new ones at answer %d", n, sawNewAt)
				}
			default:
				t.Fatalf("answer %d: %q, neither the old pair (%s) nor the new one (%s)", n, r.set, oldSet, newSet)
			}
		case <-deadline:
			t.Fatalf("after %d answers the new pair was seen %d times", n, seenNew)
		}
	}
	close(stop)
	done.Wait()
	t.Logf("%d answers, the new pair from answer %d", n, sawNewAt)

	// The precomputed answers of the new revision are in place: the cache
	// was purged with them.
	e.waitFast("www.corp.internal.", dns.TypeA, "prebuilt")
	before := e.fastCount("packetcache")
	r := e.exchange("ext.corp.internal.", dns.TypeA, true)
	if len(r.Answer) != 2 || r.Answer[0].(*dns.CNAME).Target != "svc2.example." || aRecords(r)[0] != "198.18.99.22" {
		t.Fatalf("ext.corp.internal. after the swap: %v; want the new revision's CNAME to svc2.example. (198.18.99.22)", r)
	}
	e.exchange("fwd.example.", dns.TypeA, true)
	if got := e.fastCount("packetcache"); got != before {
		t.Fatalf("after the swap, %v answers came from the packet cache learnt under the old revision", got-before)
	}
	// And it learns again under the new revision.
	e.waitFast("fwd.example.", dns.TypeA, "packetcache")
}

// TestFallbackIntact: crit.example. has a fallback record and its
// forwarder is blackholed: the fallback answer (with its EDE for EDNS
// clients) arrives through the fast path's socket and is never replayed
// from the packet cache, so once the forwarder is back the real answer is
// served at once.
func TestFallbackIntact(t *testing.T) {
	for _, edns := range []bool{true, false} {
		t.Run(fmt.Sprintf("edns=%t", edns), func(t *testing.T) {
			testFallback(t, edns)
		})
	}
}

func testFallback(t *testing.T, edns bool) {
	e := newE2E(t)
	const name = "crit.example."
	for i := 0; i < 3; i++ {
		before := e.fastCount("packetcache")
		r := e.exchange(name, dns.TypeA, edns)
		if r.Rcode != dns.RcodeSuccess || len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.9.30" || r.Answer[0].Header().Ttl != 30 {
			t.Fatalf("query %d: %v; want the fallback record 198.18.9.30 with TTL 30", i, r)
		}
		if x := ede(r); edns && (x == nil || !strings.HasPrefix(x.ExtraText, fallback.EDEText)) {
			t.Fatalf("query %d: EDE %v, want %q...", i, x, fallback.EDEText)
		}
		if got := e.fastCount("packetcache"); got != before {
			t.Fatalf("query %d: the fallback answer came from the packet cache", i)
		}
	}

	// The forwarder comes back on the same address.
	addr := e.crit.LocalAddr().String()
	e.crit.Close()
	startUpstream(t, addr, 300, map[string]string{name: "198.18.99.30"})
	// The recursor remembers the failure for failure_ttl (1 s, doubling on
	// repeats): ask until it asks the forwarder again (bounded). A fallback
	// answer replayed from the packet cache would hold for its 30 s TTL.
	var r *dns.Msg
	for i := 0; i < 40; i++ {
		r = e.exchange(name, dns.TypeA, edns)
		if len(aRecords(r)) == 1 && aRecords(r)[0] == "198.18.99.30" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.30" || ede(r) != nil {
		t.Fatalf("forwarder back: %v; want the real answer 198.18.99.30 without EDE", r)
	}
	// Whatever the client speaks.
	if r := e.exchange(name, dns.TypeA, !edns); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.30" {
		t.Fatalf("forwarder back, edns %t: %v; want the real answer 198.18.99.30", !edns, r)
	}
}

// TestServeStaleIntact: a forwarded answer with a TTL of 1 s is learnt;
// the forwarder stops; once the TTL has passed the packet cache no longer
// answers and the chain answers stale (TTL 30, EDE 3 for EDNS clients),
// and the stale answer is not learnt either.
func TestServeStaleIntact(t *testing.T) {
	for _, edns := range []bool{true, false} {
		t.Run(fmt.Sprintf("edns=%t", edns), func(t *testing.T) {
			testServeStale(t, edns)
		})
	}
}

func testServeStale(t *testing.T, edns bool) {
	e := newE2E(t)
	const name = "stale.example."
	e.waitFast("www.corp.internal.", dns.TypeA, "prebuilt") // the revision's answers are built: nothing purges what follows
	if r := e.exchange(name, dns.TypeA, edns); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.5" || r.Answer[0].Header().Ttl != 1 {
		t.Fatalf("fresh answer: %v", r)
	}
	// The packet cache keeps a question's answer from its second miss on
	// (door keeper): ask once more, from the recursor's cache.
	if r := e.exchange(name, dns.TypeA, edns); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.5" {
		t.Fatalf("fresh answer, second miss: %v", r)
	}
	// Learnt after it was sent: ask until the packet cache answers (the
	// chain's answers meanwhile are fresh and learnt too).
	if r := e.waitFastAs(name, dns.TypeA, edns, "packetcache"); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.5" {
		t.Fatalf("fresh answer from the packet cache: %v", r)
	}
	// What answered was stored before now: its TTL is over 1 s from now.
	fresh := time.Now()
	e.stale.stop()
	time.Sleep(time.Until(fresh.Add(1100 * time.Millisecond)))
	for i := 0; i < 3; i++ {
		before := e.fastCount("packetcache")
		r := e.exchange(name, dns.TypeA, edns)
		if got := e.fastCount("packetcache"); got != before {
			t.Fatalf("query %d: answered from the packet cache after the TTL: %v", i, r)
		}
		if r.Rcode != dns.RcodeSuccess || len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.5" || r.Answer[0].Header().Ttl != 30 {
			t.Fatalf("query %d: %v; want the stale answer with TTL 30", i, r)
		}
		if x := ede(r); edns && (x == nil || x.InfoCode != dns.ExtendedErrorCodeStaleAnswer) {
			t.Fatalf("query %d: EDE %v, want 3 (Stale Answer)", i, x)
		}
	}
}

// TestTTLDecrementedOnCacheHits: an answer from the packet cache carries
// the TTL the chain gave, less the whole seconds it spent in the cache.
func TestTTLDecrementedOnCacheHits(t *testing.T) {
	e := newE2E(t)
	const name = "ttl.example."
	e.waitFast("www.corp.internal.", dns.TypeA, "prebuilt") // the revision's answers are built: nothing purges what follows
	// The first miss only passes the door keeper; the second is learnt,
	// after it was sent: stored once the packet cache answers.
	if r := e.exchange(name, dns.TypeA, true); len(r.Answer) != 1 {
		t.Fatalf("first answer: %v", r)
	}
	t0 := time.Now()
	r := e.exchange(name, dns.TypeA, true)
	if len(r.Answer) != 1 || r.Answer[0].Header().Ttl != 300 {
		t.Fatalf("second answer: %v; want TTL 300", r)
	}
	e.waitFast(name, dns.TypeA, "packetcache")
	tA := time.Now()
	time.Sleep(1100 * time.Millisecond)
	before := e.fastCount("packetcache")
	tB := time.Now()
	r = e.exchange(name, dns.TypeA, true)
	tC := time.Now()
	if got := e.fastCount("packetcache"); got != before+1 {
		t.Fatalf("second answer not from the packet cache (%v)", got-before)
	}
	// It was stored between t0 and tA and answered between tB and tC.
	lo := 300 - uint32(tC.Sub(t0)/time.Second)
	hi := 300 - uint32(tB.Sub(tA)/time.Second)
	if ttl := r.Answer[0].Header().Ttl; ttl < lo || ttl > hi {
		t.Fatalf("cached answer TTL %d, want %d..%d (300 less the seconds in the cache)", ttl, lo, hi)
	}
}

// TestTruncation: an internal answer bigger than 512 bytes is never sent
// by the fast path to a client without EDNS: the chain answers it with
// TC=1; a client with a large enough EDNS buffer gets it whole, precomputed.
func TestTruncation(t *testing.T) {
	e := newE2E(t)
	const name = "big.corp.internal."
	e.waitFast(name, dns.TypeTXT, "prebuilt")
	for i := 0; i < 2; i++ {
		before := e.scrape()
		r := e.exchange(name, dns.TypeTXT, false)
		after := e.scrape()
		if !r.Truncated {
			t.Fatalf("client without EDNS, query %d: TC=0 with %d records; want TC=1", i, len(r.Answer))
		}
		for _, path := range []string{"prebuilt", "packetcache"} {
			if d := delta(before, after, "coredns_fastpath_responses_total", map[string]string{"path": path}); d != 0 {
				t.Fatalf("client without EDNS, query %d: %v answers from %s", i, d, path)
			}
		}
	}
	before := e.fastCount("prebuilt")
	r := e.exchange(name, dns.TypeTXT, true)
	if r.Truncated || len(r.Answer) != 10 {
		t.Fatalf("EDNS client: TC=%t with %d records; want all 10", r.Truncated, len(r.Answer))
	}
	if e.fastCount("prebuilt") != before+1 {
		t.Fatal("EDNS client: not answered from the precomputed answers")
	}
	// What an operator sees with dig.
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Log("dig not installed; skipping the dig check")
		return
	}
	host, port, _ := net.SplitHostPort(e.addr)
	out, err := exec.Command(dig, "@"+host, "-p", port, "+noedns", "+ignore", "+tries=1", "+time=3", name, "TXT").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "flags: qr aa tc rd") {
		t.Fatalf("dig +noedns: no TC flag:\n%s", out)
	}
}

// TestOptions: the README's promises about the block's options and about
// `log`, on a real server: the answers are the same, only the way differs.
func TestOptions(t *testing.T) {
	tests := []struct {
		name, block         string
		prebuilt, cacheHits bool
		logged              bool // every query gets its log line
	}{
		// The fast path stays on, and its answers reach the log too.
		{"log keeps the fast path", "log\n    " + fastpathBlock, true, true, true},
		{"cache 0: no packet cache", "fastpath {\n        cache 0\n    }", true, false, false},
		// The test zone has 17 records.
		{"max_records below the zones' size: nothing precomputed", "fastpath {\n        max_records 5\n    }", false, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := startUpstream(t, "", 300, upstreamNames)
			crit, stale := blackhole(t), blackhole(t)
			vars := defaultVars(freePort(t), up.port(), crit.LocalAddr().(*net.UDPAddr).Port, stale.LocalAddr().(*net.UDPAddr).Port)
			var out *syncBuffer
			if tc.logged {
				out = captureLog(t)
			}
			n := startNode(t, vars, tc.block)
			before := n.scrape()
			for i := 0; i < 10; i++ {
				if r := n.exchange("www.corp.internal.", dns.TypeA, true); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.5.80" || !r.Authoritative {
					t.Fatalf("www.corp.internal.: %v", r)
				}
				if r := n.exchange("cached.example.", dns.TypeA, true); len(aRecords(r)) != 1 || aRecords(r)[0] != "198.18.99.1" {
					t.Fatalf("cached.example.: %v", r)
				}
				time.Sleep(5 * time.Millisecond) // let a background build finish
			}
			after := n.scrape()
			prebuilt := delta(before, after, "coredns_fastpath_responses_total", map[string]string{"path": "prebuilt"})
			hits := delta(before, after, "coredns_fastpath_responses_total", map[string]string{"path": "packetcache"})
			if (prebuilt > 0) != tc.prebuilt || (hits > 0) != tc.cacheHits {
				t.Fatalf("%v precomputed answers, %v packet cache answers; want precomputed %t, packet cache %t", prebuilt, hits, tc.prebuilt, tc.cacheHits)
			}
			// Every query is still counted once (the chain counts after it
			// wrote: wait for it).
			udp := map[string]string{"server": n.server(), "proto": "udp"}
			after = n.scrapeUntil(func(f map[string]*dto.MetricFamily) bool {
				return delta(before, f, "coredns_dns_requests_total", udp) >= 20
			})
			if d := delta(before, after, "coredns_dns_requests_total", udp); d != 20 {
				t.Fatalf("coredns_dns_requests_total grew by %v, want 20", d)
			}
			if tc.logged {
				waitLogLines(t, out, map[string]int{`"A IN www.corp.internal. udp `: 10, `"A IN cached.example. udp `: 10})
			}
		})
	}
}

// TestUDPMatchesTCP: for every name of the test zone and common types, the
// answer over UDP (the fast path) is the answer over TCP (CoreDNS and the
// whole chain), field by field, whatever the fast path answered from.
func TestUDPMatchesTCP(t *testing.T) {
	e := newE2E(t)
	e.waitFast("www.corp.internal.", dns.TypeA, "prebuilt")
	names := []string{"corp.internal.", "www.corp.internal.", "swap.corp.internal.", "ns1.corp.internal.", "ext.corp.internal.",
		"nope.corp.internal.", "a.b.corp.internal.", "cached.example.", "fwd.example."}
	before := e.scrape()
	for round := 0; round < 3; round++ { // the second round passes the door keeper, the third finds the packet cache warm
		for _, name := range names {
			for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeSOA, dns.TypeNS, dns.TypeTXT, dns.TypeCNAME} {
				for _, do := range []bool{false, true} {
					q := new(dns.Msg)
					q.SetQuestion(name, qtype)
					q.SetEdns0(4096, do)
					var got [2]*dns.Msg
					for i, proto := range []string{"udp", "tcp"} {
						c := &dns.Client{Net: proto, Timeout: 3 * time.Second, UDPSize: 4096}
						r, _, err := c.Exchange(q.Copy(), e.addr)
						if err != nil {
							t.Fatalf("%s %s %s: %v", proto, name, dns.TypeToString[qtype], err)
						}
						got[i] = r
					}
					// Answers from the recursor's cache over TCP carry TTLs
					// decremented on their own clock: compare TTLs only for
					// authoritative answers.
					if !got[1].Authoritative {
						for _, m := range got {
							for _, rr := range append(append(m.Answer[:len(m.Answer):len(m.Answer)], m.Ns...), m.Extra...) {
								if rr.Header().Rrtype != dns.TypeOPT {
									rr.Header().Ttl = 0
								}
							}
						}
					}
					if diff := msgDiff(got[1], got[0], false); diff != "" {
						t.Errorf("%s %s do=%t: UDP answer differs from TCP's: %s\nTCP:\n%v\nUDP:\n%v", name, dns.TypeToString[qtype], do, diff, got[1], got[0])
					}
				}
			}
		}
	}
	after := e.scrape()
	for _, path := range []string{"prebuilt", "packetcache"} {
		if delta(before, after, "coredns_fastpath_responses_total", map[string]string{"path": path}) == 0 {
			t.Errorf("no UDP answer came from %s: the comparison did not cover it", path)
		}
	}
}

// TestReload: after a reload (what SIGUSR1 does) the new instance's fast
// path answers, and the old one's sockets are gone: every answer after a
// new revision is the new revision's, from the precomputed answers.
func TestReload(t *testing.T) {
	e := newE2E(t)
	e.waitFast("swap.corp.internal.", dns.TypeA, "prebuilt")
	inst, err := e.inst.Restart(caddy.CaddyfileInput{Contents: []byte(e.corefile), Filepath: "Corefile.fastpath-e2e", ServerTypeName: "dns"})
	if err != nil {
		t.Fatal(err)
	}
	e.inst = inst
	v := e.vars
	v.Serial = 2
	v.Swap = [2]string{"198.18.10.3", "198.18.10.4"}
	e.commit(v, "after the reload")
	e.waitFast("swap.corp.internal.", dns.TypeA, "prebuilt")
	before := e.fastCount("prebuilt")
	const N = 200
	for i := 0; i < N; i++ {
		r := e.exchange("swap.corp.internal.", dns.TypeA, false)
		a := aRecords(r)
		sort.Strings(a)
		if strings.Join(a, " ") != "198.18.10.3 198.18.10.4" {
			t.Fatalf("answer %d after the reload and the new revision: %v", i, a)
		}
	}
	// The fast path counts a batch before it sends it: all are counted.
	if d := e.fastCount("prebuilt") - before; d != N {
		t.Fatalf("%v of %d answers from the precomputed answers after the reload", d, N)
	}
}
