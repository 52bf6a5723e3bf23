package udpio

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testDeadline bounds every wait in these tests; nothing here should come
// near it on a working machine.
const testDeadline = 10 * time.Second

// freePort returns a UDP port that was free on network/host a moment ago.
func freePort(t testing.TB, network, host string) int {
	t.Helper()
	pc, err := net.ListenPacket(network, net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatalf("pick a free port: %v", err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// listenLikeCoreDNS binds a socket the way CoreDNS's plugin/pkg/reuseport does.
func listenLikeCoreDNS(t testing.TB, addr string) net.PacketConn {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
				serr = err
				return
			}
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		t.Fatalf("listen like CoreDNS on %s: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

func newMessages(n, size int) []Message {
	ms := make([]Message, n)
	for i := range ms {
		ms[i].Buf = make([]byte, size)
	}
	return ms
}

// payload is a datagram naming its client and sequence number.
func payload(client, seq int) []byte {
	b := make([]byte, 12)
	copy(b, "q")
	binary.BigEndian.PutUint32(b[4:], uint32(client))
	binary.BigEndian.PutUint32(b[8:], uint32(seq))
	return b
}

// collector reads every socket of a group and counts datagrams per socket and
// per payload.
type collector struct {
	mu      sync.Mutex
	perConn []int
	seen    map[string]int
	total   atomic.Int64
	wg      sync.WaitGroup
}

func collect(t *testing.T, g *Group) *collector {
	col := &collector{perConn: make([]int, len(g.Conns())), seen: map[string]int{}}
	for i, c := range g.Conns() {
		col.wg.Add(1)
		go func() {
			defer col.wg.Done()
			ms := newMessages(32, 512)
			for {
				n, err := c.ReadBatch(ms)
				col.mu.Lock()
				for _, m := range ms[:n] {
					col.perConn[i]++
					col.seen[string(m.Buf[:m.N])]++
				}
				col.mu.Unlock()
				col.total.Add(int64(n))
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("conn %d: ReadBatch: %v", i, err)
					}
					return
				}
			}
		}()
	}
	return col
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSteeringTakesAllTraffic(t *testing.T) {
	const (
		clients   = 64
		perClient = 32 // 2048 datagrams
	)
	tests := []struct {
		name    string
		sockets int
	}{
		{"two sockets", 2},
		{"one socket", 1},
		{"four sockets", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
			g, err := Listen(addr, Options{Sockets: tt.sockets})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			if got := len(g.Conns()); got != tt.sockets {
				t.Fatalf("Conns() = %d sockets, want %d", got, tt.sockets)
			}
			col := collect(t, g)

			// CoreDNS's socket joins the group after ours.
			coredns := listenLikeCoreDNS(t, addr)
			var foreign atomic.Int64
			foreignDone := make(chan struct{})
			go func() {
				defer close(foreignDone)
				buf := make([]byte, 512)
				for {
					_, _, err := coredns.ReadFrom(buf)
					if err != nil {
						return
					}
					foreign.Add(1)
				}
			}()

			send(t, addr, clients, perClient)
			want := clients * perClient
			waitFor(t, fmt.Sprintf("%d datagrams (group has %d, CoreDNS's socket %d)", want, col.total.Load(), foreign.Load()),
				func() bool { return col.total.Load()+foreign.Load() >= int64(want) })

			// Anything still on its way to CoreDNS's socket shows up here.
			coredns.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			<-foreignDone
			if n := foreign.Load(); n != 0 {
				t.Errorf("CoreDNS's socket received %d datagrams, want 0", n)
			}
			g.Close()
			col.wg.Wait()
			if got := col.total.Load(); got != int64(want) {
				t.Errorf("group received %d datagrams, want %d", got, want)
			}
			for i := 0; i < clients; i++ {
				for s := 0; s < perClient; s++ {
					if n := col.seen[string(payload(i, s))]; n != 1 {
						t.Fatalf("datagram client %d seq %d received %d times, want 1", i, s, n)
					}
				}
			}
			t.Logf("per socket: %v", col.perConn)
		})
	}
}

// TestMisorderedStillDelivers is the safety argument: when CoreDNS's socket
// is bound before the group, it holds an index the program picks, and the
// datagrams steered to it are delivered there (and answered by the standard
// path) rather than lost.
func TestMisorderedStillDelivers(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
	coredns := listenLikeCoreDNS(t, addr)
	g, err := Listen(addr, Options{Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	col := collect(t, g)
	var foreign atomic.Int64
	go func() {
		buf := make([]byte, 512)
		for {
			if _, _, err := coredns.ReadFrom(buf); err != nil {
				return
			}
			foreign.Add(1)
		}
	}()
	const clients, perClient = 16, 16
	send(t, addr, clients, perClient)
	want := int64(clients * perClient)
	waitFor(t, "every datagram at some socket of the group", func() bool {
		return col.total.Load()+foreign.Load() == want
	})
	t.Logf("group %d, CoreDNS's socket %d", col.total.Load(), foreign.Load())
}

// send fires perClient datagrams from each of clients sockets to addr.
func send(t *testing.T, addr string, clients, perClient int) {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < clients; i++ {
		c, err := net.DialUDP("udp", nil, raddr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetWriteDeadline(time.Now().Add(testDeadline))
		for s := 0; s < perClient; s++ {
			if _, err := c.Write(payload(i, s)); err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
		}
		c.Close()
	}
}

// echo answers every datagram on every socket of g with the same bytes, through
// WriteBatch or, with single, through WriteTo.
func echo(t *testing.T, g *Group, single bool) *sync.WaitGroup {
	var wg sync.WaitGroup
	for i, c := range g.Conns() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms := newMessages(16, 2048)
			for {
				n, err := c.ReadBatch(ms)
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Errorf("conn %d: ReadBatch: %v", i, err)
					}
					return
				}
				if single {
					for _, m := range ms[:n] {
						if err := c.WriteTo(m.Buf[:m.N], m.Addr); err != nil {
							t.Errorf("conn %d: WriteTo: %v", i, err)
						}
					}
					continue
				}
				sent, err := c.WriteBatch(ms[:n])
				if err != nil || sent != n {
					t.Errorf("conn %d: WriteBatch sent %d of %d: %v", i, sent, n, err)
				}
			}
		}()
	}
	return &wg
}

// roundTrip sends k queries from each of clients sockets to addr and checks
// every reply comes back to the socket that sent it.
func roundTrip(t *testing.T, network, addr string, clients, k int) {
	t.Helper()
	raddr, err := net.ResolveUDPAddr(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.ListenUDP(network, &net.UDPAddr{IP: raddr.IP})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(testDeadline))
			for s := 0; s < k; s++ {
				if _, err := c.WriteToUDP(payload(i, s), raddr); err != nil {
					t.Errorf("client %d: write: %v", i, err)
					return
				}
			}
			got := map[string]bool{}
			buf := make([]byte, 2048)
			for len(got) < k {
				n, from, err := c.ReadFromUDP(buf)
				if err != nil {
					t.Errorf("client %d: %d of %d replies, then: %v", i, len(got), k, err)
					return
				}
				if from.Port != raddr.Port {
					t.Errorf("client %d: reply from %v, want port %d", i, from, raddr.Port)
				}
				if n != 12 || binary.BigEndian.Uint32(buf[4:]) != uint32(i) {
					t.Errorf("client %d: got a reply meant for another client: %x", i, buf[:n])
					continue
				}
				got[string(buf[:n])] = true
			}
		}()
	}
	wg.Wait()
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		sockets int
		single  bool
	}{
		{"WriteBatch one socket", 1, false},
		{"WriteBatch two sockets", 2, false},
		{"WriteTo two sockets", 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
			g, err := Listen(addr, Options{Sockets: tt.sockets})
			if err != nil {
				t.Fatal(err)
			}
			wg := echo(t, g, tt.single)
			roundTrip(t, "udp4", addr, 8, 100)
			g.Close()
			wg.Wait()
		})
	}
}

