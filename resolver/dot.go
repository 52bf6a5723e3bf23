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
	"sync"
	"time"

	"github.com/miekg/dns"
)

// DNS over TLS to forward targets (RFC 7858), strict profile (RFC 8310
// section 8.1): the target's certificate must chain to the rule's CA and
// carry the rule's name, or nothing is sent; there is no fallback to clear
// text. Connections are kept and reused (RFC 7858 3.4, RFC 7766 6.2.1):
// each target has up to dotMaxConns connections, each carrying up to
// dotMaxPipeline queries at once, answered in any order (RFC 7766 6.2.1.1),
// matched by a message id unique on the connection; a connection idle for
// dotIdleTimeout is closed (RFC 7766 6.2.3 leaves the idle time to the
// client; Unbound keeps its upstream TLS connections for a few seconds).
const (
	dotMaxConns    = 4
	dotMaxPipeline = 64
	dotIdleTimeout = 10 * time.Second
	// dotNewConnAt: a query opens another connection (up to dotMaxConns)
	// rather than queue behind this many on the least busy one.
	dotNewConnAt = 16
	// dotMaxSends: a query caught on connections the server closes is
	// written at most this many times, within its deadline (RFC 7766
	// 6.2.4: clients SHOULD retry unanswered queries when the connection
	// closes; the algorithm is left to them).
	dotMaxSends = 3
)

var (
	// errTLSAuth: the target's certificate did not verify (unknown CA,
	// another name, expired): RFC 8310 8.1 says do not use the server.
	errTLSAuth = errors.New("TLS authentication of the server failed")
	// errTLSHandshake: the TLS handshake failed for another reason (the
	// server does not speak TLS on that port, no common version).
	errTLSHandshake = errors.New("TLS handshake failed")
	// errConnClosed: the server closed the connection with queries on it.
	errConnClosed = errors.New("connection closed by the server")
	// errConnLost: the query was written to, or waiting on, a connection
	// that closed before its reply came (servers close connections when
	// they like: RFC 7766 6.2.3, miekg/dns after 128 queries): it is sent
	// again on another connection.
	errConnLost = errors.New("connection lost before the reply")
	// errConnServedLost: errConnLost on a connection the server had been
	// answering on: the server closing a connection it served (after so
	// many queries, idle or busy: RFC 7766 6.2.3, 6.2.4), not the server
	// failing. Knot Resolver likewise penalizes a server only for a
	// closed connection that never answered (session2_penalize).
	errConnServedLost = fmt.Errorf("%w on a connection the server had answered on", errConnLost)
	// errConnUnsent: the connection closed between its choice and the
	// query's write: nothing was sent, so it is no send to count.
	errConnUnsent = fmt.Errorf("%w, before the query was written", errConnLost)
)

// dotPool is the DNS-over-TLS connections to one forward target.
type dotPool struct {
	server netip.AddrPort
	cfg    *tls.Config // ServerName, RootCAs, MinVersion; a session cache

	mu      sync.Mutex
	conns   []*dotConn
	dialing int           // dials under way, counted against dotMaxConns
	dialed  chan struct{} // closed when a dial ends; nil when nobody waits
	closed  bool
}

// newDOTPool returns the pool of one target; cfg is cloned and held to TLS
// 1.2 at least whatever the caller set (RFC 8310 9, RFC 9325 3.1.1).
func newDOTPool(server netip.AddrPort, cfg *tls.Config) *dotPool {
	c := cfg.Clone()
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	c.InsecureSkipVerify = false
	if c.ClientSessionCache == nil {
		// Resumption makes a reconnect one round trip cheaper (RFC 7858 3.4).
		c.ClientSessionCache = tls.NewLRUClientSessionCache(dotMaxConns)
	}
	return &dotPool{server: server, cfg: c}
}

// sameConfig reports whether cfg would verify the target as p does, so a
// new revision with the same rule keeps the pool's connections.
func (p *dotPool) sameConfig(cfg *tls.Config) bool {
	if p.cfg.ServerName != cfg.ServerName {
		return false
	}
	if p.cfg.RootCAs == nil || cfg.RootCAs == nil {
		return p.cfg.RootCAs == cfg.RootCAs
	}
	return p.cfg.RootCAs.Equal(cfg.RootCAs)
}

// close closes every connection; queries on them fail at once.
func (p *dotPool) close() {
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.fail(net.ErrClosed)
	}
}

// exchange sends m over one of the pool's connections and waits for its
// reply until deadline (or ctx ends). The reply carries m's id.
func (p *dotPool) exchange(ctx context.Context, deadline time.Time, m *dns.Msg) (*dns.Msg, error) {
	if err := checkDestination("tcp-tls", p.server); err != nil {
		return nil, err
	}
	// RFC 7766 6.2.4: a query whose connection closed unanswered is sent
	// again on another (a live one, or a new one): up to dotMaxSends
	// writes, within the deadline. A connection found closed before the
	// query was written costs no send; the picks are bounded all the same.
	sends := 0
	for picks := 1; ; picks++ {
		c, err := p.conn(ctx, deadline)
		if err != nil {
			return nil, err
		}
		r, err := c.exchange(ctx, deadline, m)
		if err == nil || !errors.Is(err, errConnLost) || !time.Now().Before(deadline) {
			return r, err
		}
		if !errors.Is(err, errConnUnsent) {
			sends++
		}
		if sends >= dotMaxSends || picks >= dotMaxSends+dotMaxConns {
			return r, err
		}
	}
}

