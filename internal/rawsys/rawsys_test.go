package rawsys

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestExchange: a non-blocking socket made and connected with the raw
// calls exchanges a datagram with a server on loopback (IPv4 and IPv6), is
// reported readable by epoll, says EAGAIN when empty, and closes; a closed
// descriptor says EBADF.
func TestExchange(t *testing.T) {
	for _, tc := range []struct {
		network, host string
		family        int
	}{{"udp4", "127.0.0.1", unix.AF_INET}, {"udp6", "::1", unix.AF_INET6}} {
		t.Run(tc.network, func(t *testing.T) {
			srv, err := net.ListenPacket(tc.network, net.JoinHostPort(tc.host, "0"))
			if err != nil {
				t.Skipf("no %s loopback: %v", tc.network, err)
			}
			defer srv.Close()
			to := srv.LocalAddr().(*net.UDPAddr).AddrPort()
			to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())

			fd, err := Socket(tc.family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := Connect(fd, to); err != nil {
				t.Fatal(err)
			}
			epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(epfd)
			if err := EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			if _, err := Read(fd, buf); !errors.Is(err, unix.EAGAIN) {
				t.Fatalf("read with nothing queued: %v, want EAGAIN", err)
			}
			events := make([]unix.EpollEvent, 4)
			if n, err := EpollPoll(epfd, events); n != 0 || err != nil {
				t.Fatalf("epoll with nothing queued: %d, %v", n, err)
			}
			if n, err := Write(fd, []byte("ping")); n != 4 || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
			srv.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := srv.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "ping" {
				t.Fatalf("server read %q, %v", buf[:n], err)
			}
			if _, err := srv.WriteTo([]byte("pong"), from); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for {
				n, err := EpollPoll(epfd, events)
				if err != nil {
					t.Fatal(err)
				}
				if n == 1 && int(events[0].Fd) == fd {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("epoll never reported the reply")
				}
				time.Sleep(time.Millisecond)
			}
			if n, err := Read(fd, buf); err != nil || string(buf[:n]) != "pong" {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
			if err := Close(fd); err != nil {
				t.Fatal(err)
			}
			if err := Close(fd); !errors.Is(err, unix.EBADF) {
				t.Fatalf("second close: %v, want EBADF", err)
			}
		})
	}
}