// TestWriteBatchSkipsRefused checks that one datagram the kernel refuses does
// not keep the others of the batch from being sent.
func TestWriteBatchSkipsRefused(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
	g, err := Listen(addr, Options{Sockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	good := dst.LocalAddr().(*net.UDPAddr)
	bad := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 0} // EINVAL from the kernel

	tests := []struct {
		name     string
		addrs    []*net.UDPAddr
		wantSent int
	}{
		{"all good", []*net.UDPAddr{good, good, good}, 3},
		{"bad in the middle", []*net.UDPAddr{good, bad, good}, 2},
		{"bad first", []*net.UDPAddr{bad, good, good}, 2},
		{"bad last", []*net.UDPAddr{good, good, bad}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := make([]Message, len(tt.addrs))
			for i, a := range tt.addrs {
				ms[i] = Message{Buf: []byte(fmt.Sprintf("m%d", i)), N: 2, Addr: a}
			}
			sent, err := g.Conns()[0].WriteBatch(ms)
			if sent != tt.wantSent {
				t.Errorf("sent %d, want %d (err %v)", sent, tt.wantSent, err)
			}
			if (err != nil) != (tt.wantSent != len(tt.addrs)) {
				t.Errorf("err = %v, want an error only if something was refused", err)
			}
			dst.SetReadDeadline(time.Now().Add(testDeadline))
			buf := make([]byte, 16)
			var got []string
			for len(got) < tt.wantSent {
				n, err := dst.Read(buf)
				if err != nil {
					t.Fatalf("after %v: %v", got, err)
				}
				got = append(got, string(buf[:n]))
			}
			for _, s := range got {
				i := int(s[1] - '0')
				if tt.addrs[i] != good {
					t.Errorf("received %q, which was addressed to %v", s, tt.addrs[i])
				}
			}
		})
	}
}

