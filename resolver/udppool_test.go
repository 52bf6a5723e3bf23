package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// responder runs a UDP server on 127.0.0.1 that calls answer for each query
// it reads (in its own goroutine when async) and records the source ports
// queries came from.
type responder struct {
	pc    net.PacketConn
	addr  netip.AddrPort
	mu    sync.Mutex
	ports []uint16
}

func startResponder(t *testing.T, async bool, answer func(rs *responder, q *dns.Msg, from net.Addr)) *responder {
	return startResponderOn(t, "127.0.0.1:0", async, answer)
}

func startResponderOn(t *testing.T, laddr string, async bool, answer func(rs *responder, q *dns.Msg, from net.Addr)) *responder {
	t.Helper()
	pc, err := net.ListenPacket("udp", laddr)
	if err != nil {
		if laddr == "[::1]:0" {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatal(err)
	}
	rs := &responder{pc: pc, addr: netip.MustParseAddrPort(pc.LocalAddr().String())}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 4096)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) != nil || len(q.Question) != 1 {
				continue
			}
			rs.mu.Lock()
			rs.ports = append(rs.ports, uint16(from.(*net.UDPAddr).Port))
			rs.mu.Unlock()
			if async {
				wg.Add(1)
				go func() { defer wg.Done(); answer(rs, q, from) }()
			} else {
				answer(rs, q, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	return rs
}

func (rs *responder) send(m *dns.Msg, to net.Addr) {
	b, err := m.Pack()
	if err != nil {
		panic(err)
	}
	_, _ = rs.pc.WriteTo(b, to)
}

func (rs *responder) sourcePorts() []uint16 {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]uint16(nil), rs.ports...)
}

// goodReply answers q with an A record whose address encodes nothing but
// 192.0.2.1, and a TXT record carrying the question's name, so a test sees
// which query a reply belongs to.
func goodReply(q *dns.Msg) *dns.Msg {
	r := new(dns.Msg)
	r.SetReply(q)
	r.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"for " + q.Question[0].Name}}}
	return r
}

func query(name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeTXT)
	return m
}

func testPool(perServer, maxUses int) *udpPool {
	p := newUDPPool()
	p.perServer, p.maxUses = perServer, maxUses
	return p
}

// askPool sends a TXT query for name through p to server (5 s at most)
// and checks the reply is name's own.
func askPool(t *testing.T, p *udpPool, server netip.AddrPort, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := p.Exchange(ctx, "udp", server, query(name))
	if err != nil {
		t.Fatal(err)
	}
	replyFor(t, r, name)
}

func replyFor(t *testing.T, r *dns.Msg, name string) {
	t.Helper()
	if r == nil || len(r.Answer) != 1 {
		t.Fatalf("reply %v, want one TXT for %s", r, name)
	}
	if got := r.Answer[0].(*dns.TXT).Txt[0]; got != "for "+name {
		t.Fatalf("reply carries %q, want the one for %s", got, name)
	}
}

