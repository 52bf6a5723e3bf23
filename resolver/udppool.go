package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// udpPool is the default Transport of a Resolver: UDP queries go out through
// a small pool of long-lived sockets instead of a socket per query, TCP (and
// UDP when the pool cannot serve) through NetTransport.
//
// Why: a fresh socket per query costs socket, setsockopt, connect,
// getsockname, getpeername, epoll_ctl and close, with the net package's
// allocations around them, on every upstream query: about a fifth of the
// CPU of a cold resolution. A pooled socket costs one sendto per query; its
// reader goroutine's recvfrom is the read the query needed anyway.
//
// How (Kaminsky defence): there are poolSize sockets per address family,
// each bound by the kernel to a random ephemeral port (Linux picks UDP
// autobind ports at random in ip_local_port_range). Each query goes out
// through a socket chosen at random (math/rand/v2: ChaCha8, not predictable
// from outside) with a fresh random id (crypto/rand). A socket is retired
// after maxUses queries or maxAge, whichever comes first: it takes no new
// query and is closed when its last query is done; a new socket (a new
// random port) takes its slot. Replies are demultiplexed by (source address
// and port, id): a datagram from anyone else, with an id nobody waits for,
// shorter than a header, or arriving after its query gave up is dropped;
// the waiting query then checks the question (and that the message parses)
// and keeps waiting (up to maxStrayReplies datagrams) if it does not match.
//
// Entropy a spoofer must guess, per query:
//   - off-path, knowing none of our ports: the port (one of the ~28,000 of
//     the ephemeral range, ≈14.8 bits) and the id (16 bits): ≈30.8 bits, as
//     with a fresh socket per query;
//   - one who learns our live ports (by making us query a server it runs):
//     which of the poolSize sockets (6 bits) and the id: 22 bits, against
//     ≈30.8 bits with per-query sockets. Retirement bounds how long a learnt
//     port stays useful (maxUses queries, maxAge), so the attacker must
//     keep learning, and every attempt still needs the exact question and
//     a win of the race against the real server's reply.
//
// The trade of ≈9 bits in the second case for the CPU is the one most
// resolvers make with a bounded port range per query; NetTransport stays
// available (Config.Transport) for a deployment that wants a fresh socket
// per query.
type udpPool struct {
	size    int
	maxUses int
	maxAge  time.Duration
	now     func() time.Time // real time (socket age)
	tcp     NetTransport     // TCP and fallback

	mu     sync.Mutex
	closed bool
	slots  [2][]*poolSock // [0] IPv4, [1] IPv6; nil: opened on first use

	strays  atomic.Int64 // datagrams dropped by the demultiplexer (tests)
	opened  atomic.Int64 // sockets opened (tests)
	retired atomic.Int64 // sockets closed after retirement (tests)
	readers atomic.Int64 // reader goroutines running
}

const (
	poolSize      = 64
	poolMaxUses   = 128
	poolMaxAge    = 10 * time.Second
	poolReadBuf   = 4096 // as NetTransport's dns.Conn: larger datagrams do not parse and are dropped
	waiterBacklog = 4    // datagrams queued for one query before more are dropped
	maxReadErrors = 64   // consecutive read errors (other than close) before a socket is retired
)

func newUDPPool() *udpPool {
	return &udpPool{size: poolSize, maxUses: poolMaxUses, maxAge: poolMaxAge, now: time.Now}
}

// poolSock is one pooled socket and the queries waiting on it.
type poolSock struct {
	pool *udpPool
	conn *net.UDPConn
	born time.Time

	mu      sync.Mutex
	uses    int
	retired bool // takes no new query; closed when waiters is empty
	closed  bool
	waiters map[waitKey]*waiter
}

type waitKey struct {
	server netip.AddrPort // unmapped, no zone
	id     uint16
}

