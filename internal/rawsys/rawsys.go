// Package rawsys owns the system calls of the query path that are made
// without telling the Go runtime (no entersyscall/exitsyscall), and why.
//
// Telling the runtime is what a syscall.Syscall costs beyond the call
// itself: the first system call entered after the process was idle wakes
// the runtime's sysmon thread from its deep sleep, and sysmon then polls
// every 20 µs (resetting its back-off) until the process is idle again. At
// ordinary load every query is a wake-up of its own, so that happened per
// query: sysmon was 16-20% of the node's CPU at 10k queries a second and
// 10-12% at 2k cold recursions a second (perf, issue 21). C servers have no
// such thread.
//
// Only calls that return at once may go here: operations on non-blocking
// sockets (a full buffer is EAGAIN, not a wait), socket, connect of a UDP
// socket, close of a UDP socket, epoll_ctl and epoll_wait with a zero
// timeout. A call that blocked here would hold its P: the runtime could not
// hand it to another goroutine meanwhile.
package rawsys

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Syscall6 is unix.RawSyscall6. Tests may swap it for unix.Syscall6 to
// measure the difference.
var Syscall6 = unix.RawSyscall6

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// Read is read(2).
func Read(fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	r, _, e := Syscall6(unix.SYS_READ, uintptr(fd), uintptr(p), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Write is write(2).
func Write(fd int, b []byte) (int, error) {
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	r, _, e := Syscall6(unix.SYS_WRITE, uintptr(fd), uintptr(p), uintptr(len(b)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// Close is close(2).
func Close(fd int) error {
	_, _, e := Syscall6(unix.SYS_CLOSE, uintptr(fd), 0, 0, 0, 0, 0)
	return errnoErr(e)
}

// Socket is socket(2).
func Socket(domain, typ, proto int) (int, error) {
	r, _, e := Syscall6(unix.SYS_SOCKET, uintptr(domain), uintptr(typ), uintptr(proto), 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// Connect is connect(2) to an IPv4 or IPv6 address (a v4-mapped address
// is connected as IPv6).
func Connect(fd int, to netip.AddrPort) error {
	var sa unix.RawSockaddrInet6
	size := uintptr(unix.SizeofSockaddrInet6)
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	port[0], port[1] = byte(to.Port()>>8), byte(to.Port())
	if a := to.Addr(); a.Is4() {
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&sa))
		sa4.Family = unix.AF_INET
		sa4.Addr = a.As4()
		size = unix.SizeofSockaddrInet4
	} else {
		sa.Family = unix.AF_INET6
		sa.Addr = a.As16()
	}
	_, _, e := Syscall6(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&sa)), size, 0, 0, 0)
	return errnoErr(e)
}

// EpollCtl is epoll_ctl(2).
func EpollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := Syscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return errnoErr(e)
}

// EpollPoll is epoll_wait(2) with a zero timeout: it never waits.
func EpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	r, _, e := Syscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