// TestUDPPoolConcurrent: many queries at once over a few sockets, answered
// out of order, each get their own reply.
func TestUDPPoolConcurrent(t *testing.T) {
	rs := startResponder(t, true, func(rs *responder, q *dns.Msg, from net.Addr) {
		time.Sleep(time.Duration(len(q.Question[0].Name)%7) * time.Millisecond) // out of order
		rs.send(goodReply(q), from)
	})
	p := testPool(4, 5) // sockets retire all the time
	defer p.Close()
	// 50 clients of 20 queries each: at most 50 outstanding, so the
	// responder's socket buffer never drops a query.
	const clients, each = 50, 20
	const n = clients * each
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for j := 0; j < each; j++ {
				i := c*each + j
				name := fmt.Sprintf("q%d.%s.example.", i, string(rune('a'+i%26)))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				m := query(name)
				m.Id = uint16(i % 16) // ids collide on purpose: never two on one socket
				r, err := p.Exchange(ctx, "udp", rs.addr, m)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				if len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "for "+name {
					errs <- fmt.Errorf("%s got %v", name, r.Answer)
				}
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if o := p.opened.Load(); o < n/5/2 || o > n {
		t.Errorf("opened %d sockets for %d queries, 5 each at most", o, n)
	}
}

// TestUDPPoolDropsForgedReplies: datagrams with the wrong id, the wrong
// question, too short to be DNS, or with the right id and question but from
// another port (a spoofer that got the server's address wrong: the kernel
// drops it, the socket being connected to the server) are dropped; the real
// reply that follows is returned.
func TestUDPPoolDropsForgedReplies(t *testing.T) {
	spoofer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer spoofer.Close()
	rs := startResponder(t, false, func(rs *responder, q *dns.Msg, from net.Addr) {
		bad := goodReply(q)
		bad.Id = q.Id + 1
		bad.Answer[0].(*dns.TXT).Txt[0] = "wrong id"
		rs.send(bad, from)
		other := goodReply(query("evil.example."))
		other.Id = q.Id
		rs.send(other, from)                        // wrong question
		_, _ = rs.pc.WriteTo([]byte{1, 2, 3}, from) // garbage
		junk := make([]byte, 40)
		junk[0], junk[1] = byte(q.Id>>8), byte(q.Id)
		_, _ = rs.pc.WriteTo(junk, from) // right id, does not parse
		forged := goodReply(q)
		forged.Answer[0].(*dns.TXT).Txt[0] = "forged"
		b, _ := forged.Pack()
		_, _ = spoofer.WriteTo(b, from) // right id and question, wrong source
		time.Sleep(20 * time.Millisecond)
		rs.send(goodReply(q), from)
	})
	p := testPool(2, 100)
	defer p.Close()
	askPool(t, p, rs.addr, "www.example.com.")
	// wrong id and garbage never reach the query (the forged source never
	// reaches the socket); the wrong question and the junk do, and the
	// query drops them itself.
	deadline := time.Now().Add(2 * time.Second)
	for p.strays.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := p.strays.Load(); s != 2 {
		t.Errorf("demultiplexer dropped %d datagrams, want 2", s)
	}
}

// TestUDPPoolStrayAfterGiveUp: a reply arriving after its query gave up is
// dropped, and the socket keeps serving the next query.
func TestUDPPoolStrayAfterGiveUp(t *testing.T) {
	var n atomic.Int64
	rs := startResponder(t, true, func(rs *responder, q *dns.Msg, from net.Addr) {
		if n.Add(1) == 1 {
			time.Sleep(150 * time.Millisecond) // after the first query's deadline
		}
		rs.send(goodReply(q), from)
	})
	p := testPool(1, 100)
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	_, err := p.Exchange(ctx, "udp", rs.addr, query("slow.example."))
	cancel()
	if !isTimeout(err) {
		t.Fatalf("err %v, want a timeout", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for p.strays.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if p.strays.Load() != 1 {
		t.Fatalf("late reply: %d strays, want 1", p.strays.Load())
	}
	askPool(t, p, rs.addr, "next.example.")
	if o := p.opened.Load(); o != 1 {
		t.Errorf("opened %d sockets, want the one reused", o)
	}
}

// TestUDPPoolRetirement: a socket serves maxUses queries, or lives maxAge,
// then a new one (a new port) takes its place and the old one is closed.
func TestUDPPoolRetirement(t *testing.T) {
	rs := startResponder(t, false, func(rs *responder, q *dns.Msg, from net.Addr) { rs.send(goodReply(q), from) })
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	p := testPool(1, 3)
	p.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	defer p.Close()
	ask := func(name string) {
		t.Helper()
		askPool(t, p, rs.addr, name)
	}
	for i := 0; i < 9; i++ {
		ask(fmt.Sprintf("n%d.example.", i))
	}
	ports := rs.sourcePorts()
	for i := range ports {
		same := i%3 != 0 // a new socket every third query
		if i > 0 && (ports[i] == ports[i-1]) != same {
			t.Fatalf("source ports %v: want a new port every 3 queries", ports)
		}
	}
	if o, r := p.opened.Load(), p.retired.Load(); o != 3 || r != 3 {
		t.Fatalf("opened %d retired %d, want 3 and 3", o, r)
	}
	// By age: queries half a maxAge apart (the set is never idle for
	// maxAge); the one at maxAge is the socket's last.
	ask("a1.example.")
	for i := 2; i <= 3; i++ {
		mu.Lock()
		clock = clock.Add(p.maxAge / 2)
		mu.Unlock()
		ask(fmt.Sprintf("a%d.example.", i))
	}
	ask("a4.example.")
	ports = rs.sourcePorts()[9:]
	if ports[0] != ports[1] || ports[1] != ports[2] || ports[2] == ports[3] {
		t.Fatalf("source ports %v: want the aged socket used until maxAge, then a new one", ports)
	}
	deadline := time.Now().Add(2 * time.Second)
	for p.readers.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := p.readers.Load(); n != 1 {
		t.Fatalf("%d readers running, want only the live socket's", n)
	}
}

// TestUDPPoolClose: closing the pool lets a query in flight finish, closes
// its socket afterwards, and later queries still work (a socket each).
func TestUDPPoolClose(t *testing.T) {
	release := make(chan struct{})
	rs := startResponder(t, true, func(rs *responder, q *dns.Msg, from net.Addr) {
		if q.Question[0].Name == "held.example." {
			<-release
		}
		rs.send(goodReply(q), from)
	})
	p := testPool(2, 100)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r, err := p.Exchange(ctx, "udp", rs.addr, query("held.example."))
		if err == nil && (len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "for held.example.") {
			err = fmt.Errorf("got %v", r)
		}
		done <- err
	}()
	for p.opened.Load() == 0 || len(rs.sourcePorts()) == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Close()
	if n := p.readers.Load(); n != 1 {
		t.Fatalf("%d readers after Close with a query in flight, want 1", n)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for p.readers.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := p.readers.Load(); n != 0 {
		t.Fatalf("%d readers after the last query, want 0", n)
	}
	askPool(t, p, rs.addr, "after.example.")
	if o := p.opened.Load(); o != 1 {
		t.Errorf("a closed pool opened %d pooled sockets, want none after the first", o)
	}
}

// TestUDPPoolSameIDSameServer: two queries with the same id to the same
// server cannot share a socket (their replies would be indistinguishable
// to the demultiplexer): the second takes another one.
func TestUDPPoolSameIDSameServer(t *testing.T) {
	for _, size := range []int{1, 2} {
		t.Run(fmt.Sprintf("size%d", size), func(t *testing.T) {
			var arrived sync.WaitGroup
			arrived.Add(2)
			rs := startResponder(t, true, func(rs *responder, q *dns.Msg, from net.Addr) {
				arrived.Done()
				arrived.Wait() // both queries are waiting before either is answered
				rs.send(goodReply(q), from)
			})
			p := testPool(size, 100)
			defer p.Close()
			var wg sync.WaitGroup
			for _, name := range []string{"one.example.", "two.example."} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					m := query(name)
					m.Id = 7
					r, err := p.Exchange(ctx, "udp", rs.addr, m)
					if err != nil {
						t.Error(err)
						return
					}
					if r.Answer[0].(*dns.TXT).Txt[0] != "for "+name {
						t.Errorf("%s got %v", name, r.Answer)
					}
				}()
			}
			wg.Wait()
			if ports := rs.sourcePorts(); len(ports) != 2 || ports[0] == ports[1] {
				t.Errorf("source ports %v: want two different sockets", ports)
			}
		})
	}
}

// TestUDPPoolFamilies: IPv6 servers get IPv6 sockets, IPv4 servers (also
// written as v4-mapped IPv6) IPv4 ones; replies reach their query either way.
func TestUDPPoolFamilies(t *testing.T) {
	answer := func(rs *responder, q *dns.Msg, from net.Addr) { rs.send(goodReply(q), from) }
	v4 := startResponder(t, false, answer)
	v6 := startResponderOn(t, "[::1]:0", false, answer)
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.addr.Addr().As16()), v4.addr.Port())
	p := testPool(2, 100)
	defer p.Close()
	for _, srv := range []netip.AddrPort{v4.addr, v6.addr, mapped} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		name := "x" + fmt.Sprint(srv.Port()) + ".example."
		r, err := p.Exchange(ctx, "udp", srv, query(name))
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", srv, err)
		}
		replyFor(t, r, name)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// The mapped address is the v4 server: two sets, each with a socket of
	// its server's family.
	if len(p.servers) != 2 {
		t.Errorf("%d server sets, want 2 (v4 and mapped are one server)", len(p.servers))
	}
	for _, srv := range []netip.AddrPort{v4.addr, v6.addr} {
		set := p.servers[srv]
		if set == nil || len(set.socks) == 0 {
			t.Fatalf("%s: no socket", srv)
		}
		local := netip.MustParseAddrPort(set.socks[0].conn.LocalAddr().String())
		if local.Addr().Is4() != srv.Addr().Is4() {
			t.Errorf("%s: socket bound to %s, wrong family", srv, local)
		}
	}
}

