// Package udpio owns the UDP socket layer of the fast path: a group of
// SO_REUSEPORT sockets bound to the server's address, a classic-BPF reuseport
// program that steers every datagram to one of them, and batched receive and
// send with scratch state reused between calls: recvmmsg and sendmmsg
// directly through golang.org/x/sys/unix (sender and destination addresses
// in per-socket or pooled storage, no allocation per datagram), as raw
// system calls (internal/rawsys). It knows nothing about DNS or CoreDNS.
//
// # How the traffic is taken away from CoreDNS's socket
//
// CoreDNS binds its own UDP socket for a server block with SO_REUSEPORT and
// SO_REUSEADDR, after the plugins' OnStartup functions have run. Listen runs
// first (from OnStartup) and binds its N sockets to the same address string with
// the same network ("udp") and the same options, so the kernel puts all of them
// in one reuseport group and numbers them 0..N-1 in bind order. Listen then
// attaches a classic BPF program to the group (SO_ATTACH_REUSEPORT_CBPF) that
// returns rxhash % N (for N == 1, always 0). The kernel delivers each datagram to
// the socket whose index the program returns, so CoreDNS's socket, which joins
// later as index N, is never chosen and receives nothing: all UDP queries reach
// this package's sockets and are read in batches.
//
// # Why this is safe when the order is not the expected one
//
// The program only ever picks an index; it never drops a datagram. Whatever
// socket sits at that index gets the datagram, and every socket in the group
// belongs to a server that answers it:
//
//   - If a foreign socket (CoreDNS's, or the group of a previous instance during
//     a reload) was bound before Listen, it holds one of the indices 0..N-1 and
//     receives that share of the traffic. CoreDNS reads it and answers through
//     its standard plugin chain: the answer is correct, only slower. One of our
//     sockets then sits beyond N-1 and stays idle.
//   - When a socket leaves the group the kernel moves the last socket into the
//     freed index. Closing a Group while CoreDNS's socket is open therefore
//     hands the freed indices to CoreDNS's socket, and an index the program
//     returns that no longer exists makes the kernel fall back to its own hash
//     over the remaining sockets: CoreDNS's socket gets everything.
//   - On a reload CoreDNS keeps its socket (caddy passes the descriptor on),
//     the new instance's Listen runs while the old group is still bound, and
//     the old group is closed afterwards. Attaching a program replaces the
//     group's previous one, so the new program steers to indices 0..N-1, which
//     are the old sockets until they close; each close then pulls the last
//     socket, one of the new group's, into the freed index, so once the old
//     group is gone the new one holds 0..N-1 again and CoreDNS's socket sits
//     at N. This is why Close does not detach the program: the program belongs
//     to the kernel's group, not to one Group, and detaching it would take the
//     new instance's steering away. The caller must therefore close the old
//     Group from OnShutdown (which caddy runs after the new instance started),
//     not from OnRestart (which runs before the new OnStartup): closed first,
//     the old group would leave CoreDNS's socket at index 0, and the new
//     program would steer to it (everything, when N == 1) — still answered,
//     but all on the standard path.
//
// In every case a query is answered either by the fast path or by CoreDNS's
// standard path, never lost because of the steering.
//
// # Buffers
//
// A datagram longer than a Message's buffer is truncated to the buffer's
// capacity (as with any UDP read); give buffers of 64 KiB to be exact, or the
// largest query size the server accepts. The receive buffer is asked for with
// SO_RCVBUFFORCE (which ignores net.core.rmem_max and works for root) and
// SO_RCVBUF when that is refused; the kernel doubles the value for its own
// bookkeeping, and Group.RecvBuffer reports what the kernel says.
package udpio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/gitops-dns/resolverd/internal/rawsys"
)

// Message is one datagram: Buf is the caller's buffer (capacity = max size);
// after ReadBatch N is the datagram length and Addr the sender; for WriteBatch
// Buf[:N] is sent to Addr.
type Message struct {
	Buf []byte
	N   int
	// Addr is set by ReadBatch and read by WriteBatch. An address ReadBatch
	// set is the Conn's storage, valid until the next ReadBatch on the same
	// Conn: copy it to keep it longer.
	Addr *net.UDPAddr
}

// Options tune Listen. Zero values take the defaults.
type Options struct {
	// Sockets is the number of sockets (default runtime.GOMAXPROCS(0)).
	Sockets int
	// RecvBuffer is the SO_RCVBUF size wanted in bytes (default 4 MiB).
	RecvBuffer int
	// SendBuffer is the SO_SNDBUF size wanted in bytes (default 1 MiB).
	SendBuffer int
}

