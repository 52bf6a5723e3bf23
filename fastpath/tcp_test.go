package fastpath

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpTestServer serves a TCPServer on 127.0.0.1 whose handler echoes each
// message after the delay its first byte names (in 10 ms steps).
func tcpTestServer(t *testing.T, o TCPOptions) (*TCPServer, string) {
	t.Helper()
	s := &TCPServer{Options: o, Handler: func(c *TCPConn, msg []byte) {
		time.Sleep(time.Duration(msg[0]) * 10 * time.Millisecond)
		c.Write(msg)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(s.Close)
	return s, ln.Addr().String()
}

func frame(delay byte, id byte) []byte {
	msg := make([]byte, 12)
	msg[0], msg[1] = delay, id
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...)
}

func readFrame(c net.Conn) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

// TestTCPOutOfOrder: pipelined messages are handled concurrently and each
// answer goes out when ready, whole (never interleaved with another).
func TestTCPOutOfOrder(t *testing.T) {
	_, addr := tcpTestServer(t, TCPOptions{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	var out []byte
	out = append(out, frame(30, 1)...)
	for id := byte(2); id <= 5; id++ {
		out = append(out, frame(0, id)...)
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	var order []byte
	for range 5 {
		b, err := readFrame(c)
		if err != nil || len(b) != 12 {
			t.Fatalf("after %v: %x %v", order, b, err)
		}
		order = append(order, b[1])
	}
	if order[4] != 1 {
		t.Fatalf("order %v: the slow first message held up the rest", order)
	}
}

// TestTCPInFlightBound: a connection runs at most MaxInFlight messages at
// once; the rest wait to be read.
func TestTCPInFlightBound(t *testing.T) {
	var mu sync.Mutex
	running, most := 0, 0
	s := &TCPServer{Options: TCPOptions{MaxInFlight: 2}, Handler: func(c *TCPConn, msg []byte) {
		mu.Lock()
		running++
		most = max(most, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		mu.Unlock()
		c.Write(msg)
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	defer s.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	for id := byte(0); id < 6; id++ {
		c.Write(frame(0, id))
	}
	for range 6 {
		if _, err := readFrame(c); err != nil {
			t.Fatal(err)
		}
	}
	if most != 2 {
		t.Fatalf("%d messages of one connection ran at once, want the bound 2", most)
	}
}

// TestTCPBounds: per client and in total, the longest-idle connection makes
// room; when every competitor is busy the new connection is refused.
func TestTCPBounds(t *testing.T) {
	s, addr := tcpTestServer(t, TCPOptions{MaxConns: 3, MaxPerClient: 2})
	var refused, evicted int
	var mu sync.Mutex
	s.Refused = func() { mu.Lock(); refused++; mu.Unlock() }
	s.Evicted = func() { mu.Lock(); evicted++; mu.Unlock() }
	dial := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ping := func(c net.Conn, delay byte) error {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write(frame(delay, 9)); err != nil {
			return err
		}
		_, err := readFrame(c)
		return err
	}
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	a := dial("127.0.0.1")
	if err := ping(a, 0); err != nil {
		t.Fatal(err)
	}
	b := dial("127.0.0.1")
	if err := ping(b, 0); err != nil {
		t.Fatal(err)
	}
	// b busy for a while; a idle: a third from 127.0.0.1 evicts a.
	b.Write(frame(50, 1))
	time.Sleep(100 * time.Millisecond)
	c := dial("127.0.0.1")
	if err := ping(c, 0); err != nil {
		t.Fatal(err)
	}
	if !closed(a) {
		t.Fatal("the idle connection of the client was not closed")
	}
	if _, err := readFrame(b); err != nil {
		t.Fatalf("the busy connection was closed: %v", err)
	}
	// Both of 127.0.0.1's busy: a third is refused, nothing else closed.
	b.Write(frame(50, 1))
	c.Write(frame(50, 1))
	time.Sleep(100 * time.Millisecond)
	d := dial("127.0.0.1")
	if !closed(d) {
		t.Fatal("a connection beyond the client's bound was served while the others were busy")
	}
	for _, conn := range []net.Conn{b, c} {
		if _, err := readFrame(conn); err != nil {
			t.Fatalf("a busy connection was closed: %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if refused != 1 || evicted != 1 {
		t.Fatalf("refused %d, evicted %d; want 1 and 1", refused, evicted)
	}
	if n := s.Conns(); n != 2 {
		t.Fatalf("%d connections registered, want 2", n)
	}
}

// TestTCPIdleClose: a connection that sends nothing is closed after the
// idle timeout, but not while an answer is being worked on.
func TestTCPIdleClose(t *testing.T) {
	_, addr := tcpTestServer(t, TCPOptions{IdleTimeout: 100 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write(frame(30, 1)) // 300 ms of work, three idle periods
	if _, err := readFrame(c); err != nil {
		t.Fatalf("closed while an answer was in the works: %v", err)
	}
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("an idle connection was not closed: %v", err)
	}
}