// TestUDPPoolDestinationGuard: a test binary's pool refuses to send
// anywhere but loopback and 198.18.0.0/15.
func TestUDPPoolDestinationGuard(t *testing.T) {
	p := testPool(1, 10)
	defer p.Close()
	_, err := p.Exchange(context.Background(), "udp", netip.MustParseAddrPort("192.0.2.53:53"), query("x.example."))
	if !errors.Is(err, ErrTestDestination) {
		t.Fatalf("err %v, want ErrTestDestination", err)
	}
	if p.opened.Load() != 0 {
		t.Fatal("a socket was opened for a refused destination")
	}
}

// closedPort returns a UDP port on 127.0.0.1 nothing listens on (it was
// just bound and released), so a datagram to it draws ICMP port unreachable.
func closedPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return ap
}

// TestUDPPoolPortsPerServer: each pooled socket is connected to one server
// and serves only it: the source ports server A sees are never seen by
// server B, and every socket of a set is connected to that set's server.
func TestUDPPoolPortsPerServer(t *testing.T) {
	answer := func(rs *responder, q *dns.Msg, from net.Addr) { rs.send(goodReply(q), from) }
	servers := []*responder{startResponder(t, false, answer), startResponder(t, false, answer), startResponder(t, false, answer)}
	p := testPool(2, 4) // retirement gives each server several ports over the test
	defer p.Close()
	for i := 0; i < 40; i++ {
		rs := servers[i%len(servers)]
		name := fmt.Sprintf("p%d.example.", i)
		askPool(t, p, rs.addr, name)
	}
	seen := map[uint16]int{}
	for i, rs := range servers {
		ports := rs.sourcePorts()
		distinct := map[uint16]bool{}
		for _, port := range ports {
			distinct[port] = true
		}
		if len(distinct) < 3 {
			t.Errorf("server %d saw ports %v: want a new port after every 4 queries", i, ports)
		}
		for port := range distinct {
			if j, ok := seen[port]; ok {
				t.Errorf("port %d used for server %d and server %d", port, j, i)
			}
			seen[port] = i
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for srv, set := range p.servers {
		for _, s := range set.socks {
			if peer := netip.MustParseAddrPort(s.conn.RemoteAddr().String()); peer != srv {
				t.Errorf("socket of %s's set connected to %s", srv, peer)
			}
		}
	}
}

// TestUDPPoolRefused: a server whose port is closed fails at once with
// ECONNREFUSED (not a timeout), for the query that drew the ICMP error and
// for every other query waiting on the socket; the socket is retired and
// the next query gets a new one. The attempt deadline is 5 s and the
// context's 2 s: any wait for a reply would end in a timeout error, so
// getting the refusal proves it was immediate.
func TestUDPPoolRefused(t *testing.T) {
	// A server that reads and never answers, then goes away.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddrPort(pc.LocalAddr().String())
	got := make(chan struct{}, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			got <- struct{}{}
		}
	}()
	p := testPool(1, 100)
	defer p.Close()
	exchange := func(name string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := p.exchangeUntil(ctx, time.Now().Add(5*time.Second), "udp", srv, query(name))
		return err
	}
	first := make(chan error, 1)
	go func() { first <- exchange("waiting.example.") }()
	<-got // the first query waits on the socket
	pc.Close()
	for _, e := range []error{exchange("refused.example."), <-first} {
		if !errors.Is(e, syscall.ECONNREFUSED) || isTimeout(e) {
			t.Fatalf("err %v, want ECONNREFUSED at once", e)
		}
	}
	if f := p.failures.Load(); f != 1 {
		t.Errorf("%d sockets failed, want 1", f)
	}
	if err := exchange("again.example."); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("err %v, want ECONNREFUSED", err)
	}
	if o := p.opened.Load(); o != 2 {
		t.Errorf("opened %d sockets, want a new one after the failure", o)
	}
	if o := p.overflow.Load(); o != 0 {
		t.Errorf("%d queries went around the pool", o)
	}
}

