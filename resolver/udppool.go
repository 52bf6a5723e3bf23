package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// udpPool is the default Transport of a Resolver: UDP queries go out through
// a few long-lived sockets per upstream server instead of a socket per
// query, TCP (and UDP when the pool cannot serve) through NetTransport.
//
// Why: a fresh socket per query costs socket, setsockopt, connect,
// getsockname, getpeername, epoll_ctl and close, with the net package's
// allocations around them, on every upstream query: about a fifth of the
// CPU of a cold resolution. A pooled socket costs one write per query; its
// reader goroutine's read is the read the query needed anyway.
//
// How: every pooled socket is connect()ed to exactly one server (address
// and port) and bound by the kernel to a random ephemeral port (Linux picks
// the port at random in ip_local_port_range). The kernel then delivers only
// that server's datagrams to it, and reports an ICMP port or host
// unreachable for it as ECONNREFUSED (or EHOSTUNREACH...) on the next read
// or write. A query to server S takes a socket of S's set (at most
// perServer live sockets; the first that is not retired, has fewer than
// maxWaiters queries waiting and none with the query's id) and only opens a
// new one when none is usable, so S is normally asked from one port at a
// time. Each query has a fresh random id (crypto/rand, by the caller). A
// socket is retired after maxUses queries or maxAge, whichever comes first:
// it takes no new query and is closed when its last query is done; the next
// query to S opens a new socket (a new random port). Replies are matched by
// id (the kernel already filtered the source): a datagram with an id nobody
// waits for, shorter than a header, or arriving after its query gave up is
// dropped (after maxStrays of them the socket is retired: someone is
// spraying it); the waiting query then checks the question (and that the
// message parses) and keeps waiting (up to maxStrayReplies datagrams) if it
// does not match. A read or write error on a socket (ECONNREFUSED: S's port
// is closed) fails every query waiting on it at once with that error, as a
// connected per-query socket did, and retires the socket.
//
// Bounds: at most maxSocks sockets open in all (open or retired with
// queries still waiting); the sets of servers not asked for maxAge are
// closed (least recently used first, checked on every query); when the cap
// is reached the least recently used sets are closed to make room, and if
// that frees nothing the query gets a socket of its own (NetTransport).
//
// Entropy a spoofer must guess, per query to S:
//   - off-path, knowing none of our ports: the port of S's socket (one of
//     the ~28,000 of the ephemeral range, ≈14.8 bits; ≈12.8 bits in the
//     rare case that S has perServer = 4 sockets live at once) and the id
//     (16 bits): ≈30.8 bits, as with a fresh socket per query;
//   - one who learns our ports by making us query a server it runs: the
//     same ≈30.8 bits, because the sockets it sees are connected to its own
//     server and are never used for any other; the ports towards S are
//     independent kernel choices.
//
// One who can see our traffic to S is on-path: no port or id helps there.
// Reusing S's socket for up to maxUses queries over maxAge means that an
// attacker spraying all ports for one of S's queries aims at the same port
// for the next ones, which gives it nothing it did not have to guess anyway
// (and after maxStrays unexpected datagrams the socket is retired). What a
// long-lived connected socket does widen is the window of a side channel
// that finds open ports without seeing them (SAD DNS, CVE-2020-25705:
// probing through the kernel's global ICMP rate limit with spoofed source
// addresses): maxAge bounds that window to 10 s per port, and kernels since
// 5.10 randomise the limit, which closes the channel.
// NetTransport stays available (Config.Transport) for a deployment that
// wants a fresh socket per query regardless of the CPU.
type udpPool struct {
	perServer  int // live (not retired) sockets per server
	maxSocks   int // open sockets in all, retired ones included
	maxUses    int
	maxAge     time.Duration
	maxWaiters int
	maxStrays  int
	now        func() time.Time // real time (socket age, idle sets)
	tcp        NetTransport     // TCP and fallback

	mu      sync.Mutex
	closed  bool
	servers map[netip.AddrPort]*serverSocks
	lru     serverSocks // sentinel of the ring of sets, most recently used first

	live     atomic.Int64 // sockets open (the cap's count)
	strays   atomic.Int64 // datagrams dropped by the demultiplexer (tests)
	opened   atomic.Int64 // sockets opened (tests)
	retired  atomic.Int64 // sockets closed after retirement (tests)
	readers  atomic.Int64 // reader goroutines running
	failures atomic.Int64 // sockets failed by a read or write error (ECONNREFUSED...)
	overflow atomic.Int64 // queries sent through a socket of their own because the pool was full
}

