package resolver

import (
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gitops-dns/resolverd/internal/rawsys"
)

// upstreamPoller tells the queries of freshUDP when their socket has
// something to read: one epoll instance of our own for every upstream UDP
// socket of the process, watched by one goroutine.
//
// Why not the runtime's poller (os.NewFile, as before): it costs per
// socket an fcntl (is it non-blocking?), an epoll_ctl to add it, a read
// that only says EAGAIN (a read waits in the poller after trying once),
// an epoll_ctl to remove it and a finalizer. Here a socket costs one
// epoll_ctl, added before the query is written; close() removes it from
// the epoll set (no other descriptor refers to the socket); the query
// reads only once told there is a datagram or an error. What is added is
// an epoll_wait shared by every socket ready at that moment and a goroutine
// hand-off. What it saves is measured in resolver/README.md.
//
// How: the epoll descriptor is itself registered with the runtime's poller
// (it is readable when one of its sockets is ready), so the watching
// goroutine holds no thread while nothing happens. Sockets are watched
// edge-triggered: every datagram or error that arrives queues one event;
// the query, not the watcher, reads its own socket (so a descriptor number
// that is closed and reused can never hand one query's datagram to
// another) until the reply matches or the socket says EAGAIN, then waits
// again. EPOLLONESHOT is not used: it would cost an epoll_ctl to re-arm
// after each stray datagram and saves nothing an edge does not.
type upstreamPoller struct {
	epfd int
	ep   *os.File // epfd in the runtime's poller

	mu      sync.Mutex
	waiting []*fdWaiter // by descriptor number
	gen     uint32      // tells a descriptor number's users apart
}

// fdWaiter is one query waiting on its socket. It is reused (fdWaiters):
// its channel and timer are allocated once.
type fdWaiter struct {
	ready chan struct{} // one token: the socket may have something to read
	gen   uint32
	timer *time.Timer
}

var fdWaiters = sync.Pool{New: func() any { return &fdWaiter{ready: make(chan struct{}, 1)} }}

var (
	upstreamPollerOnce sync.Once
	upstreamPollerP    *upstreamPoller
	upstreamPollerErr  error
)

// theUpstreamPoller is the process's poller, started on first use: one
// epoll instance and one goroutine for every Resolver, as the runtime's
// own poller is one for the process. It is never stopped.
func theUpstreamPoller() (*upstreamPoller, error) {
	upstreamPollerOnce.Do(func() {
		upstreamPollerP, upstreamPollerErr = newUpstreamPoller()
	})
	return upstreamPollerP, upstreamPollerErr
}

func newUpstreamPoller() (*upstreamPoller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("upstream poller: %w", os.NewSyscallError("epoll_create1", err))
	}
	// Non-blocking, so that os.NewFile hands it to the runtime's poller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("upstream poller: %w", os.NewSyscallError("fcntl", err))
	}
	p := &upstreamPoller{epfd: epfd, ep: os.NewFile(uintptr(epfd), "upstream-epoll")}
	raw, err := p.ep.SyscallConn()
	if err != nil {
		_ = p.ep.Close()
		return nil, fmt.Errorf("upstream poller: %w", err)
	}
	go p.watch(raw.Read)
	return p, nil
}

// watch runs for the life of the process: it waits in the runtime's
// poller until the epoll instance is readable, takes its events without
// blocking and wakes the queries they are for.
func (p *upstreamPoller) watch(read func(func(uintptr) bool) error) {
	events := make([]unix.EpollEvent, 128)
	for {
		err := read(func(uintptr) bool {
			for {
				n, err := rawsys.EpollPoll(p.epfd, events)
				if err == unix.EINTR {
					continue
				}
				if err != nil || n <= 0 {
					return false // nothing ready: wait in the runtime's poller
				}
				p.wake(events[:n])
				if n < len(events) {
					return false // drained
				}
			}
		})
		if err != nil {
			// The descriptor is never closed: this is not expected. Wait a
			// little rather than spin; queries meanwhile time out.
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// wake gives a token to the query each event is for, unless that query
// has ended (its descriptor number unused, or reused by a newer query).
func (p *upstreamPoller) wake(events []unix.EpollEvent) {
	p.mu.Lock()
	for _, ev := range events {
		fd := int(ev.Fd)
		if fd < 0 || fd >= len(p.waiting) {
			continue
		}
		if w := p.waiting[fd]; w != nil && w.gen == uint32(ev.Pad) {
			select {
			case w.ready <- struct{}{}:
			default: // a token is already waiting
			}
		}
	}
	p.mu.Unlock()
}

// add watches fd (a socket of this query alone) for w. The socket's state
// at the time of the call counts: a datagram already there queues an event.
func (p *upstreamPoller) add(fd int, w *fdWaiter) error {
	p.mu.Lock()
	for fd >= len(p.waiting) {
		p.waiting = append(p.waiting, nil)
	}
	p.waiting = p.waiting[:cap(p.waiting)]
	p.gen++
	w.gen = p.gen
	p.waiting[fd] = w
	p.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(fd), Pad: int32(w.gen)}
	if err := rawsys.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		p.remove(fd)
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// remove stops waking w for fd; call it before fd is closed. Closing the
// socket then takes it out of the epoll set.
func (p *upstreamPoller) remove(fd int) {
	p.mu.Lock()
	p.waiting[fd] = nil
	p.mu.Unlock()
}
