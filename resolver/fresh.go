package resolver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/gitops-dns/resolverd/internal/rawsys"
)

// freshUDP is the default Transport of a Resolver: every UDP query gets a
// socket of its own, connect()ed to the server, on a port the kernel picks
// at random from the ephemeral range, closed when the exchange ends; TCP
// goes through NetTransport.
//
// Why not reuse sockets (udpPool): a port that stays open across queries
// is what a side channel that finds open ports without seeing them looks
// for (SAD DNS, CVE-2020-25705; its successors probe the same kernel
// state), and every port it finds serves the next queries too. With a
// socket per query a port is open only for the round trip of one query,
// as Unbound, BIND and PowerDNS do it. What it costs (socket, connect,
// epoll registration and close per query) is measured in resolver/README.md.
//
// Randomness: the port is the kernel's choice (Linux draws it from its own
// CSPRNG-seeded hash, no syscall of ours); the id and the 0x20 case bits
// come from crypto/rand, read 256 bytes at a time (newID, randomBytes), so
// no query makes a getrandom call of its own.
type freshUDP struct {
	tcp NetTransport
}

// dialUDP opens a non-blocking UDP socket connect()ed to server, which
// binds it to a random ephemeral port (no bind() of ours: connect's
// autobind picks the port, so IP_BIND_ADDRESS_NO_PORT, which only defers
// the port of an explicit bind, has nothing to do here). It is
// net.DialUDP without what the net package adds per socket (SO_BROADCAST,
// getsockname, getpeername, address conversions, the runtime poller's
// registration): those were a sixth of the CPU of a cold resolution.
func dialUDP(server netip.AddrPort) (int, error) {
	family := unix.AF_INET
	if !server.Addr().Is4() {
		family = unix.AF_INET6
	}
	// Raw system calls, as every call of an exchange: see internal/rawsys.
	fd, err := rawsys.Socket(family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	if err := rawsys.Connect(fd, server); err != nil {
		_ = rawsys.Close(fd)
		return -1, os.NewSyscallError("connect", err)
	}
	return fd, nil
}

// directTransport is a built-in Transport (freshUDP, udpPool) that takes
// the attempt's deadline apart from ctx, so the resolver needs no context
// per attempt.
type directTransport interface {
	Transport
	exchangeUntil(ctx context.Context, deadline time.Time, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error)
}

// freshBuf is a reused packing and receiving buffer.
type freshBuf struct{ b [poolReadBuf]byte }

var freshBufs = sync.Pool{New: func() any { return new(freshBuf) }}

// Exchange implements Transport.
func (f freshUDP) Exchange(ctx context.Context, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	return f.exchangeUntil(ctx, deadline, network, server, m)
}

// exchangeUntil is Exchange with the attempt's deadline apart from ctx, as
// udpPool's: the resolver needs no context per attempt.
func (f freshUDP) exchangeUntil(ctx context.Context, deadline time.Time, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	if network != "udp" {
		actx, cancel := context.WithDeadline(ctx, deadline)
		defer cancel()
		return f.tcp.Exchange(actx, network, server, m)
	}
	if err := checkDestination(network, server); err != nil {
		return nil, err
	}
	server = netip.AddrPortFrom(server.Addr().Unmap(), server.Port()) // a v4 socket takes no mapped address
	poller, err := theUpstreamPoller()
	if err != nil {
		return nil, err
	}
	fd, err := dialUDP(server)
	if err != nil {
		return nil, fmt.Errorf("dial udp %s: %w", server, err)
	}
	defer rawsys.Close(fd)
	w := fdWaiters.Get().(*fdWaiter)
	if err := poller.add(fd, w); err != nil {
		fdWaiters.Put(w)
		return nil, fmt.Errorf("udp %s: %w", server, err)
	}
	defer func() {
		poller.remove(fd) // no token comes after this
		w.timer.Stop()
		select {
		case <-w.ready:
		default:
		}
		fdWaiters.Put(w)
	}()
	// The resolution's own context ends at its deadline (no Done channel
	// needed); any other can end early.
	var done <-chan struct{}
	if dc, ok := ctx.(*deadlineCtx); ok {
		if dc.deadline.Before(deadline) {
			deadline = dc.deadline
		}
	} else if done = ctx.Done(); done != nil {
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
	}
	if w.timer == nil {
		w.timer = time.NewTimer(time.Until(deadline))
	} else {
		w.timer.Reset(time.Until(deadline))
	}
	fb := freshBufs.Get().(*freshBuf)
	defer freshBufs.Put(fb) // nothing decoded points into it (awaitReply)
	wire, err := m.PackBuffer(fb.b[:])
	if err != nil {
		return nil, fmt.Errorf("pack query for %s: %w", server, err)
	}
	if _, err := writeRetry(fd, wire); err != nil {
		return nil, fmt.Errorf("write udp %s: %w", server, os.NewSyscallError("write", err))
	}
	r, err := awaitReply(fd, fb.b[:], m, w.ready, w.timer.C, done)
	if err != nil {
		if errors.Is(err, errDone) {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("udp %s: %w", server, err)
	}
	return r, nil
}

// errDone: the caller's context ended while the query waited.
var errDone = errors.New("context done")

// awaitReply waits for the reply to m on the connected socket fd, reading
// into buf: each token on ready says the socket may hold datagrams (or an
// error). It reads until the socket is empty (an edge may stand for
// several datagrams), skipping up to maxStrayReplies that are not the
// reply (wrong id, another question, garbage), then waits again. When
// expire fires it reads once more before giving up: a reply that is
// already in the socket counts, even if the wake-up that announced it has
// not reached this goroutine yet (on a busy machine the deadline and the
// reply can be a scheduling delay apart). Nothing r holds points into buf:
// leanUnpack copies what it decodes (a signed answer and its proof
// included), and a reply it cannot decode (referrals, negative answers) is
// unpacked by Msg.Unpack from a copy of its own size, as in udpPool not
// relying on every unpacker of miekg/dns to copy, without leaving a whole
// read buffer to the GC for each.
func awaitReply(fd int, buf []byte, m *dns.Msg, ready <-chan struct{}, expire <-chan time.Time, done <-chan struct{}) (*dns.Msg, error) {
	for strays := 0; strays < maxStrayReplies; {
		// Wait first: the reply cannot be there yet, and a read that
		// says EAGAIN is a syscall spent on nothing.
		expired := false
		select {
		case <-ready:
		case <-expire:
			expired = true
		case <-done:
			return nil, errDone
		}
		for ; strays < maxStrayReplies; strays++ {
			n, err := readRetry(fd, buf)
			if err == unix.EAGAIN {
				break // empty: wait for the next event
			}
			if err != nil {
				// ECONNREFUSED: the port is closed (an ICMP error came back).
				return nil, os.NewSyscallError("read", err)
			}
			if n < 12 || binary.BigEndian.Uint16(buf) != m.Id {
				continue // not ours (or an empty datagram): keep waiting for the real reply
			}
			r, lean := leanUnpack(buf[:n], m)
			if !lean {
				r = new(dns.Msg)
				if r.Unpack(append([]byte(nil), buf[:n]...)) != nil {
					continue // garbage
				}
			}
			if !sameQuestion(m, r) {
				continue // another question: keep waiting
			}
			return r, nil
		}
		if expired {
			return nil, fmt.Errorf("read: %w", context.DeadlineExceeded)
		}
	}
	return nil, errMismatch
}

// readRetry is read(2) on a non-blocking socket, retried when a signal
// interrupts it.
func readRetry(fd int, b []byte) (int, error) {
	for {
		n, err := rawsys.Read(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}

// writeRetry is write(2), retried when a signal interrupts it. A fresh
// socket's send buffer is empty: EAGAIN (no room) is an error here.
func writeRetry(fd int, b []byte) (int, error) {
	for {
		n, err := rawsys.Write(fd, b)
		if err != unix.EINTR {
			return n, err
		}
	}
}
