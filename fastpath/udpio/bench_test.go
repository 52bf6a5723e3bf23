package udpio

import (
	"syscall"
	"testing"
	"time"
)

// BenchmarkEchoOneInFlight is one datagram echoed at a time, the server's
// read loop idle between them: the pattern of a server at ordinary load,
// where every query is a wake-up of its own. The loop reads with ReadBatch
// called again for each batch (what the fast path did before issue 21) or
// with ReadEach (what it does now). cpu-ns/op is the whole process's CPU
// (client included, the same in both) per round trip; the difference is
// the read loop's cost per wake-up.
func BenchmarkEchoOneInFlight(b *testing.B) {
	for _, loop := range []string{"ReadBatch", "ReadEach"} {
		b.Run(loop, func(b *testing.B) {
			g, cl := oneSocket(b)
			c := g.Conns()[0]
			ms := newMessages(64, 2048)
			echoBatch := func(batch []Message) bool {
				c.WriteBatch(batch)
				return true
			}
			go func() {
				if loop == "ReadEach" {
					c.ReadEach(ms, echoBatch)
					return
				}
				for {
					n, err := c.ReadBatch(ms)
					if err != nil {
						return
					}
					echoBatch(ms[:n])
				}
			}()
			buf := make([]byte, 512)
			q := make([]byte, 40)
			var ru0, ru1 syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := cl.Write(q); err != nil {
					b.Fatal(err)
				}
				cl.SetReadDeadline(time.Now().Add(testDeadline))
				if _, err := cl.Read(buf); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
			b.ReportMetric(float64(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano())/float64(b.N), "cpu-ns/op")
		})
	}
}