// TestUDPPoolSprayRetires: a socket that receives maxStrays datagrams
// nobody waits for is retired; the query waiting still gets its reply and
// the next query comes from a new port.
func TestUDPPoolSprayRetires(t *testing.T) {
	rs := startResponder(t, false, func(rs *responder, q *dns.Msg, from net.Addr) {
		if q.Question[0].Name == "sprayed.example." {
			for i := 0; i < 5; i++ {
				bad := goodReply(q)
				bad.Id = q.Id + 1 + uint16(i)
				rs.send(bad, from)
			}
			time.Sleep(20 * time.Millisecond)
		}
		rs.send(goodReply(q), from)
	})
	p := testPool(1, 100)
	p.maxStrays = 5
	defer p.Close()
	for _, name := range []string{"sprayed.example.", "next.example."} {
		askPool(t, p, rs.addr, name)
	}
	if ports := rs.sourcePorts(); len(ports) != 2 || ports[0] == ports[1] {
		t.Fatalf("source ports %v: want a new socket after the spray", ports)
	}
	if s := p.strays.Load(); s != 5 {
		t.Errorf("%d strays, want 5", s)
	}
}

// TestUDPPoolBounds: with many servers the open sockets never exceed the
// cap (least recently used sets are closed to make room), every query is
// still answered through the pool, and sets idle for maxAge are closed.
func TestUDPPoolBounds(t *testing.T) {
	answer := func(rs *responder, q *dns.Msg, from net.Addr) { rs.send(goodReply(q), from) }
	var servers []*responder
	for i := 0; i < 12; i++ {
		servers = append(servers, startResponder(t, false, answer))
	}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	p := testPool(2, 100)
	p.maxSocks = 5
	p.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	defer p.Close()
	ask := func(rs *responder, name string) {
		t.Helper()
		askPool(t, p, rs.addr, name)
		if n := p.live.Load(); n > int64(p.maxSocks) {
			t.Fatalf("%d sockets open, cap %d", n, p.maxSocks)
		}
	}
	for round := 0; round < 3; round++ {
		for i, rs := range servers {
			ask(rs, fmt.Sprintf("r%d-s%d.example.", round, i))
		}
	}
	if o := p.overflow.Load(); o != 0 {
		t.Errorf("%d queries went around the pool, want the LRU sets closed instead", o)
	}
	if o := p.opened.Load(); o != 3*12 {
		t.Errorf("opened %d sockets, want one per server per round (each evicted before its turn comes again)", o)
	}
	p.mu.Lock()
	sets := len(p.servers)
	p.mu.Unlock()
	if sets > p.maxSocks {
		t.Errorf("%d server sets kept, cap %d sockets", sets, p.maxSocks)
	}
	// Idle for maxAge: the next query (to any server) closes the others.
	mu.Lock()
	clock = clock.Add(p.maxAge)
	mu.Unlock()
	ask(servers[0], "after-idle.example.")
	if n := p.live.Load(); n != 1 {
		t.Errorf("%d sockets open after the others were idle for maxAge, want 1", n)
	}
}