// Defaults applied by Listen to zero Options fields.
const (
	DefaultRecvBuffer = 4 << 20
	DefaultSendBuffer = 1 << 20
	// MaxSockets bounds Options.Sockets: more sockets than this cannot help
	// any machine this runs on and only cost file descriptors.
	MaxSockets = 1024
)

// Group is the set of sockets bound to one address by Listen.
type Group struct {
	conns      []*Conn
	recvBuffer int
	closeOnce  sync.Once
	closeErr   error
}

// Listen opens o.Sockets UDP sockets on addr ("host:port" exactly as CoreDNS
// gets it, e.g. "127.0.0.1:1053" or ":53"), network "udp", each with
// SO_REUSEPORT and SO_REUSEADDR and the requested buffer sizes, and attaches the
// steering program that sends every datagram to one of them. Port 0 is an
// error: the group must share its port with CoreDNS's socket.
func Listen(addr string, o Options) (*Group, error) {
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("udpio: listen %q: %w", addr, err)
	}
	port, err := net.LookupPort("udp", portStr)
	if err != nil {
		return nil, fmt.Errorf("udpio: listen %q: %w", addr, err)
	}
	if port == 0 {
		return nil, fmt.Errorf("udpio: listen %q: port 0 is not allowed: the sockets must share a fixed port with the server's own socket", addr)
	}
	if o.Sockets <= 0 {
		o.Sockets = runtime.GOMAXPROCS(0)
	}
	if o.Sockets > MaxSockets {
		return nil, fmt.Errorf("udpio: listen %q: %d sockets asked, at most %d", addr, o.Sockets, MaxSockets)
	}
	if o.RecvBuffer <= 0 {
		o.RecvBuffer = DefaultRecvBuffer
	}
	if o.SendBuffer <= 0 {
		o.SendBuffer = DefaultSendBuffer
	}

	g := &Group{}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		return setOptions(rc, o)
	}}
	for i := 0; i < o.Sockets; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp", addr)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("udpio: listen %q: socket %d of %d: %w", addr, i, o.Sockets, err)
		}
		c, err := newConn(pc.(*net.UDPConn))
		if err != nil {
			pc.Close()
			g.Close()
			return nil, fmt.Errorf("udpio: listen %q: socket %d of %d: %w", addr, i, o.Sockets, err)
		}
		g.conns = append(g.conns, c)
	}
	if err := g.conns[0].attachSteering(o.Sockets); err != nil {
		g.Close()
		return nil, fmt.Errorf("udpio: listen %q: attach reuseport program: %w", addr, err)
	}
	g.recvBuffer = -1
	for _, c := range g.conns {
		n, err := c.sockoptInt(unix.SO_RCVBUF)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("udpio: listen %q: read SO_RCVBUF: %w", addr, err)
		}
		if g.recvBuffer < 0 || n < g.recvBuffer {
			g.recvBuffer = n
		}
	}
	return g, nil
}

// Conns returns the group's sockets; index i is the socket the steering
// program selects with the value i.
func (g *Group) Conns() []*Conn { return g.conns }

// RecvBuffer returns the effective SO_RCVBUF (the smallest over the group's
// sockets) as the kernel reported it after Listen set it; Linux reports twice
// the size that was set.
func (g *Group) RecvBuffer() int { return g.recvBuffer }

// StopReading makes blocked and later ReadBatch calls return an error
// matching os.ErrDeadlineExceeded while the sockets stay open for writing:
// at shutdown a server stops taking datagrams, answers those in flight,
// then Closes.
func (g *Group) StopReading() {
	for _, c := range g.conns {
		_ = c.uc.SetReadDeadline(time.Unix(1, 0))
	}
}

