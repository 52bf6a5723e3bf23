package udpio

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gitops-dns/resolverd/internal/rawsys"
)

// BenchmarkEchoOneInFlight is one datagram echoed at a time, the server's
// read loop idle between them: the pattern of a server at ordinary load,
// where every query is a wake-up of its own. The client is a Conn too (no
// system call of the process goes through the runtime unless the variant
// says so). Variants, in the order the fast path went through them in
// issue 21: ReadBatch called again for each batch with the runtime told of
// every system call; ReadEach (one poller wait across batches); ReadEach
// with raw system calls (the runtime's sysmon thread left asleep).
// cpu-ns/op is the whole process's CPU (client included) per round trip.
func BenchmarkEchoOneInFlight(b *testing.B) {
	for _, v := range []struct {
		name      string
		each, raw bool
	}{{"ReadBatch", false, false}, {"ReadEach", true, false}, {"ReadEach-raw", true, true}} {
		b.Run(v.name, func(b *testing.B) {
			if !v.raw {
				rawsys.Syscall6 = unix.Syscall6
				defer func() { rawsys.Syscall6 = unix.RawSyscall6 }()
			}
			g, _ := oneSocket(b)
			srv := g.Conns()[0]
			ms := newMessages(64, 2048)
			echoBatch := func(batch []Message) bool {
				srv.WriteBatch(batch)
				return true
			}
			go func() {
				if v.each {
					srv.ReadEach(ms, echoBatch)
					return
				}
				for {
					n, err := srv.ReadBatch(ms)
					if err != nil {
						return
					}
					echoBatch(ms[:n])
				}
			}()
			cg, err := Listen(fmt.Sprintf("127.0.0.1:%d", freePort(b, "udp4", "127.0.0.1")), Options{Sockets: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer cg.Close()
			cl := cg.Conns()[0]
			to := srv.LocalAddr().(*net.UDPAddr)
			q := make([]byte, 40)
			in := newMessages(1, 512)
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := cl.WriteTo(q, to); err != nil {
					b.Fatal(err)
				}
				cl.uc.SetReadDeadline(time.Now().Add(testDeadline))
				if _, err := cl.ReadBatch(in); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			b.ReportMetric(float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano())/float64(b.N), "cpu-ns/op")
		})
	}
}
