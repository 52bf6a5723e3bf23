package fastpath

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gitops-dns/resolverd/fastpath/udpio"
)

// TCPOptions bound what TCP clients may hold of the node (RFC 7766 6.2).
// Zero values take the defaults.
type TCPOptions struct {
	// MaxConns bounds the connections open at once, all clients together
	// (default 256; BIND's tcp-clients is 150, Unbound's incoming-num-tcp
	// 10 per thread).
	MaxConns int
	// MaxPerClient bounds the connections open at once from one address
	// (default 32): one host cannot take every slot.
	MaxPerClient int
	// MaxInFlight bounds the queries of one connection processed at once
	// (default 32); the connection is not read further until one ends.
	MaxInFlight int
	// IdleTimeout closes a connection with no query in flight that sends
	// nothing for this long, and bounds the time one message may take to
	// arrive (default 3 s, CoreDNS's first-read timeout).
	IdleTimeout time.Duration
	// WriteTimeout bounds the sending of one response (default 5 s, CoreDNS's).
	WriteTimeout time.Duration
}

// TCP defaults.
const (
	DefaultTCPConns        = 256
	DefaultTCPPerClient    = 32
	DefaultTCPInFlight     = 32
	DefaultTCPIdleTimeout  = 3 * time.Second
	DefaultTCPWriteTimeout = 5 * time.Second
)

func (o *TCPOptions) defaults() {
	if o.MaxConns <= 0 {
		o.MaxConns = DefaultTCPConns
	}
	if o.MaxPerClient <= 0 {
		o.MaxPerClient = DefaultTCPPerClient
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultTCPInFlight
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultTCPIdleTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultTCPWriteTimeout
	}
}

// TCPHandler answers one query of a connection: msg is the message without
// its length prefix (the handler's to keep); the response goes out through
// c.Write. Handlers of one connection run concurrently.
type TCPHandler func(c *TCPConn, msg []byte)

// TCPServer serves DNS over TCP as RFC 7766 6.2.1.1 asks: the queries a
// client pipelines on one connection are processed concurrently and
// answered as each is ready, out of order (a slow recursion does not hold
// up the answers behind it). Connections are bounded in total and per
// client address; when a bound is reached the connection idle for longest
// (no query in flight) is closed to make room, as Unbound does when
// incoming-num-tcp runs out, and a new connection is refused only when
// every connection it competes with is busy.
type TCPServer struct {
	Handler TCPHandler
	Options TCPOptions
	// Refused, if set, counts connections closed at once because every
	// slot was busy; Evicted connections closed to make room.
	Refused, Evicted func()

	once      sync.Once
	mu        sync.Mutex
	conns     map[*TCPConn]struct{}
	perClient map[netip.Addr]int
	closed    bool
	lns       []net.Listener
}

func (s *TCPServer) init() {
	s.once.Do(func() {
		s.Options.defaults()
		s.conns = map[*TCPConn]struct{}{}
		s.perClient = map[netip.Addr]int{}
	})
}

// ListenTCP opens a TCP listener on addr that joins the reuseport group of
// the address and steers every new connection to itself (udpio.Steer with
// one socket): bound before CoreDNS's own listener, it takes all of TCP.
func ListenTCP(addr string) (net.Listener, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error { return udpio.SetReuse(rc) }}
	// Plain TCP: Go listens with MPTCP by default where the kernel has it,
	// and an MPTCP socket takes no reuseport program (EOPNOTSUPP). Its
	// kernel subflow listener joins the same reuseport group as this one.
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tcp listen %q: %w", addr, err)
	}
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err == nil {
		err = udpio.Steer(rc, 1)
	}
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("tcp listen %q: attach reuseport program: %w", addr, err)
	}
	return ln, nil
}

// Serve accepts connections on ln until ln or the server is closed.
func (s *TCPServer) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: do not spin
			continue
		}
		c := s.admit(nc)
		if c == nil {
			nc.Close()
			if s.Refused != nil {
				s.Refused()
			}
			continue
		}
		go c.serve()
	}
}

// Close closes the listeners and every connection.
func (s *TCPServer) Close() {
	s.init()
	s.mu.Lock()
	s.closed = true
	lns := s.lns
	s.lns = nil
	var conns []*TCPConn
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
	for _, c := range conns {
		c.nc.Close()
	}
}

// StopAccepting closes the listeners; open connections go on until Close.
func (s *TCPServer) StopAccepting() {
	s.init()
	s.mu.Lock()
	lns := s.lns
	s.lns = nil
	s.closed = true
	s.mu.Unlock()
	for _, ln := range lns {
		ln.Close()
	}
}