// Close closes every socket; blocked ReadBatch calls return an error matching
// net.ErrClosed. It leaves the steering program attached to the kernel's group
// (see the package comment: a newer Group on the same address may own it).
// Datagrams still queued on the sockets are dropped with them, so keep reading
// until Close. Close is idempotent.
func (g *Group) Close() error {
	g.closeOnce.Do(func() {
		var errs []error
		for _, c := range g.conns {
			if err := c.uc.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		g.closeErr = errors.Join(errs...)
	})
	return g.closeErr
}

// Conn is one socket of a Group. ReadBatch must be called from one goroutine
// at a time; WriteBatch and WriteTo are safe from several goroutines.
type Conn struct {
	uc     *net.UDPConn
	rc     syscall.RawConn
	domain int // AF_INET or AF_INET6 (dual-stack)

	// Read scratch, used only by the single reader: the recvmmsg headers,
	// their buffers and sender addresses, the decoded addresses.
	rhdrs   []unix.Mmsghdr
	riovs   []unix.Iovec
	rnames  []unix.RawSockaddrInet6 // room for either family
	raddrs  []net.UDPAddr
	rips    [][16]byte           // raddrs[i].IP's storage
	rms     []Message            // the caller's messages during ReadEach
	rhandle func([]Message) bool // what ReadEach does with each batch
	rn      int                  // ReadBatch's result
	rerrno  syscall.Errno
	busy    int                   // recvmmsg calls since the loop last waited (toldEvery)
	readFn  func(fd uintptr) bool // c.recvmmsg, made once: a closure per call would allocate
	oneFn   func([]Message) bool  // c.one, made once
	zoneID  uint32                // the last IPv6 scope id seen, and its name
	zone    string

	// Write scratch: one per concurrent writer, reused through the pool.
	wpool sync.Pool
}

// writeScratch is one sender's sendmmsg or sendto state: headers, buffers
// and destination addresses, and the RawConn.Write callback made once (a
// closure per call would allocate).
type writeScratch struct {
	c     *Conn
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // room for either family
	off   int                     // the first header to send
	n     int                     // headers to send, then sent
	errno syscall.Errno
	send  func(fd uintptr) bool
}

func newConn(uc *net.UDPConn) (*Conn, error) {
	c := &Conn{uc: uc}
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c.rc = rc
	c.readFn, c.oneFn = c.recvmmsg, c.one
	domain, err := c.sockoptInt(unix.SO_DOMAIN)
	if err != nil {
		return nil, fmt.Errorf("read SO_DOMAIN: %w", err)
	}
	if domain != unix.AF_INET && domain != unix.AF_INET6 {
		return nil, fmt.Errorf("unexpected socket domain %d", domain)
	}
	// A dual-stack AF_INET6 socket: IPv4 senders appear as ::ffff:a.b.c.d,
	// and replies to them go out to the same v4-mapped address, which the
	// kernel sends as IPv4.
	c.domain = domain
	c.wpool.New = func() any {
		w := &writeScratch{c: c}
		w.send = w.sendmmsg
		return w
	}
	return c, nil
}

// grow makes the scratch room for n messages.
func (w *writeScratch) grow(n int) {
	if n <= len(w.hdrs) {
		return
	}
	w.hdrs = make([]unix.Mmsghdr, n)
	w.iovs = make([]unix.Iovec, n)
	w.names = make([]unix.RawSockaddrInet6, n)
}

// set makes header i send b to a (nil a: the socket's peer, none for an
// unconnected socket: the kernel refuses it).
func (w *writeScratch) set(i int, b []byte, a *net.UDPAddr) {
	h := &w.hdrs[i]
	*h = unix.Mmsghdr{}
	if len(b) > 0 {
		w.iovs[i].Base = &b[0]
	} else {
		w.iovs[i].Base = nil
	}
	w.iovs[i].SetLen(len(b))
	h.Hdr.Iov = &w.iovs[i]
	h.Hdr.SetIovlen(1)
	if a != nil {
		if l := w.c.sockaddr(&w.names[i], a); l > 0 {
			h.Hdr.Name = (*byte)(unsafe.Pointer(&w.names[i]))
			h.Hdr.Namelen = l
		}
	}
}

// clear drops the references to the caller's buffers.
func (w *writeScratch) clear(n int) {
	for i := 0; i < n; i++ {
		w.iovs[i].Base = nil
	}
}

// sockaddr encodes a in the socket's family into sa and returns its
// length, 0 when a cannot be sent from this socket (an IPv6 address on an
// IPv4 socket, an address of neither family).
func (c *Conn) sockaddr(sa *unix.RawSockaddrInet6, a *net.UDPAddr) uint32 {
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port[0], port[1] = byte(a.Port>>8), byte(a.Port)
	if c.domain == unix.AF_INET {
		ip4 := a.IP.To4()
		if ip4 == nil {
			return 0
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		sa4.Family = unix.AF_INET
		copy(sa4.Addr[:], ip4)
		sa4.Zero = [8]uint8{}
		return unix.SizeofSockaddrInet4
	}
	ip := a.IP.To16()
	if ip == nil {
		return 0
	}
	sa.Family = unix.AF_INET6
	sa.Flowinfo = 0
	copy(sa.Addr[:], ip)
	sa.Scope_id = c.scopeID(a.Zone)
	return unix.SizeofSockaddrInet6
}

// scopeID is the interface index of an IPv6 zone ("" is 0): the one the
// reader last decoded, a number, or an interface name.
func (c *Conn) scopeID(zone string) uint32 {
	if zone == "" {
		return 0
	}
	if zone == c.zone {
		return c.zoneID
	}
	if n, err := strconv.ParseUint(zone, 10, 32); err == nil {
		return uint32(n)
	}
	if ifi, err := net.InterfaceByName(zone); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}

// sendmmsg is the RawConn.Write callback of WriteBatch and WriteTo.
func (w *writeScratch) sendmmsg(fd uintptr) bool {
	for {
		r, _, e := rawsys.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdrs[w.off])), uintptr(w.n), 0, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // the send buffer is full: wait until writable
		}
		w.n, w.errno = int(r), e
		return true
	}
}