// waiter is one query's mailbox and timer, reused (waiterPool) so a query
// allocates neither. Timers have had no stale tick since Go 1.23: after
// Stop or Reset, C yields only a later expiry.
type waiter struct {
	ch    chan []byte
	timer *time.Timer
}

var waiterPool = sync.Pool{New: func() any {
	w := &waiter{ch: make(chan []byte, waiterBacklog), timer: time.NewTimer(time.Hour)}
	w.timer.Stop()
	return w
}}

var errPoolClosed = errors.New("socket pool closed")

// Exchange implements Transport.
func (p *udpPool) Exchange(ctx context.Context, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	return p.exchangeUntil(ctx, deadline, network, server, m)
}

// exchangeUntil is Exchange with the attempt's deadline apart from ctx
// (which bounds the whole resolution), so that the resolver needs no
// context per attempt: the wait uses the waiter's own reused timer.
func (p *udpPool) exchangeUntil(ctx context.Context, deadline time.Time, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	if network != "udp" {
		actx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return p.tcp.Exchange(actx, network, server, m)
	}
	if err := checkDestination(network, server); err != nil {
		return nil, err
	}
	key := waitKey{netip.AddrPortFrom(server.Addr().Unmap().WithZone(""), server.Port()), m.Id}
	w := waiterPool.Get().(*waiter)
	s, err := p.acquire(key, w)
	if err != nil {
		waiterPool.Put(w)
		// Closed pool, a socket that cannot be opened, or every socket
		// already waiting for this id from this server: a socket of its own.
		actx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return p.tcp.Exchange(actx, network, server, m)
	}
	defer s.release(key, w)
	var arr [512]byte
	wire, err := m.PackBuffer(arr[:])
	if err != nil {
		return nil, fmt.Errorf("pack query for %s: %w", server, err)
	}
	to := key.server // unmapped: a v4 socket takes no mapped address
	if server.Addr().Zone() != "" {
		to = server // a link-local server needs its zone
	}
	if _, err := s.conn.WriteToUDPAddrPort(wire, to); err != nil {
		return nil, fmt.Errorf("write %s %s: %w", network, server, err)
	}
	// The resolution's own context is waited on through its deadline (no
	// Done channel and timer of its own); any other through Done.
	var done <-chan struct{}
	if dc, ok := ctx.(*deadlineCtx); ok {
		if dc.deadline.Before(deadline) {
			deadline = dc.deadline
		}
	} else {
		done = ctx.Done()
	}
	w.timer.Reset(time.Until(deadline))
	defer w.timer.Stop()
	for i := 0; i < maxStrayReplies; i++ {
		select {
		case b := <-w.ch:
			r := new(dns.Msg)
			if r.Unpack(b) != nil || !sameQuestion(m, r) {
				continue // garbage or another question: keep waiting for the real reply
			}
			return r, nil
		case <-w.timer.C:
			return nil, fmt.Errorf("read %s %s: %w", network, server, context.DeadlineExceeded)
		case <-done:
			return nil, fmt.Errorf("read %s %s: %w", network, server, ctx.Err())
		}
	}
	return nil, fmt.Errorf("%s %s: %w", network, server, errMismatch)
}

// Close closes every socket no query waits on; the others close when their
// last query is done. Later queries get a socket of their own each.
func (p *udpPool) Close() {
	p.mu.Lock()
	p.closed = true
	var all []*poolSock
	for f := range p.slots {
		for i, s := range p.slots[f] {
			if s != nil {
				all = append(all, s)
				p.slots[f][i] = nil
			}
		}
	}
	p.mu.Unlock()
	for _, s := range all {
		s.retire()
	}
}

