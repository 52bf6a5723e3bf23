package fastpath

import (
	"encoding/binary"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkSlowPath is one query through the whole slow path of a real
// node, as a cold-recursion query takes it minus the upstream exchange: a
// client datagram read by the fast path's loop, a packet-cache miss (the
// packet cache is off), handed to a worker, unpacked, the chain (gitops,
// fallback, authority, recursor) with the resolver answering from its
// cache, the reply packed and sent. One client, one query in flight:
// allocs/op is the figure to watch (it counts every goroutine).
func BenchmarkSlowPath(b *testing.B) {
	up := startUpstream(b, "", 300, upstreamNames)
	vars := defaultVars(freePort(b), up.port(), blackhole(b).LocalAddr().(*net.UDPAddr).Port, up.port())
	n := startNode(b, vars, "fastpath {\n        sockets 1\n        cache 0\n    }")

	q := new(dns.Msg)
	q.SetQuestion("cached.example.", dns.TypeA)
	q.SetEdns0(1232, false)
	pkt, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.Dial("udp", n.addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1500)
	exchange := func(id uint16) {
		binary.BigEndian.PutUint16(pkt, id)
		if _, err := c.Write(pkt); err != nil {
			b.Fatal(err)
		}
		for {
			if err := c.SetReadDeadline(time.Now().Add(3 * time.Second)); err != nil {
				b.Fatal(err)
			}
			m, err := c.Read(buf)
			if err != nil {
				b.Fatalf("query %d: %v", id, err)
			}
			if m >= 12 && binary.BigEndian.Uint16(buf) == id {
				if rcode := buf[3] & 0xf; rcode != dns.RcodeSuccess {
					b.Fatalf("rcode %d", rcode)
				}
				return
			}
		}
	}
	exchange(0) // the resolver learns the answer
	b.ReportAllocs()
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		exchange(uint16(i + 1))
	}
	b.StopTimer()
	// The process's CPU per query (node and client; the wall time counts
	// the machine's other work too).
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	b.ReportMetric(float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano())/float64(b.N), "cpu-ns/op")
}