// InFlight reports the queries of every connection being answered now.
func (s *TCPServer) InFlight() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.conns {
		n += int(c.inflight.Load())
	}
	return n
}

// Conns reports the connections open now.
func (s *TCPServer) Conns() int {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// admit registers nc, closing the longest-idle competitor when a bound is
// reached; nil when every competitor is busy.
func (s *TCPServer) admit(nc net.Conn) *TCPConn {
	ra, _ := nc.RemoteAddr().(*net.TCPAddr)
	var client netip.Addr
	if ra != nil {
		client, _ = netip.AddrFromSlice(ra.IP)
		client = client.Unmap()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	if s.perClient[client] >= s.Options.MaxPerClient && !s.evictLocked(func(c *TCPConn) bool { return c.client == client }) {
		return nil
	}
	if len(s.conns) >= s.Options.MaxConns && !s.evictLocked(func(*TCPConn) bool { return true }) {
		return nil
	}
	c := &TCPConn{nc: nc, srv: s, client: client, remote: ra, slots: make(chan struct{}, s.Options.MaxInFlight)}
	c.touch()
	s.conns[c] = struct{}{}
	s.perClient[client]++
	return c
}

// evictLocked closes the connection among those match selects that has
// been idle (no query in flight) the longest; false when none is idle. The
// scan is bounded by MaxConns.
func (s *TCPServer) evictLocked(match func(*TCPConn) bool) bool {
	var oldest *TCPConn
	for c := range s.conns {
		if !match(c) || c.inflight.Load() > 0 {
			continue
		}
		if oldest == nil || c.last.Load() < oldest.last.Load() {
			oldest = c
		}
	}
	if oldest == nil {
		return false
	}
	s.forgetLocked(oldest)
	oldest.nc.Close() // its reader sees the close and ends
	if s.Evicted != nil {
		s.Evicted()
	}
	return true
}

func (s *TCPServer) forgetLocked(c *TCPConn) {
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if s.perClient[c.client]--; s.perClient[c.client] <= 0 {
		delete(s.perClient, c.client)
	}
}

// TCPConn is one client connection.
type TCPConn struct {
	nc       net.Conn
	srv      *TCPServer
	client   netip.Addr
	remote   *net.TCPAddr
	wmu      sync.Mutex
	inflight atomic.Int32
	last     atomic.Int64 // unix nanoseconds of the last read or answer
	slots    chan struct{}
}

// Client is the client's address (IPv4 unmapped).
func (c *TCPConn) Client() netip.Addr { return c.client }

// RemoteAddr and LocalAddr are the connection's addresses.
func (c *TCPConn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }
func (c *TCPConn) LocalAddr() net.Addr  { return c.nc.LocalAddr() }

func (c *TCPConn) touch() { c.last.Store(time.Now().UnixNano()) }

// Write sends one response (without its length prefix) with a deadline;
// responses of concurrent queries never interleave. A failed write closes
// the connection.
func (c *TCPConn) Write(b []byte) error {
	if len(b) > 0xffff {
		return fmt.Errorf("tcp response of %d octets", len(b))
	}
	buf := make([]byte, 2+len(b))
	binary.BigEndian.PutUint16(buf, uint16(len(b)))
	copy(buf[2:], b)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.Options.WriteTimeout))
	if _, err := c.nc.Write(buf); err != nil {
		c.nc.Close()
		return err
	}
	c.touch()
	return nil
}

// serve reads the connection's messages and runs each on its own goroutine,
// at most MaxInFlight at once.
func (c *TCPConn) serve() {
	s := c.srv
	defer func() {
		c.nc.Close()
		s.mu.Lock()
		s.forgetLocked(c)
		s.mu.Unlock()
	}()
	var lenBuf [2]byte
	for {
		c.nc.SetReadDeadline(time.Now().Add(s.Options.IdleTimeout))
		n, err := io.ReadFull(c.nc, lenBuf[:])
		if err != nil {
			var ne net.Error
			if n == 0 && errors.As(err, &ne) && ne.Timeout() && c.inflight.Load() > 0 {
				continue // quiet while answers are being worked on: not idle
			}
			return
		}
		size := int(binary.BigEndian.Uint16(lenBuf[:]))
		if size < 12 {
			return // not even a header: RFC 7766 6.2.4 lets us close
		}
		msg := make([]byte, size)
		if _, err := io.ReadFull(c.nc, msg); err != nil {
			return
		}
		c.touch()
		c.slots <- struct{}{} // blocks reading while MaxInFlight run
		c.inflight.Add(1)
		go func() {
			defer func() {
				c.touch()
				c.inflight.Add(-1)
				<-c.slots
			}()
			s.Handler(c, msg)
		}()
	}
}
