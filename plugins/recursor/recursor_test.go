package recursor

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/resolver"
)

// swapSource serves whatever snapshot the test stores.
type swapSource struct {
	p atomic.Pointer[node.Snapshot]
}

func (s *swapSource) Snapshot() *node.Snapshot { return s.p.Load() }

// authServer runs a real DNS server on 127.0.0.1 (UDP) authoritative for
// "." holding records (authHandler); it stops when the test ends.
func authServer(t testing.TB, records string, rd bool) (netip.AddrPort, *atomic.Int64) {
	t.Helper()
	h, hits := authHandler(t, records, rd)
	addr, _ := serve(t, h)
	return addr, hits
}

// authHandler answers as a server authoritative for "." holding records;
// every other name is NXDOMAIN. With rd set it only answers recursive
// queries (a forward target). hits counts the queries it got.
func authHandler(t testing.TB, records string, rd bool) (dns.Handler, *atomic.Int64) {
	t.Helper()
	var rrs []dns.RR
	for _, line := range strings.Split(strings.TrimSpace(records), "\n") {
		rr, err := dns.NewRR(line)
		if err != nil {
			t.Fatal(err)
		}
		rrs = append(rrs, rr)
	}
	soa, _ := dns.NewRR(". 60 IN SOA a.root.test. h.test. 1 60 60 600 60")
	var hits atomic.Int64
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		hits.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		if rd && !q.RecursionDesired {
			m.Rcode = dns.RcodeRefused
			_ = w.WriteMsg(m)
			return
		}
		m.Authoritative = !rd
		m.RecursionAvailable = rd
		name := strings.ToLower(q.Question[0].Name)
		exists := false
		for _, rr := range rrs {
			if dns.IsSubDomain(name, strings.ToLower(rr.Header().Name)) {
				exists = true
			}
			if strings.EqualFold(rr.Header().Name, name) && rr.Header().Rrtype == q.Question[0].Qtype {
				m.Answer = append(m.Answer, rr)
			}
		}
		if len(m.Answer) == 0 {
			if !exists {
				m.Rcode = dns.RcodeNameError
			}
			m.Ns = []dns.RR{soa}
		}
		_ = w.WriteMsg(m)
	})
	return h, &hits
}

// serve runs h on a free UDP port of 127.0.0.1 until stop is called or the
// test ends.
func serve(t testing.TB, h dns.Handler) (addr netip.AddrPort, stop func()) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	started := make(chan struct{})
	udp.NotifyStartedFunc = func() { close(started) }
	go func() { _ = udp.ActivateAndServe() }()
	<-started
	stop = func() { _ = udp.Shutdown() }
	t.Cleanup(stop)
	return netip.MustParseAddrPort(pc.LocalAddr().String()), stop
}

func hints(t testing.TB) []dns.RR {
	var out []dns.RR
	for _, s := range []string{". 3600 IN NS a.root.test.", "a.root.test. 3600 IN A 127.0.0.1"} {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rr)
	}
	return out
}