const (
	poolPerServer  = 4
	poolMaxSocks   = 1024
	poolMaxUses    = 128
	poolMaxAge     = 10 * time.Second
	poolMaxWaiters = 256
	poolMaxStrays  = 64
	poolReadBuf    = 4096 // as NetTransport's dns.Conn: larger datagrams do not parse and are dropped
	waiterBacklog  = 4    // datagrams queued for one query before more are dropped
)

func newUDPPool() *udpPool {
	p := &udpPool{
		perServer: poolPerServer, maxSocks: poolMaxSocks, maxUses: poolMaxUses, maxAge: poolMaxAge,
		maxWaiters: poolMaxWaiters, maxStrays: poolMaxStrays, now: time.Now,
		servers: make(map[netip.AddrPort]*serverSocks),
	}
	p.lru.prev, p.lru.next = &p.lru, &p.lru
	return p
}

// serverSocks is one server's set of live sockets, a link in the pool's
// LRU ring.
type serverSocks struct {
	server     netip.AddrPort
	socks      []*poolSock // live, not retired; at most perServer
	used       time.Time
	prev, next *serverSocks
}

// poolSock is one pooled socket, connected to one server, and the queries
// waiting on it.
type poolSock struct {
	pool   *udpPool
	server netip.AddrPort // the set's key
	conn   *net.UDPConn
	born   time.Time
	dead   chan struct{} // closed by fail; err is set before

	mu      sync.Mutex
	uses    int
	strays  int
	retired bool // takes no new query; closed when waiters is empty
	closed  bool
	err     error // why the socket failed (read or write error)
	waiters map[uint16]*waiter
}

// waiter is one query's mailbox, timer and packing buffer, reused
// (waiterPool) so a query allocates none of them. Timers have had no stale
// tick since Go 1.23: after Stop or Reset, C yields only a later expiry.
type waiter struct {
	ch    chan *dgram
	timer *time.Timer
	pack  [512]byte
}

var waiterPool = sync.Pool{New: func() any {
	w := &waiter{ch: make(chan *dgram, waiterBacklog), timer: time.NewTimer(time.Hour)}
	w.timer.Stop()
	return w
}}

// dgram is a received datagram handed to its query, in a reused buffer
// (dgramPool): the reader copies each delivered datagram into one, the
// query gives it back once decoded.
type dgram struct{ b []byte }

var dgramPool = sync.Pool{New: func() any { return &dgram{b: make([]byte, 0, 512)} }}

func putDgram(d *dgram) {
	if cap(d.b) <= poolReadBuf {
		dgramPool.Put(d)
	}
}

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
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port()) // a v4 socket takes no mapped address
	w := waiterPool.Get().(*waiter)
	s, err := p.acquire(server, m.Id, w)
	if err != nil {
		waiterPool.Put(w)
		// Closed pool, a socket that cannot be opened, or the pool full:
		// a socket of its own.
		if !errors.Is(err, errPoolClosed) {
			p.overflow.Add(1)
		}
		actx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return p.tcp.Exchange(actx, network, server, m)
	}
	defer s.release(m.Id, w)
	wire, err := m.PackBuffer(w.pack[:])
	if err != nil {
		return nil, fmt.Errorf("pack query for %s: %w", server, err)
	}
	if _, err := s.conn.Write(wire); err != nil {
		// A pending ICMP error can surface here rather than in the reader:
		// it fails the others waiting on the socket too.
		s.fail(err)
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
		var d *dgram
		select {
		case d = <-w.ch:
		case <-s.dead:
			select {
			case d = <-w.ch: // a reply that came before the error still counts
			default:
				return nil, fmt.Errorf("read %s %s: %w", network, server, s.err)
			}
		case <-w.timer.C:
			return nil, fmt.Errorf("read %s %s: %w", network, server, context.DeadlineExceeded)
		case <-done:
			return nil, fmt.Errorf("read %s %s: %w", network, server, ctx.Err())
		}
		r, ok := leanUnpack(d.b, m)
		if ok {
			// Nothing decoded points into d.b: names, A addresses and
			// RRSIGs are copied by leanUnpack, other records by
			// miekg/dns's unpackers (cloneSlice, string conversions).
			putDgram(d)
		} else {
			// The same holds for Msg.Unpack, but on this rarer path the
			// buffer is left to the GC rather than rely on it for every
			// record type.
			r = new(dns.Msg)
			if r.Unpack(d.b) != nil {
				putDgram(d)
				continue // garbage: keep waiting for the real reply
			}
		}
		if !sameQuestion(m, r) {
			continue // another question: keep waiting for the real reply
		}
		return r, nil
	}
	return nil, fmt.Errorf("%s %s: %w", network, server, errMismatch)
}