// ReadBatch blocks until at least one datagram arrives and fills ms[:n] with
// up to len(ms) datagrams: ms[i].Buf[:ms[i].N] is the datagram and ms[i].Addr
// its sender (valid until the next ReadBatch). Each ms[i].Buf must have a
// non-zero capacity. After Close it returns an error matching net.ErrClosed.
func (c *Conn) ReadBatch(ms []Message) (int, error) {
	c.rn = 0
	err := c.ReadEach(ms, c.oneFn)
	return c.rn, err
}

// one is ReadBatch's handler: it keeps the first batch.
func (c *Conn) one(batch []Message) bool {
	c.rn = len(batch)
	return false
}

// ReadEach reads datagrams in batches of up to len(ms), as ReadBatch does,
// and calls handle with each batch (ms[:n], valid until handle returns)
// until handle returns false (ReadEach then returns nil) or the socket is
// closed or stops reading (the error ReadBatch would return). handle runs
// on the calling goroutine, one batch at a time.
//
// It differs from calling ReadBatch in a loop by one system call per
// wake-up at ordinary load: after a batch that emptied the queue (fewer
// datagrams than asked) it waits for the runtime's poller to say the socket
// is readable before it asks the kernel again. Each ReadBatch starts with a
// recvmmsg (the poller forgets what it saw when a new read starts), which
// says EAGAIN when the one datagram of a wake-up was already taken: one
// system call in four of a query at 10k queries a second (issue 21). No
// datagram waits longer: every one that arrives after the last recvmmsg
// queues its own edge-triggered event, which that wait sees.
func (c *Conn) ReadEach(ms []Message, handle func(batch []Message) bool) error {
	if len(ms) == 0 {
		return nil
	}
	c.growRead(len(ms))
	for i := range ms {
		b := ms[i].Buf[:cap(ms[i].Buf)]
		if len(b) == 0 {
			return fmt.Errorf("udpio: read batch: message %d has no buffer", i)
		}
		c.riovs[i].Base = &b[0]
		c.riovs[i].SetLen(len(b))
	}
	c.rms, c.rhandle, c.rerrno = ms, handle, 0
	err := c.rc.Read(c.readFn)
	// Do not keep the caller's buffers alive through the scratch.
	for i := range ms {
		c.riovs[i].Base = nil
	}
	c.rms, c.rhandle = nil, nil
	if err == nil && c.rerrno != 0 {
		err = os.NewSyscallError("recvmmsg", c.rerrno)
	}
	if err != nil {
		return fmt.Errorf("udpio: read batch: %w", err)
	}
	return nil
}

// toldEvery: one recvmmsg in this many without a wait in between is made
// through the runtime (unix.Syscall6). The raw calls leave sysmon asleep,
// which is the point while the process idles between queries; but under a
// flood the read loop may never wait, and sysmon is also what preempts a
// goroutine that runs too long (others of GOMAXPROCS=1 then get the P) and
// polls the network when every P is busy: a told call wakes it if it sleeps.
const toldEvery = 32

