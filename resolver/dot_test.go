package resolver

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/pkitest"
)

// startDOT is a DNS-over-TLS forward target on 127.0.0.1 answering every
// A question with 198.18.7.7.
func startDOT(t testing.TB, cert tls.Certificate) *pkitest.DOTServer {
	t.Helper()
	return pkitest.ServeDOT(t, "127.0.0.1", cert, "198.18.7.7")
}

// dotResolver forwards corp.test. to target over TLS with name and the
// CA ca trusts.
func dotResolver(t testing.TB, target netip.AddrPort, name string, ca *pkitest.CA) *Resolver {
	t.Helper()
	cfg := slowConfig(Config{
		RootHints: mustRRs(t, ".", ". NS a.root.test.\na.root.test. A 127.0.54.1"), // never asked
		Forward: []ForwardRule{{Zone: "corp.test.", To: []netip.AddrPort{target},
			TLS: []*tls.Config{{ServerName: name, RootCAs: ca.Pool()}}}},
	})
	cfg.UpstreamTimeout, cfg.InitialTimeout, cfg.MinTimeout = 2*time.Second, 2*time.Second, 2*time.Second
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func resolveA(r *Resolver, name string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Resolve(ctx, dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET})
}

// TestForwardOverTLS: a forward target over TLS answers through one
// authenticated connection reused by every query, concurrent ones
// included (RFC 7858 3.4, RFC 7766 6.2.1).
func TestForwardOverTLS(t *testing.T) {
	ca := pkitest.NewCA(t, "corp test CA")
	srv := startDOT(t, ca.IssueNow(t, 2, "dns.corp.test").TLS)
	r := dotResolver(t, srv.Addr, "dns.corp.test", ca)
	resp, err := resolveA(r, "a.corp.test.")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || !strings.Contains(resp.Answer[0].String(), "198.18.7.7") {
		t.Fatalf("answer over TLS: %v", resp)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := resolveA(r, fmt.Sprintf("n%d.corp.test.", i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if q := srv.Queries.Load(); q != 41 {
		t.Errorf("the server answered %d queries, want 41 (no cache hit asked; none went elsewhere)", q)
	}
	if c := srv.Conns.Load(); c < 1 || c > dotMaxConns {
		t.Errorf("%d TLS connections for 41 queries: want 1 to %d (reused)", c, dotMaxConns)
	}
	if r.ForwardTargetDown(srv.Addr) {
		t.Error("the TLS target is down after answering")
	}
}

// TestForwardOverTLSRefused: a target whose certificate does not
// authenticate is never used (RFC 8310 8.1, strict profile): SERVFAIL with
// EDE 23 and an error naming the target; nothing is sent in clear text.
func TestForwardOverTLSRefused(t *testing.T) {
	ca := pkitest.NewCA(t, "corp test CA")
	other := pkitest.NewCA(t, "someone else's CA")
	now := time.Now()
	for _, tc := range []struct {
		name string
		leaf pkitest.Leaf
		want string // in the error
	}{
		{"wrong name", ca.IssueNow(t, 2, "dns.other.test"), "dns.other.test"},
		{"unknown CA", other.IssueNow(t, 3, "dns.corp.test"), "unknown authority"},
		{"expired", ca.Issue(t, 4, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "dns.corp.test"), "expired"},
		{"not yet valid", ca.Issue(t, 5, now.Add(time.Hour), now.Add(48*time.Hour), "dns.corp.test"), "not yet valid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startDOT(t, tc.leaf.TLS)
			r := dotResolver(t, srv.Addr, "dns.corp.test", ca)
			_, err := resolveA(r, "a.corp.test.")
			if err == nil {
				t.Fatal("resolved through a server that did not authenticate")
			}
			if !errors.Is(err, errTLSAuth) || !strings.Contains(err.Error(), srv.Addr.String()) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want errTLSAuth naming %s and %q", err, srv.Addr, tc.want)
			}
			if code, text := ExtendedError(err); code != dns.ExtendedErrorCodeNetworkError || !strings.Contains(text, "TLS") {
				t.Errorf("EDE %d %q, want 23 (Network Error) about TLS", code, text)
			}
			if q := srv.Queries.Load(); q != 0 {
				t.Errorf("the server got %d queries from a resolver that did not trust it", q)
			}
			if !r.ForwardTargetDown(srv.Addr) {
				t.Error("a target that failed authentication is not marked down")
			}
		})
	}
}

// TestForwardOverTLSNotTLS: a target that speaks plain DNS on the port is
// a failed handshake (EDE 23), not a clear-text exchange.
func TestForwardOverTLSNotTLS(t *testing.T) {
	ca := pkitest.NewCA(t, "corp test CA")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var queries atomic.Int64
	srv := &dns.Server{Listener: ln, Net: "tcp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	target := netip.MustParseAddrPort(ln.Addr().String())
	r := dotResolver(t, target, "dns.corp.test", ca)
	_, err = resolveA(r, "a.corp.test.")
	if err == nil || !strings.Contains(err.Error(), target.String()) {
		t.Fatalf("error %v: want a failure naming %s", err, target)
	}
	if code, _ := ExtendedError(err); code != dns.ExtendedErrorCodeNetworkError && code != dns.ExtendedErrorCodeNoReachableAuthority {
		t.Errorf("EDE %d, want 22 or 23", code)
	}
	if queries.Load() != 0 {
		t.Error("a query reached the server in clear text")
	}
}

// TestForwardOverTLSHealth: a TLS target that failed is probed by the
// health check over TLS and is up again once it answers.
func TestForwardOverTLSHealth(t *testing.T) {
	ca := pkitest.NewCA(t, "corp test CA")
	srv := startDOT(t, ca.IssueNow(t, 2, "dns.corp.test").TLS)
	r := dotResolver(t, srv.Addr, "dns.corp.test", ca)
	info := r.c.server(serverKey{addr: srv.Addr})
	r.failed(info, time.Second, 1)
	if !r.ForwardTargetDown(srv.Addr) {
		t.Fatal("target not down after a failure")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	r.CheckHealth(ctx)
	if r.ForwardTargetDown(srv.Addr) {
		t.Error("the health check over TLS did not bring the target back")
	}
	if srv.Queries.Load() != 1 {
		t.Errorf("health check: %d queries over TLS, want 1", srv.Queries.Load())
	}
}

// TestDOTPipelinedOutOfOrder: replies on one connection come back in any
// order (RFC 7766 6.2.1.1) and each reaches the query it answers, small
// ones and ones of up to 14 KB.
func TestDOTPipelinedOutOfOrder(t *testing.T) {
	ca := pkitest.NewCA(t, "corp test CA")
	leaf := ca.IssueNow(t, 2, "dns.corp.test")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const n = 8
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var qs []*dns.Msg
		for len(qs) < n { // read all n, then answer last first
			var hdr [2]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			b := make([]byte, binary.BigEndian.Uint16(hdr[:]))
			if _, err := io.ReadFull(c, b); err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(b) != nil {
				return
			}
			qs = append(qs, q)
		}
		for i := len(qs) - 1; i >= 0; i-- {
			m := new(dns.Msg)
			m.SetReply(qs[i])
			// Large replies (over 4 KiB, more than the reader's first buffer).
			txt := &dns.TXT{Hdr: dns.RR_Header{Name: qs[i].Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
				Txt: []string{qs[i].Question[0].Name}}
			for len(txt.Txt) < 1+i*8 {
				txt.Txt = append(txt.Txt, strings.Repeat("x", 250))
			}
			m.Answer = []dns.RR{txt}
			b, _ := m.Pack()
			out := binary.BigEndian.AppendUint16(nil, uint16(len(b)))
			if _, err := c.Write(append(out, b...)); err != nil {
				return
			}
		}
		_, _ = io.Copy(io.Discard, c)
	}()
	p := newDOTPool(netip.MustParseAddrPort(ln.Addr().String()), &tls.Config{ServerName: "dns.corp.test", RootCAs: ca.Pool()})
	defer p.close()
	// One connection first, so all n share it.
	c, err := p.conn(context.Background(), time.Now().Add(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("q%d.corp.test.", i)
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeTXT)
			m.Id = 4242 // the same id for all: the connection's own ids tell them apart
			r, err := c.exchange(context.Background(), time.Now().Add(3*time.Second), m)
			if err != nil {
				t.Error(err)
				return
			}
			if r.Id != 4242 || len(r.Answer) != 1 || !strings.Contains(r.Answer[0].String(), name) {
				t.Errorf("%s got %v", name, r)
			}
		}()
	}
	wg.Wait()
}

// TestSetForwardRulesKeepsDOTConnections: a new revision with the same
// TLS rule keeps the pool (and its connections); another name replaces it.
func TestSetForwardRulesKeepsDOTConnections(t *testing.T) {
	ca := pkitest.NewCA(t, "corp test CA")
	srv := startDOT(t, ca.IssueNow(t, 2, "dns.corp.test", "dns2.corp.test").TLS)
	r := dotResolver(t, srv.Addr, "dns.corp.test", ca)
	if _, err := resolveA(r, "a.corp.test."); err != nil {
		t.Fatal(err)
	}
	before := r.dyn.Load().dot[srv.Addr]
	same := []ForwardRule{{Zone: "corp.test.", To: []netip.AddrPort{srv.Addr}, TLS: []*tls.Config{{ServerName: "dns.corp.test", RootCAs: ca.Pool()}}}}
	r.SetForwardRules(same)
	if r.dyn.Load().dot[srv.Addr] != before {
		t.Error("an unchanged TLS rule replaced the target's connections")
	}
	if _, err := resolveA(r, "b.corp.test."); err != nil {
		t.Fatal(err)
	}
	if c := srv.Conns.Load(); c != 1 {
		t.Errorf("%d connections across a revision with the same rule, want 1", c)
	}
	r.SetForwardRules([]ForwardRule{{Zone: "corp.test.", To: []netip.AddrPort{srv.Addr}, TLS: []*tls.Config{{ServerName: "dns2.corp.test", RootCAs: ca.Pool()}}}})
	if r.dyn.Load().dot[srv.Addr] == before {
		t.Error("a rule with another name kept the old connections")
	}
	if !before.closed {
		t.Error("the replaced pool was not closed")
	}
}

// BenchmarkForwardTransport: the cost of one forwarded query (a cache miss
// answered by a loopback forward target) over UDP (a fresh socket per
// query, the default) and over TLS (persistent pipelined connections).
// cpu-us/op is the process's CPU time per query, the target's work
// included (the same miekg/dns server behind both); compare the two side
// by side within one run.
func BenchmarkForwardTransport(b *testing.B) {
	ca := pkitest.NewCA(b, "corp test CA")
	for _, tc := range []struct {
		name string
		res  func() *Resolver
	}{
		{"udp", func() *Resolver {
			cfg := slowConfig(Config{
				RootHints: mustRRs(b, ".", ". NS a.root.test.\na.root.test. A 127.0.54.1"),
				Forward:   []ForwardRule{{Zone: "corp.test.", To: []netip.AddrPort{serveA(b, "127.0.0.1:0", false)}}},
			})
			cfg.UDPPool = false // the default transport
			r, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(r.Close)
			return r
		}},
		{"tls", func() *Resolver {
			return dotResolver(b, startDOT(b, ca.IssueNow(b, 2, "dns.corp.test").TLS).Addr, "dns.corp.test", ca)
		}},
	} {
		for _, parallel := range []bool{false, true} {
			name := tc.name
			if parallel {
				name += "-parallel"
			}
			b.Run(name, func(b *testing.B) {
				r := tc.res()
				if _, err := resolveA(r, "warm.corp.test."); err != nil {
					b.Fatal(err)
				}
				var seq atomic.Int64
				ask := func() {
					if _, err := resolveA(r, fmt.Sprintf("q%d.corp.test.", seq.Add(1))); err != nil {
						b.Error(err)
					}
				}
				before := cpuTime(b)
				b.ResetTimer()
				if parallel {
					b.SetParallelism(8) // 16 resolutions in flight on 2 cores
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							ask()
						}
					})
				} else {
					for i := 0; i < b.N; i++ {
						ask()
					}
				}
				b.StopTimer()
				b.ReportMetric(float64((cpuTime(b)-before).Microseconds())/float64(b.N), "cpu-us/op")
			})
		}
	}
}