// Close closes every socket no query waits on; the others close when their
// last query is done. Later queries get a socket of their own each.
func (p *udpPool) Close() {
	p.mu.Lock()
	p.closed = true
	var all []*poolSock
	for k, set := range p.servers {
		all = append(all, set.socks...)
		p.unlink(set)
		delete(p.servers, k)
	}
	p.mu.Unlock()
	for _, s := range all {
		s.retire()
	}
}

// acquire registers w for id on a socket of server's set, opening one if
// none is usable, and counts the use (retiring the socket when it has
// served maxUses queries or lived maxAge).
func (p *udpPool) acquire(server netip.AddrPort, id uint16, w *waiter) (*poolSock, error) {
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolClosed
	}
	p.expire(now)
	set := p.servers[server]
	if set == nil {
		set = &serverSocks{server: server, socks: make([]*poolSock, 0, p.perServer)}
		p.servers[server] = set
	} else {
		p.unlink(set)
	}
	set.used = now
	p.pushFront(set)
	var s *poolSock
	for _, c := range set.socks {
		c.mu.Lock()
		_, taken := c.waiters[id]
		if !taken && !c.retired && len(c.waiters) < p.maxWaiters {
			s = c
			break // c.mu stays locked
		}
		c.mu.Unlock()
	}
	if s == nil {
		if len(set.socks) >= p.perServer {
			return nil, fmt.Errorf("every pooled socket for %s is busy or waits for id %d", server, id)
		}
		if !p.room(set) {
			return nil, fmt.Errorf("%d pooled sockets open", p.live.Load())
		}
		var err error
		if s, err = p.open(server, now); err != nil {
			return nil, err
		}
		set.socks = append(set.socks, s)
		s.mu.Lock()
	}
	s.waiters[id] = w
	s.uses++
	if s.uses >= p.maxUses || now.Sub(s.born) >= p.maxAge {
		s.retired = true // the next query to server opens a new socket (a new port)
		set.drop(s)
	}
	s.mu.Unlock()
	return s, nil
}

// expire closes the sets of servers not asked for maxAge. Called with p.mu
// held.
func (p *udpPool) expire(now time.Time) {
	for set := p.lru.prev; set != &p.lru && now.Sub(set.used) >= p.maxAge; set = p.lru.prev {
		p.evict(set)
	}
}

// room makes room for one more socket if the cap is reached, by closing
// the least recently used sets other than keep. Called with p.mu held.
func (p *udpPool) room(keep *serverSocks) bool {
	for set := p.lru.prev; p.live.Load() >= int64(p.maxSocks) && set != &p.lru; {
		prev := set.prev
		if set != keep {
			p.evict(set)
		}
		set = prev
	}
	return p.live.Load() < int64(p.maxSocks)
}

// evict retires set's sockets (each closes when its last query is done)
// and forgets the set. Called with p.mu held.
func (p *udpPool) evict(set *serverSocks) {
	p.unlink(set)
	delete(p.servers, set.server)
	for _, s := range set.socks {
		s.retire()
	}
	set.socks = nil
}