// conn returns the least busy live connection, or opens one: when there
// is none (one dial at a time: the others wait for it rather than open a
// connection each), or when every connection is busy (dotNewConnAt) and
// there is room.
func (p *dotPool) conn(ctx context.Context, deadline time.Time) (*dotConn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, fmt.Errorf("tls %s: %w", p.server, net.ErrClosed)
		}
		var best *dotConn
		live := p.conns[:0]
		for _, c := range p.conns {
			if c.isDead() {
				continue
			}
			live = append(live, c)
			if best == nil || c.load() < best.load() {
				best = c
			}
		}
		clear(p.conns[len(live):])
		p.conns = live
		room := len(p.conns)+p.dialing < dotMaxConns
		switch {
		case best != nil && (best.load() < dotNewConnAt || !room):
			p.mu.Unlock()
			return best, nil
		case best == nil && p.dialing > 0:
			// Wait for the dial under way (bounded by the deadline).
			if p.dialed == nil {
				p.dialed = make(chan struct{})
			}
			ch := p.dialed
			p.mu.Unlock()
			t := time.NewTimer(time.Until(deadline))
			select {
			case <-ch:
				t.Stop()
				continue
			case <-t.C:
				return nil, fmt.Errorf("tls %s: waiting for a connection: %w", p.server, context.DeadlineExceeded)
			case <-ctx.Done():
				t.Stop()
				return nil, fmt.Errorf("tls %s: waiting for a connection: %w", p.server, ctx.Err())
			}
		}
		p.dialing++
		p.mu.Unlock()
		c, err := p.dial(ctx, deadline)
		p.mu.Lock()
		p.dialing--
		if p.dialed != nil {
			close(p.dialed) // wake the waiters: a connection, or their turn to dial
			p.dialed = nil
		}
		if err == nil {
			if p.closed {
				p.mu.Unlock()
				c.fail(net.ErrClosed)
				return nil, fmt.Errorf("tls %s: %w", p.server, net.ErrClosed)
			}
			p.conns = append(p.conns, c)
		}
		p.mu.Unlock()
		return c, err
	}
}

// dial opens and authenticates one connection before deadline.
func (p *dotPool) dial(ctx context.Context, deadline time.Time) (*dotConn, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(dctx, "tcp", p.server.String())
	if err != nil {
		return nil, fmt.Errorf("dial tcp-tls %s: %w", p.server, err)
	}
	tc := tls.Client(raw, p.cfg)
	if err := tc.HandshakeContext(dctx); err != nil {
		_ = raw.Close()
		var cv *tls.CertificateVerificationError
		switch {
		case errors.As(err, &cv):
			return nil, fmt.Errorf("tls %s (%s): %w: %w", p.server, p.cfg.ServerName, errTLSAuth, err)
		case dctx.Err() != nil || isTimeout(err):
			return nil, fmt.Errorf("tls %s (%s): handshake: %w", p.server, p.cfg.ServerName, err)
		}
		return nil, fmt.Errorf("tls %s (%s): %w: %w", p.server, p.cfg.ServerName, errTLSHandshake, err)
	}
	c := &dotConn{server: p.server, tc: tc, pending: map[uint16]chan *dns.Msg{}, lastRead: time.Now()}
	go c.readLoop()
	return c, nil
}

// dotConn is one TLS connection carrying pipelined queries.
type dotConn struct {
	server netip.AddrPort
	tc     net.Conn   // a *tls.Conn; any stream in the fuzz test
	wmu    sync.Mutex // one message written at a time

	mu       sync.Mutex
	pending  map[uint16]chan *dns.Msg // wire id -> the waiting exchange
	nextID   uint16
	lastRead time.Time // when a reply last arrived: a silent connection is dropped
	answered bool      // a reply arrived on it: the server served it
	err      error     // set once the connection is dead
}

func (c *dotConn) load() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

func (c *dotConn) isDead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err != nil
}

// fail marks the connection dead, closes it and wakes every waiter.
func (c *dotConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = map[uint16]chan *dns.Msg{}
	c.mu.Unlock()
	_ = c.tc.Close()
	for _, ch := range pending {
		close(ch)
	}
}