// TestDOTServerClosesConnections: miekg/dns closes a TCP connection after
// 128 queries (servers may close when they like, RFC 7766 6.2.3); queries
// caught on a closing connection are sent again on a new one (RFC 7766
// 6.2.1) and none fails, sequential or concurrent.
func TestDOTServerClosesConnections(t *testing.T) {
	ca := pkitest.NewCA(t, "corp test CA")
	srv := startDOT(t, ca.IssueNow(t, 2, "dns.corp.test").TLS)
	r := dotResolver(t, srv.Addr, "dns.corp.test", ca)
	// Measured first: a server never measured gets at most 8 queries at once.
	if _, err := resolveA(r, "warm.corp.test."); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int64
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				if _, err := resolveA(r, fmt.Sprintf("w%d-%d.corp.test.", w, i)); err != nil {
					failed.Add(1)
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if c := srv.Conns.Load(); c < 4 {
		t.Errorf("480 queries over %d connections: the server's 128-query limit never closed one (the test does not test)", c)
	}
	if r.ForwardTargetDown(srv.Addr) {
		t.Error("a server closing connections was marked down")
	}
}

// TestDOTServerClosesBusyConnections: a target closing every connection
// after a few queries, with more pipelined behind them (servers close
// connections when they like, busy ones included: RFC 7766 6.2.3), is
// not a failing server: under parallel load every resolution succeeds
// (the caught queries are sent again, RFC 7766 6.2.4), none is refused
// by the outstanding cap of a failing server, and the target is never
// marked down.
func TestDOTServerClosesBusyConnections(t *testing.T) {
	ca := pkitest.NewCA(t, "corp test CA")
	for _, tc := range []struct {
		name       string
		maxQueries int // per connection, then the server closes it
		workers    int // resolutions in flight
		each       int // resolutions per worker
	}{
		{"closes after 16", 16, 16, 40},
		{"closes after 50", 50, 16, 40},
		{"closes after 128 (miekg default)", 128, 16, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := pkitest.ServeDOTClosingAfter(t, "127.0.0.1", ca.IssueNow(t, 2, "dns.corp.test").TLS, "198.18.7.7", tc.maxQueries)
			r := dotResolver(t, srv.Addr, "dns.corp.test", ca)
			if _, err := resolveA(r, "warm.corp.test."); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var failed atomic.Int64
			for w := range tc.workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range tc.each {
						if _, err := resolveA(r, fmt.Sprintf("w%d-%d.corp.test.", w, i)); err != nil {
							if failed.Add(1) <= 5 {
								t.Error(err)
							}
						}
					}
				}()
			}
			wg.Wait()
			if n := failed.Load(); n > 0 {
				t.Errorf("%d of %d resolutions failed", n, tc.workers*tc.each)
			}
			if q, c := srv.Queries.Load(), srv.Conns.Load(); c < 2 || q <= int64(tc.maxQueries) {
				t.Errorf("%d queries over %d connections: the server's %d-query limit closed none (the test does not test)", q, c, tc.maxQueries)
			}
			if r.ForwardTargetDown(srv.Addr) {
				t.Error("a server closing busy connections was marked down")
			}
		})
	}
}