func query(t *testing.T, rc *Recursor, client, name string, qtype, qclass uint16) (*dns.Msg, int, error) {
	t.Helper()
	w := &test.ResponseWriter{RemoteIP: client}
	rec := &recorder{ResponseWriter: w}
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.Question[0].Qclass = qclass
	q.SetEdns0(4096, false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rcode, err := rc.ServeDNS(ctx, rec, q)
	return rec.msg, rcode, err
}

type recorder struct {
	dns.ResponseWriter
	msg *dns.Msg
}

func (r *recorder) WriteMsg(m *dns.Msg) error { r.msg = m; return nil }

func TestServeDNS(t *testing.T) {
	root, rootHits := authServer(t, "www.example.com. 300 IN A 192.0.2.1", false)
	fwd, fwdHits := authServer(t, "www.example.com. 300 IN A 198.51.100.7\nintranet.corp. 300 IN A 198.51.100.8", true)
	src := &swapSource{}
	rc := &Recursor{Source: src, Config: resolver.Config{Port: root.Port(), DisableIPv6: true, HealthInterval: -1, QueryLocalhost: true}}
	defer rc.Close()

	// No revision yet: SERVFAIL, nothing written (the server writes it).
	m, rcode, err := query(t, rc, "127.0.0.1", "www.example.com.", dns.TypeA, dns.ClassINET)
	if rcode != dns.RcodeServerFailure || m != nil || !errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("nil snapshot: rcode %d msg %v err %v", rcode, m, err)
	}

	snap1 := &node.Snapshot{
		RecursionAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		RootHints:      hints(t),
	}
	src.p.Store(snap1)
	tests := []struct {
		name, client, qname string
		qclass              uint16
		wantRcode           int // returned by ServeDNS
		wantAnswer          string
		wantReplyRcode      int
	}{
		{"allowed client recurses", "127.0.0.9", "www.example.com.", dns.ClassINET, dns.RcodeSuccess, "192.0.2.1", dns.RcodeSuccess},
		{"NXDOMAIN", "127.0.0.9", "nope.example.com.", dns.ClassINET, dns.RcodeSuccess, "", dns.RcodeNameError},
		{"client outside recursion.allow", "10.1.2.3", "www.example.com.", dns.ClassINET, dns.RcodeRefused, "", 0},
		{"IPv6 client outside", "2001:db8::1", "www.example.com.", dns.ClassINET, dns.RcodeRefused, "", 0},
		{"CHAOS class", "127.0.0.9", "version.bind.", dns.ClassCHAOS, dns.RcodeRefused, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, rcode, err := query(t, rc, tc.client, tc.qname, dns.TypeA, tc.qclass)
			if rcode != tc.wantRcode {
				t.Fatalf("rcode %s, want %s (err %v)", dns.RcodeToString[rcode], dns.RcodeToString[tc.wantRcode], err)
			}
			if tc.wantRcode != dns.RcodeSuccess {
				if m != nil {
					t.Fatalf("wrote %v for a refusal", m)
				}
				return
			}
			if m.Rcode != tc.wantReplyRcode || !m.RecursionAvailable || m.Authoritative || m.IsEdns0() == nil {
				t.Fatalf("reply %v", m)
			}
			if tc.wantAnswer != "" && (len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), tc.wantAnswer)) {
				t.Fatalf("answer %v, want %s", m.Answer, tc.wantAnswer)
			}
		})
	}
	if rootHits.Load() == 0 {
		t.Fatal("root never asked")
	}
	res := rc.res.Load()

	// A new revision forwarding everything: the next query goes to the
	// forward target; the resolver (and its cache) is the same.
	snap2 := &node.Snapshot{
		RecursionAllow: snap1.RecursionAllow,
		RootHints:      hints(t),
		Forward:        []model.ForwardRule{{Zone: ".", To: []netip.AddrPort{fwd}}},
	}
	src.p.Store(snap2)
	m, _, err = query(t, rc, "127.0.0.9", "intranet.corp.", dns.TypeA, dns.ClassINET)
	if err != nil || len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), "198.51.100.8") {
		t.Fatalf("after swap: %v %v", m, err)
	}
	if rc.res.Load() != res {
		t.Fatal("a new snapshot replaced the resolver")
	}
	before := rootHits.Load()
	m, _, _ = query(t, rc, "127.0.0.9", "www.example.com.", dns.TypeA, dns.ClassINET)
	if len(m.Answer) != 1 || !strings.Contains(m.Answer[0].String(), "192.0.2.1") {
		t.Fatalf("cache dropped on a snapshot swap with the same hints: %v", m)
	}
	if rootHits.Load() != before || fwdHits.Load() != 1 {
		t.Fatalf("root %d->%d, forwarder %d queries", before, rootHits.Load(), fwdHits.Load())
	}

	// Recursion ACL follows the snapshot too.
	src.p.Store(&node.Snapshot{RootHints: hints(t), RecursionAllow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if _, rcode, _ := query(t, rc, "127.0.0.9", "www.example.com.", dns.TypeA, dns.ClassINET); rcode != dns.RcodeRefused {
		t.Fatalf("client no longer allowed: %s", dns.RcodeToString[rcode])
	}
}

// TestServeDNSUnreachableIsServfail: the root is a closed port, so every
// question fails. The plugin writes the SERVFAIL itself, with RA (the client
// may recurse) and EDE 23 Network Error (ECONNREFUSED), and still returns
// the error for the errors plugin (issue 13: CoreDNS wrote a bare SERVFAIL
// without RA and without a reason).
func TestServeDNSUnreachableIsServfail(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	src := &swapSource{}
	src.p.Store(&node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, RootHints: hints(t)})
	rc := &Recursor{Source: src, Config: resolver.Config{Port: uint16(port), DisableIPv6: true, HealthInterval: -1, Deadline: time.Second, QueryLocalhost: true}}
	defer rc.Close()
	m, rcode, err := query(t, rc, "127.0.0.1", "www.example.com.", dns.TypeA, dns.ClassINET)
	if !plugin.ClientWrite(rcode) || m == nil || err == nil {
		t.Fatalf("returned rcode %s, wrote %v, err %v: want a written SERVFAIL and the error", dns.RcodeToString[rcode], m, err)
	}
	if m.Rcode != dns.RcodeServerFailure || !m.RecursionAvailable || !m.Response {
		t.Fatalf("reply %v: want SERVFAIL with RA", m)
	}
	var ede *dns.EDNS0_EDE
	if o := m.IsEdns0(); o != nil {
		for _, opt := range o.Option {
			if e, ok := opt.(*dns.EDNS0_EDE); ok {
				ede = e
			}
		}
	}
	if ede == nil || ede.InfoCode != dns.ExtendedErrorCodeNetworkError {
		t.Fatalf("EDE %v, want 23 Network Error, in %v", ede, m)
	}
}