// recvmmsg is the RawConn.Read callback of ReadEach: false (wait until
// readable) when nothing is queued, or when the last batch emptied the
// queue (see ReadEach); true when handle says stop or on an error. The
// socket is non-blocking: the call is raw (see internal/rawsys), as is
// sendmmsg's.
func (c *Conn) recvmmsg(fd uintptr) bool {
	ms := c.rms
	for {
		for i := range ms {
			h := &c.rhdrs[i]
			h.Hdr.Name = (*byte)(unsafe.Pointer(&c.rnames[i]))
			h.Hdr.Namelen = unix.SizeofSockaddrInet6
			h.Hdr.Iov = &c.riovs[i]
			h.Hdr.SetIovlen(1)
			h.Hdr.Control, h.Hdr.Controllen, h.Hdr.Flags = nil, 0, 0
			h.Len = 0
		}
		call := rawsys.Syscall6
		if c.busy++; c.busy%toldEvery == 0 {
			call = unix.Syscall6
		}
		r, _, e := call(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.rhdrs[0])), uintptr(len(ms)), 0, 0, 0)
		switch e {
		case 0:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.busy = 0
			return false
		default:
			c.rerrno = e
			return true
		}
		n := int(r)
		for i := 0; i < n; i++ {
			ms[i].N = int(c.rhdrs[i].Len)
			ms[i].Addr = c.senderAddr(i)
		}
		if !c.rhandle(ms[:n]) {
			return true
		}
		if n < len(ms) {
			c.busy = 0
			return false // drained: wait for the poller's word
		}
	}
}

// growRead makes the read scratch at least n long.
func (c *Conn) growRead(n int) {
	if n <= len(c.rhdrs) {
		return
	}
	c.rhdrs = make([]unix.Mmsghdr, n)
	c.riovs = make([]unix.Iovec, n)
	c.rnames = make([]unix.RawSockaddrInet6, n)
	c.raddrs = make([]net.UDPAddr, n)
	c.rips = make([][16]byte, n)
}

// senderAddr decodes the sender address of datagram i into the Conn's storage,
// as x/net does: a 4-byte IP for AF_INET, 16 bytes and the scope's
// interface name (or number) for AF_INET6; nil for another family.
func (c *Conn) senderAddr(i int) *net.UDPAddr {
	sa := &c.rnames[i]
	a := &c.raddrs[i]
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	a.Port = int(port[0])<<8 | int(port[1])
	a.Zone = ""
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		a.IP = c.rips[i][:copy(c.rips[i][:4], sa4.Addr[:])]
	case unix.AF_INET6:
		a.IP = c.rips[i][:copy(c.rips[i][:], sa.Addr[:])]
		if id := sa.Scope_id; id != 0 {
			if id != c.zoneID {
				c.zoneID, c.zone = id, strconv.FormatUint(uint64(id), 10)
				if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
					c.zone = ifi.Name
				}
			}
			a.Zone = c.zone
		}
	default:
		return nil
	}
	return a
}

// WriteBatch sends ms[i].Buf[:ms[i].N] to ms[i].Addr for every message, in as
// few sendmmsg calls as the kernel allows. A message the kernel refuses (for
// example an unroutable address) is skipped and the rest are still sent; the
// result is the number of datagrams sent and the first error seen. It stops at
// the first error if the socket is closed. Like any UDP send it waits while the
// socket's send buffer is full, which lasts as long as the device queue does.
func (c *Conn) WriteBatch(ms []Message) (int, error) {
	if len(ms) == 0 {
		return 0, nil
	}
	w := c.wpool.Get().(*writeScratch)
	defer c.wpool.Put(w)
	w.grow(len(ms))
	for i := range ms {
		w.set(i, ms[i].Buf[:ms[i].N], ms[i].Addr)
	}
	defer w.clear(len(ms))
	sent := 0
	var first error
	for rest := 0; rest < len(ms); {
		n, err := w.sendFrom(rest, len(ms)-rest)
		if n > 0 {
			sent += n
			rest += n
		}
		if err != nil {
			if first == nil {
				first = fmt.Errorf("udpio: write batch: %w", err)
			}
			if errors.Is(err, net.ErrClosed) {
				break
			}
			// The kernel sends nothing and reports the error when the first
			// message fails: skip that message and go on.
			if n == 0 {
				rest++
			}
			continue
		}
		if n == 0 {
			// No progress and no error should not happen; do not spin.
			if first == nil {
				first = errors.New("udpio: write batch: sendmmsg sent nothing")
			}
			break
		}
	}
	return sent, first
}