// FuzzDOTReader feeds a connection's reader whatever a server may send:
// it never panics, every waiting query ends (answered or failed), and a
// reply reaches only the query whose wire id it carries.
func FuzzDOTReader(f *testing.F) {
	reply := func(id uint16) []byte {
		m := new(dns.Msg)
		m.SetQuestion("a.corp.test.", dns.TypeA)
		m.Id, m.Response = id, true
		b, _ := m.Pack()
		return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...)
	}
	f.Add(reply(0))
	f.Add(append(reply(1), reply(0)...))
	f.Add([]byte{0xff, 0xff, 1, 2, 3})
	f.Add([]byte{0, 3, 1, 2, 3})
	f.Fuzz(func(t *testing.T, stream []byte) {
		client, server := net.Pipe()
		c := &dotConn{server: netip.MustParseAddrPort("127.0.0.1:853"), tc: client, pending: map[uint16]chan *dns.Msg{}, lastRead: time.Now()}
		go c.readLoop()
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Drain what the client writes; send the stream; hang up.
			go func() { _, _ = io.Copy(io.Discard, server) }()
			_, _ = server.Write(stream)
			_ = server.Close()
		}()
		var wg sync.WaitGroup
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m := new(dns.Msg)
				m.SetQuestion("a.corp.test.", dns.TypeA)
				m.Id = 7
				if r, err := c.exchange(context.Background(), time.Now().Add(2*time.Second), m); err == nil && r.Id != 7 {
					t.Errorf("reply with id %d", r.Id)
				}
			}()
		}
		wg.Wait()
		<-done
		c.fail(io.EOF)
	})
}
