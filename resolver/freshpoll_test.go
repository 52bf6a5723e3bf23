package resolver

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// askFresh sends a TXT query for name through a fresh socket to server
// with an attempt deadline of attempt and a context ending after 10 s.
func askFresh(server netip.AddrPort, name string, attempt time.Duration) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return freshUDP{}.exchangeUntil(ctx, time.Now().Add(attempt), "udp", server, query(name))
}

// TestUpstreamPollerEarlyDatagram: a datagram that is already in the
// socket when the socket is added still wakes its query, and so does one
// that arrives after the query read the socket empty (edge-triggered: the
// second edge must come).
func TestUpstreamPollerEarlyDatagram(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	fd, err := dialUDP(netip.MustParseAddrPort(pc.LocalAddr().String()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	p, err := theUpstreamPoller()
	if err != nil {
		t.Fatal(err)
	}
	echo := func() {
		t.Helper()
		if _, err := unix.Write(fd, []byte("ping")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pc.WriteTo(buf[:n], from); err != nil {
			t.Fatal(err)
		}
	}
	echo()
	// The reply is in the socket before the poller knows the socket.
	if n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000); err != nil || n != 1 {
		t.Fatalf("reply not there: %d %v", n, err)
	}
	w := &fdWaiter{ready: make(chan struct{}, 1)}
	if err := p.add(fd, w); err != nil {
		t.Fatal(err)
	}
	defer p.remove(fd)
	wait := func(what string) {
		t.Helper()
		select {
		case <-w.ready:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no wake-up", what)
		}
		buf := make([]byte, 64)
		if n, err := unix.Read(fd, buf); err != nil || string(buf[:n]) != "ping" {
			t.Fatalf("%s: read %q %v", what, buf[:n], err)
		}
		if _, err := unix.Read(fd, buf); err != unix.EAGAIN {
			t.Fatalf("%s: socket not empty after one datagram: %v", what, err)
		}
	}
	wait("datagram before add")
	echo()
	wait("datagram after the socket was read empty")
}

// TestFreshUDPStraysThenReply: datagrams with the wrong id, the wrong
// question, no bytes or garbage, sent in one burst before the reply, are
// skipped (the query reads on until the socket is empty, an edge may stand
// for several datagrams) and the reply is returned; more than
// maxStrayReplies of them fail the query.
func TestFreshUDPStraysThenReply(t *testing.T) {
	strays := func(rs *responder, q *dns.Msg, from net.Addr, n int) {
		for i := 0; i < n; i++ {
			switch i % 4 {
			case 0:
				bad := goodReply(q)
				bad.Id = q.Id + 1
				rs.send(bad, from)
			case 1:
				other := goodReply(query("evil.example."))
				other.Id = q.Id
				rs.send(other, from)
			case 2:
				_, _ = rs.pc.WriteTo(nil, from)
			case 3:
				_, _ = rs.pc.WriteTo([]byte{1, 2, 3}, from)
			}
		}
	}
	rs := startResponder(t, false, func(rs *responder, q *dns.Msg, from net.Addr) {
		if q.Question[0].Name == "sprayed.example." {
			strays(rs, q, from, maxStrayReplies+1)
			return
		}
		strays(rs, q, from, 8)
		rs.send(goodReply(q), from)
	})
	r, err := askFresh(rs.addr, "www.example.", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	replyFor(t, r, "www.example.")
	if _, err := askFresh(rs.addr, "sprayed.example.", 5*time.Second); !errors.Is(err, errMismatch) {
		t.Fatalf("err %v after %d stray datagrams, want %v", err, maxStrayReplies+1, errMismatch)
	}
}

// TestFreshUDPRefusedFailsFast: a query to a closed port fails with
// ECONNREFUSED (the ICMP error wakes the query), not with its deadline.
func TestFreshUDPRefusedFailsFast(t *testing.T) {
	_, err := askFresh(closedPort(t), "www.example.", time.Minute)
	if !errors.Is(err, syscall.ECONNREFUSED) || isTimeout(err) {
		t.Fatalf("err %v, want ECONNREFUSED", err)
	}
}

// TestFreshUDPDeadlines: a server that never answers costs the attempt's
// deadline, the resolution's deadline when that comes first, or until the
// context is cancelled.
func TestFreshUDPDeadlines(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan struct{}, 16)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			got <- struct{}{}
		}
	}()
	silent := netip.MustParseAddrPort(pc.LocalAddr().String())
	const short = 100 * time.Millisecond
	for _, tc := range []struct {
		name    string
		ctx     func(t *testing.T) context.Context // made when the case starts
		attempt time.Duration
		want    error
	}{
		{"attempt", func(*testing.T) context.Context { return context.Background() }, short, context.DeadlineExceeded},
		{"resolution", func(*testing.T) context.Context { return &deadlineCtx{deadline: time.Now().Add(short)} }, time.Minute, context.DeadlineExceeded},
		{"context with its own deadline", func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(context.Background(), short)
			t.Cleanup(cancel)
			return ctx
		}, time.Minute, context.DeadlineExceeded},
		{"cancelled while waiting", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			go func() { <-got; cancel() }()
			return ctx
		}, time.Minute, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for len(got) > 0 {
				<-got
			}
			start := time.Now()
			_, err := freshUDP{}.exchangeUntil(tc.ctx(t), start.Add(tc.attempt), "udp", silent, query("www.example."))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if tc.want == context.DeadlineExceeded && time.Since(start) < short {
				t.Fatalf("gave up after %v, before the deadline %v", time.Since(start), short)
			}
		})
	}
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestFreshUDPNoLeak: many queries at once, answered out of order, each
// get their own reply (descriptor numbers are reused all the time), and
// answered, refused, timed-out and sprayed queries alike leave no
// descriptor open and no query registered with the poller.
func TestFreshUDPNoLeak(t *testing.T) {
	rs := startResponder(t, true, func(rs *responder, q *dns.Msg, from net.Addr) {
		name := q.Question[0].Name
		switch {
		case name == "silent.example.":
		case name == "sprayed.example.":
			for i := 0; i <= maxStrayReplies; i++ {
				bad := goodReply(q)
				bad.Id = q.Id + 1
				rs.send(bad, from)
			}
		default:
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			rs.send(goodReply(q), from)
		}
	})
	closed := closedPort(t)
	p, err := theUpstreamPoller()
	if err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	const workers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				name := fmt.Sprintf("q%d-%d.example.", w, i)
				switch i % 8 {
				case 5:
					if _, err := askFresh(closed, name, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
						errs <- fmt.Errorf("closed port: %v", err)
					}
				case 6:
					if _, err := askFresh(rs.addr, "silent.example.", 20*time.Millisecond); !isTimeout(err) {
						errs <- fmt.Errorf("silent: %v", err)
					}
				case 7:
					if _, err := askFresh(rs.addr, "sprayed.example.", 5*time.Second); !errors.Is(err, errMismatch) {
						errs <- fmt.Errorf("sprayed: %v", err)
					}
				default:
					r, err := askFresh(rs.addr, name, 5*time.Second)
					if err != nil {
						errs <- err
					} else if len(r.Answer) != 1 || r.Answer[0].(*dns.TXT).Txt[0] != "for "+name {
						errs <- fmt.Errorf("%s got the reply %v", name, r.Answer)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Resolutions left running by earlier tests (they outlive their
	// clients until their deadline) may hold sockets of their own while
	// we count: wait for the counts to settle rather than read them once.
	registered := func() (n int) {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, w := range p.waiting {
			if w != nil {
				n++
			}
		}
		return n
	}
	settle := time.Now().Add(5 * time.Second)
	for (openFDs(t) > before || registered() > 0) && time.Now().Before(settle) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := openFDs(t); after > before {
		t.Errorf("%d descriptors open after %d queries, %d before", after, workers*each, before)
	}
	if n := registered(); n > 0 {
		t.Errorf("%d descriptors still registered with the poller", n)
	}
}

// TestFreshUDPFamilies: IPv4 and IPv6 servers, and an IPv4-mapped address
// (a v4 socket takes no mapped address: it is unmapped).
func TestFreshUDPFamilies(t *testing.T) {
	v4 := startResponder(t, false, func(rs *responder, q *dns.Msg, from net.Addr) { rs.send(goodReply(q), from) })
	mapped := netip.AddrPortFrom(netip.AddrFrom16(v4.addr.Addr().As16()), v4.addr.Port())
	servers := []netip.AddrPort{v4.addr, mapped}
	if pc, err := net.ListenPacket("udp", "[::1]:0"); err == nil {
		pc.Close()
		v6 := startResponderOn(t, "[::1]:0", false, func(rs *responder, q *dns.Msg, from net.Addr) { rs.send(goodReply(q), from) })
		servers = append(servers, v6.addr)
	}
	for _, s := range servers {
		r, err := askFresh(s, "www.example.", 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		replyFor(t, r, "www.example.")
	}
}

// TestFreshUDPReplyAtDeadline: when the deadline fires, a reply already in
// the socket is still taken (its wake-up may not have reached the query on
// a busy machine); an empty socket then times out.
func TestFreshUDPReplyAtDeadline(t *testing.T) {
	rs := startResponder(t, false, func(rs *responder, q *dns.Msg, from net.Addr) { rs.send(goodReply(q), from) })
	fd, m := askAndWaitForReply(t, rs)
	expired := func() <-chan time.Time {
		c := make(chan time.Time, 1)
		c <- time.Now()
		return c
	}
	buf := make([]byte, poolReadBuf)
	// No wake-up ever comes (ready is nil): only the deadline.
	r, err := awaitReply(fd, buf, m, nil, expired(), nil)
	if err != nil {
		t.Fatalf("reply in the socket at the deadline: %v", err)
	}
	replyFor(t, r, "www.example.")
	if _, err := awaitReply(fd, buf, m, nil, expired(), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("empty socket at the deadline: %v, want %v", err, context.DeadlineExceeded)
	}
}

// TestAwaitReplyOwnsWhatItUnpacks: a reply holds nothing of the read
// buffer, which goes back to its pool, whether leanUnpack decodes it (a
// signed answer with its NSEC3 proof, RRSIGs decoded by leanRRSIG) or
// leaves it to Msg.Unpack (a signed NODATA): overwriting the buffer leaves
// the reply as it was.
func TestAwaitReplyOwnsWhatItUnpacks(t *testing.T) {
	const sig = " 13 2 60 20270101000000 20261201000000 12345 example. BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4/QEFCQ0RFRg=="
	proof := "8sd6eh1qb0fu02t0jpavu4bhoto2l4st.example. 300 IN NSEC3 1 0 0 - 9JU2CBE8Q0ME3LSPV2BQ2OSLDNOIPOA1 A RRSIG"
	proofSig := "8sd6eh1qb0fu02t0jpavu4bhoto2l4st.example. 300 IN RRSIG NSEC3" + sig
	for _, tc := range []struct {
		name  string
		reply func(q *dns.Msg) *dns.Msg
		lean  bool
	}{
		{"signed answer", func(q *dns.Msg) *dns.Msg {
			r := goodReply(q)
			r.Answer = append(r.Answer, mustRRs(t, "example.", q.Question[0].Name+" 60 IN RRSIG TXT"+sig)...)
			r.Ns = mustRRs(t, "example.", proof+"\n"+proofSig)
			return r
		}, true},
		{"signed NODATA", func(q *dns.Msg) *dns.Msg {
			r := goodReply(q)
			r.Answer = nil
			r.Ns = mustRRs(t, "example.", "example. 300 IN SOA ns.example. h.example. 1 2 3 4 5\nexample. 300 IN RRSIG SOA"+sig+"\n"+proof+"\n"+proofSig)
			return r
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs := startResponder(t, false, func(rs *responder, q *dns.Msg, from net.Addr) { rs.send(tc.reply(q), from) })
			fd, m := askAndWaitForReply(t, rs)
			expired := make(chan time.Time, 1)
			expired <- time.Now()
			buf := make([]byte, poolReadBuf)
			r, err := awaitReply(fd, buf, m, nil, expired, nil)
			if err != nil {
				t.Fatal(err)
			}
			replyWire, err := tc.reply(m).Pack()
			if err != nil {
				t.Fatal(err)
			}
			if _, lean := leanUnpack(replyWire, m); lean != tc.lean {
				t.Fatalf("lean decoding %v, want %v", lean, tc.lean)
			}
			want := r.String()
			for i := range buf {
				buf[i] = 0xff
			}
			if got := r.String(); got != want {
				t.Fatalf("reply changed with the read buffer:\n%s\nwant\n%s", got, want)
			}
			if len(r.Answer) != len(tc.reply(m).Answer) || r.Answer != nil && r.Answer[len(r.Answer)-1].String() != tc.reply(m).Answer[len(r.Answer)-1].String() {
				t.Fatalf("reply read as\n%s\nwant the answer of\n%s", want, tc.reply(m).String())
			}
		})
	}
}

// askAndWaitForReply sends a query for www.example. to rs from a fresh
// connected socket (closed when the test ends) and waits until the reply
// is in that socket, unread.
func askAndWaitForReply(t *testing.T, rs *responder) (int, *dns.Msg) {
	t.Helper()
	fd, err := dialUDP(rs.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	m := query("www.example.")
	wire, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(fd, wire); err != nil {
		t.Fatal(err)
	}
	if n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 5000); err != nil || n != 1 {
		t.Fatalf("reply not there: %d %v", n, err)
	}
	return fd, m
}