// sendFrom sends n headers from header i on: how many went, or the error
// of the first, which then did not.
func (w *writeScratch) sendFrom(i, n int) (int, error) {
	w.off, w.n, w.errno = i, n, 0
	if err := w.c.rc.Write(w.send); err != nil {
		return 0, err
	}
	if w.errno != 0 {
		return 0, os.NewSyscallError("sendmmsg", w.errno)
	}
	return w.n, nil
}

// WriteTo sends one datagram to addr (the slow path's replies).
func (c *Conn) WriteTo(b []byte, addr *net.UDPAddr) error {
	w := c.wpool.Get().(*writeScratch)
	defer c.wpool.Put(w)
	w.grow(1)
	w.set(0, b, addr)
	defer w.clear(1)
	if w.hdrs[0].Hdr.Namelen == 0 {
		return fmt.Errorf("udpio: write to %v: not an address of this socket's family", addr)
	}
	n, err := w.sendFrom(0, 1)
	if err == nil && n != 1 {
		err = errors.New("sendmmsg sent nothing")
	}
	if err != nil {
		return fmt.Errorf("udpio: write to %v: %w", addr, err)
	}
	return nil
}

// LocalAddr returns the socket's local address.
func (c *Conn) LocalAddr() net.Addr { return c.uc.LocalAddr() }

// steeringProgram returns the classic BPF program that picks socket
// rxhash % n of the reuseport group (always 0 when n == 1).
func steeringProgram(n int) ([]bpf.RawInstruction, error) {
	var prog []bpf.Instruction
	if n <= 1 {
		prog = []bpf.Instruction{bpf.RetConstant{Val: 0}}
	} else {
		prog = []bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtRXHash},
			bpf.ALUOpConstant{Op: bpf.ALUOpMod, Val: uint32(n)},
			bpf.RetA{},
		}
	}
	return bpf.Assemble(prog)
}

func (c *Conn) attachSteering(n int) error { return Steer(c.rc, n) }

// Steer attaches to the reuseport group of the socket rc the program that
// picks socket rxhash % n (always 0 when n == 1). The fast path's TCP
// listener uses it with n == 1, so CoreDNS's listener, bound later on the
// same address, gets no connection (the package comment's reasoning holds
// for listeners as for datagram sockets).
func Steer(rc syscall.RawConn, n int) error {
	raw, err := steeringProgram(n)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, ins := range raw {
		filter[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		ferr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_REUSEPORT_CBPF, &fprog)
	}); err != nil {
		return err
	}
	return ferr
}

// SetReuse sets SO_REUSEADDR and SO_REUSEPORT on the socket rc before it is
// bound, as CoreDNS's reuseport package does, so it joins CoreDNS's group.
func SetReuse(rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			serr = fmt.Errorf("set SO_REUSEADDR: %w", err)
			return
		}
		if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			serr = fmt.Errorf("set SO_REUSEPORT: %w", err)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

func (c *Conn) sockoptInt(opt int) (int, error) {
	var v int
	err := c.control(func(fd int) error {
		var err error
		v, err = unix.GetsockoptInt(fd, unix.SOL_SOCKET, opt)
		return err
	})
	return v, err
}

func (c *Conn) control(f func(fd int) error) error {
	var ferr error
	if err := c.rc.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// setOptions runs before bind: SO_REUSEADDR and SO_REUSEPORT as CoreDNS's
// reuseport package sets them, and the buffer sizes.
func setOptions(rc syscall.RawConn, o Options) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		s := int(fd)
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			serr = fmt.Errorf("set SO_REUSEADDR: %w", err)
			return
		}
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			serr = fmt.Errorf("set SO_REUSEPORT: %w", err)
			return
		}
		if err := setBuffer(s, unix.SO_RCVBUFFORCE, unix.SO_RCVBUF, o.RecvBuffer); err != nil {
			serr = err
			return
		}
		serr = setBuffer(s, unix.SO_SNDBUFFORCE, unix.SO_SNDBUF, o.SendBuffer)
	})
	if err != nil {
		return err
	}
	return serr
}

// setBuffer asks for size with the privileged option force (not capped by
// net.core.[rw]mem_max) and falls back to the ordinary one, which the kernel
// caps silently.
func setBuffer(fd, force, plain, size int) error {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, force, size) == nil {
		return nil
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, plain, size); err != nil {
		name := "SO_RCVBUF"
		if plain == unix.SO_SNDBUF {
			name = "SO_SNDBUF"
		}
		return fmt.Errorf("set %s to %d: %w", name, size, err)
	}
	return nil
}