// exchange writes m under a wire id of the connection's own (ids only need
// to be unique per connection: over TLS an off-path spoofer cannot inject,
// RFC 7858 1) and waits for the reply with that id.
func (c *dotConn) exchange(ctx context.Context, deadline time.Time, m *dns.Msg) (*dns.Msg, error) {
	buf, err := m.Pack()
	if err != nil {
		return nil, fmt.Errorf("tls %s: pack: %w", c.server, err)
	}
	if len(buf) > dns.MaxMsgSize {
		return nil, fmt.Errorf("tls %s: query too large", c.server)
	}
	ch := make(chan *dns.Msg, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, fmt.Errorf("tls %s: %w: %w", c.server, errConnUnsent, err)
	}
	if len(c.pending) >= dotMaxPipeline {
		c.mu.Unlock()
		return nil, fmt.Errorf("tls %s: %d queries outstanding on the connection: %w", c.server, dotMaxPipeline, errBusy)
	}
	id := c.nextID
	for _, taken := c.pending[id]; taken; _, taken = c.pending[id] {
		id++ // at most dotMaxPipeline steps
	}
	c.nextID = id + 1
	c.pending[id] = ch
	c.mu.Unlock()
	sent := time.Now()

	frame := make([]byte, 2+len(buf))
	binary.BigEndian.PutUint16(frame, uint16(len(buf)))
	copy(frame[2:], buf)
	binary.BigEndian.PutUint16(frame[2:], id)
	c.wmu.Lock()
	_ = c.tc.SetWriteDeadline(deadline)
	_, err = c.tc.Write(frame)
	c.wmu.Unlock()
	if err != nil {
		// A partial write leaves the stream unusable for everyone.
		c.fail(err)
		if isTimeout(err) {
			return nil, fmt.Errorf("write tls %s: %w", c.server, err)
		}
		return nil, fmt.Errorf("write tls %s: %w: %w", c.server, c.lost(), err)
	}

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case r, ok := <-ch:
		if !ok {
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			if errors.Is(err, io.EOF) {
				err = errConnClosed
			}
			return nil, fmt.Errorf("read tls %s: %w: %w", c.server, c.lost(), err)
		}
		r.Id = m.Id
		return r, nil
	case <-timer.C:
		err = context.DeadlineExceeded
	case <-ctx.Done():
		err = ctx.Err()
	}
	c.mu.Lock()
	delete(c.pending, id)
	silent := c.lastRead.Before(sent)
	c.mu.Unlock()
	if silent {
		// Nothing came back on the connection since this query went out:
		// it may be dead without a reset (a vanished peer). Drop it so the
		// next query dials instead of waiting on it too.
		c.fail(err)
	}
	return nil, fmt.Errorf("read tls %s: %w", c.server, err)
}

// lost is the error of a query written to c and lost with it.
func (c *dotConn) lost() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answered {
		return errConnServedLost
	}
	return errConnLost
}

// readLoop reads replies and hands each to the exchange waiting for its id;
// replies nobody waits for (late, after a timeout) are dropped. It ends the
// connection on a read error, a malformed frame, or dotIdleTimeout without
// a query outstanding.
func (c *dotConn) readLoop() {
	var hdr [2]byte
	buf := make([]byte, 0, 4096)
	for {
		_ = c.tc.SetReadDeadline(time.Now().Add(dotIdleTimeout))
		if _, err := io.ReadFull(c.tc, hdr[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && c.load() > 0 {
				continue // queries outstanding: their own deadlines decide
			}
			c.fail(err)
			return
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		if n < 12 {
			c.fail(fmt.Errorf("a %d-byte message: %w", n, errMismatch))
			return
		}
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		_ = c.tc.SetReadDeadline(time.Now().Add(dotIdleTimeout))
		if _, err := io.ReadFull(c.tc, buf); err != nil {
			c.fail(err)
			return
		}
		r := new(dns.Msg)
		if err := r.Unpack(buf); err != nil {
			// Framing is intact (the length was honoured): skip the
			// message; its exchange times out.
			continue
		}
		c.mu.Lock()
		c.lastRead = time.Now()
		c.answered = true
		ch, ok := c.pending[r.Id]
		if ok {
			delete(c.pending, r.Id)
		}
		c.mu.Unlock()
		if ok {
			ch <- r
		}
	}
}

// dotPools holds the pools of the current forward targets that speak TLS;
// SetForwardRules keeps a pool whose target and config are unchanged.
type dotPools map[netip.AddrPort]*dotPool

// updateDOT returns the pools for rules, reusing old's where the config is
// the same, and closes the pools no longer used.
func updateDOT(old dotPools, rules []ForwardRule) dotPools {
	var next dotPools
	for _, fr := range rules {
		for i, t := range fr.To {
			if i >= len(fr.TLS) || fr.TLS[i] == nil {
				continue
			}
			if next == nil {
				next = dotPools{}
			}
			if _, ok := next[t]; ok {
				continue // the first rule naming a target decides (cluster check refuses two kinds)
			}
			if p, ok := old[t]; ok && p.sameConfig(fr.TLS[i]) {
				next[t] = p
				continue
			}
			next[t] = newDOTPool(t, fr.TLS[i])
		}
	}
	for t, p := range old {
		if next[t] != p {
			p.close()
		}
	}
	return next
}