// BenchmarkServeDNSCacheHit is the plugin's hot path: snapshot load, ACL,
// pointer compare, cache hit, reply.
func BenchmarkServeDNSCacheHit(b *testing.B) {
	root, _ := authServer(b, "www.example.com. 300 IN A 192.0.2.1", false)
	src := &swapSource{}
	src.p.Store(&node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.0/8")}, RootHints: hints(b)})
	rc := &Recursor{Source: src, Config: resolver.Config{Port: root.Port(), DisableIPv6: true, HealthInterval: -1, QueryLocalhost: true}}
	defer rc.Close()
	w := &test.ResponseWriter{RemoteIP: "127.0.0.9"}
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	ctx := context.Background()
	if _, err := rc.ServeDNS(ctx, w, q); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if rcode, err := rc.ServeDNS(ctx, w, q); rcode != dns.RcodeSuccess || err != nil {
			b.Fatal(rcode, err)
		}
	}
}

// TestSetReplyMatchesMiekg: setReply makes the same reply header and
// question as dns.Msg.SetReply (the rcode aside, which it keeps), and
// reuses the reply's question slice.
func TestSetReplyMatchesMiekg(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opcode int
		rd, cd bool
	}{
		{"query rd", dns.OpcodeQuery, true, false},
		{"query cd", dns.OpcodeQuery, false, true},
		{"notify", dns.OpcodeNotify, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := new(dns.Msg)
			r.SetQuestion("WwW.example.com.", dns.TypeAAAA)
			r.Id, r.Opcode, r.RecursionDesired, r.CheckingDisabled = 4711, tc.opcode, tc.rd, tc.cd
			fresh := func() *dns.Msg {
				m := new(dns.Msg)
				m.Question = []dns.Question{{Name: "www.example.com.", Qtype: dns.TypeAAAA, Qclass: dns.ClassINET}}
				m.Rcode = dns.RcodeNameError
				m.Authoritative = true
				return m
			}
			got, want := fresh(), fresh()
			slice := &got.Question[0]
			setReply(got, r)
			want.SetReply(r)
			want.Rcode = dns.RcodeNameError
			if got.String() != want.String() || got.Id != want.Id {
				t.Fatalf("setReply:\n%v\nSetReply:\n%v", got, want)
			}
			if &got.Question[0] != slice {
				t.Error("question slice not reused")
			}
		})
	}
}

// TestServeDNSNoRecursionWithoutRD: a query without RD never makes the
// recursor ask an authority (RFC 1034 4.3.1): before the name is cached it
// gets a referral (the root hints here), after it the cached answer.
func TestServeDNSNoRecursionWithoutRD(t *testing.T) {
	root, rootHits := authServer(t, "www.example.com. 300 IN A 192.0.2.1", false)
	src := &swapSource{}
	src.p.Store(&node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, RootHints: hints(t)})
	rc := &Recursor{Source: src, Config: resolver.Config{Port: root.Port(), DisableIPv6: true, HealthInterval: -1, QueryLocalhost: true}}
	defer rc.Close()
	ask := func(rd bool) *dns.Msg {
		t.Helper()
		rec := &recorder{ResponseWriter: &test.ResponseWriter{RemoteIP: "127.0.0.9"}}
		q := new(dns.Msg)
		q.SetQuestion("www.example.com.", dns.TypeA)
		q.RecursionDesired = rd
		if _, err := rc.ServeDNS(context.Background(), rec, q); err != nil || rec.msg == nil {
			t.Fatalf("rd=%v: %v %v", rd, rec.msg, err)
		}
		return rec.msg
	}
	m := ask(false)
	if rootHits.Load() != 0 || len(m.Answer) != 0 || len(m.Ns) != 1 || m.Ns[0].(*dns.NS).Ns != "a.root.test." || !m.RecursionAvailable || m.RecursionDesired {
		t.Fatalf("+norec of an unseen name: %d upstream queries, reply %v", rootHits.Load(), m)
	}
	if m := ask(true); len(m.Answer) != 1 {
		t.Fatalf("with RD: %v", m)
	}
	before := rootHits.Load()
	if m := ask(false); len(m.Answer) != 1 || rootHits.Load() != before {
		t.Fatalf("+norec of a cached name: %v, %d upstream queries", m, rootHits.Load()-before)
	}
}