func TestRecvBuffer(t *testing.T) {
	tests := []struct {
		name string
		want int // asked; 0 = default
	}{
		{"default", 0},
		{"1 MiB", 1 << 20},
		{"8 MiB", 8 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
			g, err := Listen(addr, Options{Sockets: 2, RecvBuffer: tt.want})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			want := tt.want
			if want == 0 {
				want = DefaultRecvBuffer
			}
			got := g.RecvBuffer()
			t.Logf("asked %d, kernel reports %d", want, got)
			if got <= 0 {
				t.Fatalf("RecvBuffer() = %d", got)
			}
			if os.Geteuid() != 0 {
				t.Skip("not root: SO_RCVBUFFORCE is refused and SO_RCVBUF is capped by net.core.rmem_max")
			}
			if got < want {
				t.Errorf("RecvBuffer() = %d, want at least %d", got, want)
			}
		})
	}
}

func TestListenErrors(t *testing.T) {
	tests := []struct {
		addr string
		want string
	}{
		{"127.0.0.1:0", "port 0"},
		{":0", "port 0"},
		{"127.0.0.1", "missing port"},
		{"127.0.0.1:notaport", "notaport"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			g, err := Listen(tt.addr, Options{Sockets: 1})
			if err == nil {
				g.Close()
				t.Fatalf("Listen(%q) succeeded", tt.addr)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.addr) {
				t.Errorf("Listen(%q) = %v, want an error naming the address and %q", tt.addr, err, tt.want)
			}
		})
	}
}