func (p *udpPool) unlink(set *serverSocks) {
	set.prev.next, set.next.prev = set.next, set.prev
	set.prev, set.next = nil, nil
}

func (p *udpPool) pushFront(set *serverSocks) {
	set.prev, set.next = &p.lru, p.lru.next
	p.lru.next.prev = set
	p.lru.next = set
}

// drop removes s from the set's live sockets. Called with p.mu held.
func (set *serverSocks) drop(s *poolSock) {
	for i, c := range set.socks {
		if c == s {
			set.socks = append(set.socks[:i], set.socks[i+1:]...)
			return
		}
	}
}

// open connects a new socket to server from a kernel-chosen random port and
// starts its reader. Called with p.mu held.
func (p *udpPool) open(server netip.AddrPort, now time.Time) (*poolSock, error) {
	network := "udp4"
	if !server.Addr().Is4() {
		network = "udp6"
	}
	conn, err := net.DialUDP(network, nil, net.UDPAddrFromAddrPort(server))
	if err != nil {
		return nil, fmt.Errorf("open pooled %s socket to %s: %w", network, server, err)
	}
	s := &poolSock{pool: p, server: server, conn: conn, born: now, dead: make(chan struct{}), waiters: make(map[uint16]*waiter)}
	p.live.Add(1)
	p.opened.Add(1)
	p.readers.Add(1)
	go s.read()
	return s, nil
}

// read hands each datagram to the query waiting for its id, and drops the
// others. It ends when the socket is closed or fails.
func (s *poolSock) read() {
	defer s.pool.readers.Add(-1)
	buf := make([]byte, poolReadBuf)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.fail(err) // ECONNREFUSED: the server's port is closed
			}
			return
		}
		delivered := false
		s.mu.Lock()
		if n >= 12 {
			if w := s.waiters[binary.BigEndian.Uint16(buf)]; w != nil && len(w.ch) < cap(w.ch) {
				// Only this reader sends on w.ch, and only with s.mu
				// held: the room just seen is still there.
				d := dgramPool.Get().(*dgram)
				d.b = append(d.b[:0], buf[:n]...)
				w.ch <- d
				delivered = true
			}
		}
		spray := false
		if !delivered {
			s.strays++
			spray = s.strays == s.pool.maxStrays
		}
		s.mu.Unlock()
		if !delivered {
			s.pool.strays.Add(1)
		}
		if spray {
			s.pool.detach(s)
			s.retire()
		}
	}
}

// fail makes every query waiting on s (and any that registers before it
// reads dead) fail with err, and retires s. The first error wins.
func (s *poolSock) fail(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	s.retired = true // no new query from here on
	close(s.dead)
	s.mu.Unlock()
	s.pool.failures.Add(1)
	s.pool.detach(s)
	s.retire()
}

// release unregisters w; the last query of a retired socket closes it.
func (s *poolSock) release(id uint16, w *waiter) {
	s.mu.Lock()
	delete(s.waiters, id)
	closeNow := s.closeIfIdle()
	s.mu.Unlock()
	// No sender can reach w now (senders hold s.mu and look it up): empty
	// it for its next query.
	for len(w.ch) > 0 {
		putDgram(<-w.ch)
	}
	waiterPool.Put(w)
	if closeNow {
		s.close()
	}
}

// retire marks s as taking no new query and closes it if none waits.
func (s *poolSock) retire() {
	s.mu.Lock()
	s.retired = true
	closeNow := s.closeIfIdle()
	s.mu.Unlock()
	if closeNow {
		s.close()
	}
}

// closeIfIdle marks a retired s on which no query waits as closed, once,
// and reports whether the caller must then close it (after unlocking).
// Called with s.mu held.
func (s *poolSock) closeIfIdle() bool {
	if !s.retired || s.closed || len(s.waiters) > 0 {
		return false
	}
	s.closed = true
	return true
}

func (s *poolSock) close() {
	_ = s.conn.Close()
	s.pool.live.Add(-1)
	s.pool.retired.Add(1)
}

// detach removes s from its server's set (a failed or sprayed socket).
func (p *udpPool) detach(s *poolSock) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if set := p.servers[s.server]; set != nil {
		set.drop(s)
	}
}