// acquire registers w for key on a random socket of key's family, opening
// it if needed, and counts the use (retiring the socket when it has served
// maxUses queries or lived maxAge).
func (p *udpPool) acquire(key waitKey, w *waiter) (*poolSock, error) {
	fam := 0
	if !key.server.Addr().Is4() {
		fam = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolClosed
	}
	if p.slots[fam] == nil {
		p.slots[fam] = make([]*poolSock, p.size)
	}
	slots := p.slots[fam]
	start := rand.IntN(len(slots))
	for k := 0; k < len(slots); k++ {
		i := (start + k) % len(slots)
		s := slots[i]
		if s == nil {
			var err error
			if s, err = p.open(fam); err != nil {
				return nil, err
			}
			slots[i] = s
		}
		s.mu.Lock()
		if _, taken := s.waiters[key]; taken {
			s.mu.Unlock()
			continue // same server, same id already waiting here: another socket
		}
		s.waiters[key] = w
		s.uses++
		if s.uses >= p.maxUses || p.now().Sub(s.born) >= p.maxAge {
			s.retired = true
			slots[i] = nil // the next query here opens a new socket (a new port)
		}
		s.mu.Unlock()
		return s, nil
	}
	return nil, fmt.Errorf("every pooled socket waits for id %d from %s", key.id, key.server)
}

// open binds a new socket to a kernel-chosen random port and starts its
// reader. Called with p.mu held.
func (p *udpPool) open(fam int) (*poolSock, error) {
	network, ip := "udp4", net.IPv4zero
	if fam == 1 {
		network, ip = "udp6", net.IPv6unspecified
	}
	conn, err := net.ListenUDP(network, &net.UDPAddr{IP: ip})
	if err != nil {
		return nil, fmt.Errorf("open pooled %s socket: %w", network, err)
	}
	s := &poolSock{pool: p, conn: conn, born: p.now(), waiters: make(map[waitKey]*waiter)}
	p.opened.Add(1)
	p.readers.Add(1)
	go s.read()
	return s, nil
}

// read hands each datagram to the query waiting for its (source, id), and
// drops the others. It ends when the socket is closed.
func (s *poolSock) read() {
	defer s.pool.readers.Add(-1)
	buf := make([]byte, poolReadBuf)
	errs := 0
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errs++; errs >= maxReadErrors {
				s.pool.detach(s)
				s.retire()
				return
			}
			continue
		}
		errs = 0
		if n < 12 {
			s.pool.strays.Add(1)
			continue
		}
		key := waitKey{netip.AddrPortFrom(from.Addr().Unmap().WithZone(""), from.Port()), binary.BigEndian.Uint16(buf)}
		s.mu.Lock()
		w := s.waiters[key]
		delivered := false
		if w != nil {
			select {
			case w.ch <- append([]byte(nil), buf[:n]...):
				delivered = true
			default: // the query has enough to read: drop
			}
		}
		s.mu.Unlock()
		if !delivered {
			s.pool.strays.Add(1)
		}
	}
}

// release unregisters w; the last query of a retired socket closes it.
func (s *poolSock) release(key waitKey, w *waiter) {
	s.mu.Lock()
	delete(s.waiters, key)
	closeNow := s.retired && !s.closed && len(s.waiters) == 0
	if closeNow {
		s.closed = true
	}
	s.mu.Unlock()
	// No sender can reach w now (senders hold s.mu and look it up): empty
	// it for its next query.
	for len(w.ch) > 0 {
		<-w.ch
	}
	waiterPool.Put(w)
	if closeNow {
		_ = s.conn.Close()
		s.pool.retired.Add(1)
	}
}

// retire marks s as taking no new query and closes it if none waits.
func (s *poolSock) retire() {
	s.mu.Lock()
	s.retired = true
	closeNow := !s.closed && len(s.waiters) == 0
	if closeNow {
		s.closed = true
	}
	s.mu.Unlock()
	if closeNow {
		_ = s.conn.Close()
		s.pool.retired.Add(1)
	}
}

// detach removes s from its slot (a broken socket).
func (p *udpPool) detach(s *poolSock) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for f := range p.slots {
		for i := range p.slots[f] {
			if p.slots[f][i] == s {
				p.slots[f][i] = nil
			}
		}
	}
}