func TestCloseUnblocksReadBatch(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
	g, err := Listen(addr, Options{Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, len(g.Conns()))
	for _, c := range g.Conns() {
		go func() {
			_, err := c.ReadBatch(newMessages(4, 512))
			errs <- err
		}()
	}
	time.Sleep(20 * time.Millisecond) // let the readers block; the result is the same if they have not yet
	if err := g.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for range g.Conns() {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("ReadBatch after Close = %v, want net.ErrClosed", err)
			}
		case <-time.After(testDeadline):
			t.Fatal("ReadBatch still blocked after Close")
		}
	}
	if _, err := g.Conns()[0].ReadBatch(newMessages(1, 512)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadBatch on a closed group = %v, want net.ErrClosed", err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestDualStack(t *testing.T) {
	if pc, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		pc.Close()
	}
	port := freePort(t, "udp", "")
	addr := fmt.Sprintf(":%d", port)
	g, err := Listen(addr, Options{Sockets: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range g.Conns() {
		if ip := c.LocalAddr().(*net.UDPAddr).IP; ip.To4() != nil {
			t.Fatalf("LocalAddr %v: want an IPv6 (dual-stack) socket", c.LocalAddr())
		}
	}
	tests := []struct {
		name, network, addr string
	}{
		{"IPv4 client, WriteBatch", "udp4", fmt.Sprintf("127.0.0.1:%d", port)},
		{"IPv6 client, WriteBatch", "udp6", fmt.Sprintf("[::1]:%d", port)},
	}
	wg := echo(t, g, false)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			roundTrip(t, tt.network, tt.addr, 4, 20)
		})
	}
	g.Close()
	wg.Wait()

	// WriteTo to a v4-mapped sender.
	g, err = Listen(addr, Options{Sockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	wg = echo(t, g, true)
	t.Run("IPv4 client, WriteTo", func(t *testing.T) {
		roundTrip(t, "udp4", fmt.Sprintf("127.0.0.1:%d", port), 4, 20)
	})
	g.Close()
	wg.Wait()
}

func TestSteeringProgram(t *testing.T) {
	for _, n := range []int{1, 2, 3, 64} {
		raw, err := steeringProgram(n)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(raw) == 0 {
			t.Fatalf("n=%d: empty program", n)
		}
	}
}

// BenchmarkEcho measures one datagram's round trip through a group of one
// socket: the server goroutine reads a batch and echoes it with WriteBatch;
// the client fires batches of 32 from its own connected socket and reads the
// replies. ns/op and allocs/op are per datagram (client and server together);
// server-cpu-ns/op is the CPU (user+system) of the server goroutine's thread
// alone, which includes the kernel's share of recvmmsg and sendmmsg.
func BenchmarkEcho(b *testing.B) {
	const batch = 32
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b, "udp4", "127.0.0.1"))
	g, err := Listen(addr, Options{Sockets: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	c := g.Conns()[0]

	var serverCPU atomic.Int64
	serverDone := make(chan struct{})
	start := make(chan struct{})
	go func() {
		defer close(serverDone)
		runtime.LockOSThread()
		ms := newMessages(batch, 2048)
		<-start
		var begin unix.Rusage
		unix.Getrusage(unix.RUSAGE_THREAD, &begin)
		for {
			n, err := c.ReadBatch(ms)
			if err != nil {
				break
			}
			if _, err := c.WriteBatch(ms[:n]); err != nil {
				break
			}
		}
		var end unix.Rusage
		unix.Getrusage(unix.RUSAGE_THREAD, &end)
		serverCPU.Store(cpuNanos(end) - cpuNanos(begin))
	}()

	raddr := c.LocalAddr().(*net.UDPAddr)
	client, err := net.DialUDP("udp4", nil, raddr)
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	query := bytes.Repeat([]byte{0xab}, 40) // about a DNS query's size
	reply := make([]byte, 2048)
	lost := 0
	close(start)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		k := min(batch, b.N-done)
		for i := 0; i < k; i++ {
			if _, err := client.Write(query); err != nil {
				b.Fatal(err)
			}
		}
		client.SetReadDeadline(time.Now().Add(time.Second))
		for i := 0; i < k; i++ {
			if _, err := client.Read(reply); err != nil {
				lost += k - i
				break
			}
		}
		done += k
	}
	b.StopTimer()
	g.Close()
	<-serverDone
	b.ReportMetric(float64(serverCPU.Load())/float64(b.N), "server-cpu-ns/op")
	if lost > 0 {
		b.Logf("lost %d of %d datagrams", lost, b.N)
	}
}

func cpuNanos(r unix.Rusage) int64 {
	return r.Utime.Nano() + r.Stime.Nano()
}

// TestSteadyStateAllocs checks that the scratch state is reused: a read and
// echo of a batch allocates nothing per datagram (sender addresses are
// decoded into the Conn's storage).
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop objects, so allocations are not steady")
	}
	const batch = 8
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
	g, err := Listen(addr, Options{Sockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	c := g.Conns()[0]
	client, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	client.SetDeadline(time.Now().Add(testDeadline))
	ms := newMessages(batch, 512)
	query := []byte("0123456789abcdef0123456789abcdef")
	reply := make([]byte, 512)
	var failed error
	allocs := testing.AllocsPerRun(200, func() {
		if failed != nil {
			return
		}
		for i := 0; i < batch; i++ {
			if _, err := client.Write(query); err != nil {
				failed = err
				return
			}
		}
		for got := 0; got < batch; {
			n, err := c.ReadBatch(ms[got:])
			if err != nil {
				failed = err
				return
			}
			got += n
		}
		if _, err := c.WriteBatch(ms); err != nil {
			failed = err
			return
		}
		for i := 0; i < batch; i++ {
			if _, err := client.Read(reply); err != nil {
				failed = err
				return
			}
		}
	})
	if failed != nil {
		t.Fatal(failed)
	}
	perDatagram := allocs / batch
	t.Logf("%.2f allocations per datagram", perDatagram)
	if perDatagram > 0.2 {
		t.Errorf("%.2f allocations per datagram read and echoed, want none", perDatagram)
	}
}

// TestCloseHandsTrafficBack checks the other half of the safety argument: once
// the group is closed, CoreDNS's socket (joined after it) receives every
// datagram, so stopping the fast path never blackholes queries.
func TestCloseHandsTrafficBack(t *testing.T) {
	tests := []struct {
		name    string
		sockets int
	}{
		{"one socket", 1},
		{"three sockets", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
			g, err := Listen(addr, Options{Sockets: tt.sockets})
			if err != nil {
				t.Fatal(err)
			}
			coredns := listenLikeCoreDNS(t, addr)
			if err := g.Close(); err != nil {
				t.Fatal(err)
			}
			const clients, perClient = 32, 8
			send(t, addr, clients, perClient)
			coredns.SetReadDeadline(time.Now().Add(testDeadline))
			buf := make([]byte, 512)
			for got := 0; got < clients*perClient; got++ {
				if _, _, err := coredns.ReadFrom(buf); err != nil {
					t.Fatalf("CoreDNS's socket got %d of %d datagrams, then: %v", got, clients*perClient, err)
				}
			}
		})
	}
}

// TestReload follows a CoreDNS reload: the new instance's group is opened
// while the old group and CoreDNS's socket (kept across the reload) are still
// bound, then the old group is closed. Afterwards the new group must receive
// everything and CoreDNS's socket nothing.
func TestReload(t *testing.T) {
	tests := []struct {
		name    string
		sockets int
	}{
		{"one socket", 1},
		{"two sockets", 2},
		{"three sockets", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
			old, err := Listen(addr, Options{Sockets: tt.sockets})
			if err != nil {
				t.Fatal(err)
			}
			coredns := listenLikeCoreDNS(t, addr)
			g, err := Listen(addr, Options{Sockets: tt.sockets})
			if err != nil {
				old.Close()
				t.Fatal(err)
			}
			defer g.Close()
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			col := collect(t, g)
			var foreign atomic.Int64
			foreignDone := make(chan struct{})
			go func() {
				defer close(foreignDone)
				buf := make([]byte, 512)
				for {
					if _, _, err := coredns.ReadFrom(buf); err != nil {
						return
					}
					foreign.Add(1)
				}
			}()
			const clients, perClient = 64, 8
			send(t, addr, clients, perClient)
			want := int64(clients * perClient)
			waitFor(t, "every datagram", func() bool { return col.total.Load()+foreign.Load() >= want })
			coredns.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			<-foreignDone
			if n := foreign.Load(); n != 0 {
				t.Errorf("CoreDNS's socket received %d of %d datagrams after the reload, want 0", n, want)
			}
			g.Close()
			col.wg.Wait()
			t.Logf("per socket: %v", col.perConn)
		})
	}
}

// TestSenderAddress: ReadBatch reports each datagram's sender as x/net
// did: a 4-byte IP on an IPv4 socket, 16 bytes (v4-mapped for an IPv4
// client) on a dual-stack one, and the port; each message of a batch its
// own sender.
func TestSenderAddress(t *testing.T) {
	v6 := true
	if pc, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
		v6 = false
	} else {
		pc.Close()
	}
	tests := []struct {
		name, listen, client string
		want                 net.IP
		wantLen              int
		needV6               bool
	}{
		{"IPv4 socket", "127.0.0.1", "udp4", net.IPv4(127, 0, 0, 1).To4(), 4, false},
		{"dual-stack socket, IPv4 client", "", "udp4", net.IPv4(127, 0, 0, 1), 16, true},
		{"dual-stack socket, IPv6 client", "", "udp6", net.IPv6loopback, 16, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.needV6 && !v6 {
				t.Skip("no IPv6 loopback")
			}
			port := freePort(t, "udp", tt.listen)
			g, err := Listen(net.JoinHostPort(tt.listen, fmt.Sprint(port)), Options{Sockets: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			dst := net.JoinHostPort("127.0.0.1", fmt.Sprint(port))
			if tt.client == "udp6" {
				dst = net.JoinHostPort("::1", fmt.Sprint(port))
			}
			var clients []*net.UDPConn
			for i := 0; i < 3; i++ {
				raddr, _ := net.ResolveUDPAddr(tt.client, dst)
				c, err := net.DialUDP(tt.client, nil, raddr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := c.Write([]byte{byte(i)}); err != nil {
					t.Fatal(err)
				}
				clients = append(clients, c)
			}
			ms := newMessages(8, 64)
			c := g.Conns()[0]
			for got := 0; got < len(clients); {
				n, err := c.ReadBatch(ms[got:])
				if err != nil {
					t.Fatal(err)
				}
				got += n
			}
			for i, m := range ms[:len(clients)] {
				from := clients[m.Buf[0]].LocalAddr().(*net.UDPAddr)
				if m.N != 1 || m.Addr == nil || !m.Addr.IP.Equal(tt.want) || len(m.Addr.IP) != tt.wantLen || m.Addr.Port != from.Port {
					t.Errorf("message %d: %d bytes from %+v (IP %d bytes), want 1 from %v port %d (IP %d bytes)", i, m.N, m.Addr, len(m.Addr.IP), tt.want, from.Port, tt.wantLen)
				}
			}
		})
	}
}

// TestReadEach: batches reach the handler in order; after a batch that
// emptied the queue the next read waits for the poller instead of asking
// the kernel first, yet a datagram sent while the handler runs (between two
// reads) and one sent while the reader waits are each handled at once;
// StopReading ends the loop with a deadline error, Close with ErrClosed.
func TestReadEach(t *testing.T) {
	for _, stop := range []string{"StopReading", "Close"} {
		t.Run(stop, func(t *testing.T) {
			g, cl := oneSocket(t)
			send := func(s string) {
				if _, err := cl.Write([]byte(s)); err != nil {
					t.Error(err)
				}
			}
			got := make(chan string, 16)
			ended := make(chan error, 1)
			send("one")
			time.Sleep(20 * time.Millisecond) // queued before the loop starts
			go func() {
				ended <- g.Conns()[0].ReadEach(newMessages(4, 512), func(batch []Message) bool {
					for _, m := range batch {
						s := string(m.Buf[:m.N])
						got <- s
						if s == "one" {
							send("two") // arrives while the handler runs
							time.Sleep(20 * time.Millisecond)
						}
					}
					return true
				})
			}()
			for _, want := range []string{"one", "two", "three"} {
				if want == "three" {
					go func() {
						time.Sleep(50 * time.Millisecond) // arrives while the reader waits
						send("three")
					}()
				}
				select {
				case s := <-got:
					if s != want {
						t.Fatalf("handled %q, want %q", s, want)
					}
				case <-time.After(testDeadline):
					t.Fatalf("%q never handled", want)
				}
			}
			want := os.ErrDeadlineExceeded
			if stop == "Close" {
				g.Close()
				want = net.ErrClosed
			} else {
				g.StopReading()
			}
			select {
			case err := <-ended:
				if !errors.Is(err, want) {
					t.Fatalf("ReadEach ended with %v, want %v", err, want)
				}
			case <-time.After(testDeadline):
				t.Fatalf("ReadEach still reading after %s", stop)
			}
		})
	}
}

// oneSocket is a group of one socket on a free port and a client connected
// to it, both closed at the end of the test.
func oneSocket(t testing.TB) (*Group, net.Conn) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "udp4", "127.0.0.1"))
	g, err := Listen(addr, Options{Sockets: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	cl, err := net.Dial("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return g, cl
}
