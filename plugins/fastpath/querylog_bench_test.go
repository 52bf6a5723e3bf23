package fastpath

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// capturedConfig is the dnsserver.Config of the last block holding the
// test-only directive captureconfig: the benchmarks reach the block's log
// and dnstap handlers through it, as the plugin does.
var capturedConfig atomic.Pointer[dnsserver.Config]

func init() {
	plugin.Register("captureconfig", func(c *caddy.Controller) error {
		capturedConfig.Store(dnsserver.GetConfig(c))
		return nil
	})
}

// logToDevNull sends CoreDNS's log to /dev/null until the benchmark ends:
// a log line costs its write, as on a real node's stdout.
func logToDevNull(b *testing.B) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	clog.SetOutput(f)
	b.Cleanup(func() { clog.SetOutput(os.Stderr); f.Close() })
}

// tapCollector is a dnstap collector on a unix socket that reads and
// discards the frames.
func tapCollector(b *testing.B) string {
	sock := filepath.Join(b.TempDir(), "tap.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		b.Fatal(err)
	}
	// Not dnstap.FrameStreamSockInput: its accept loop spins once the
	// listener is closed, for the rest of the benchmark binary.
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed
			}
			go func() {
				defer conn.Close()
				in, err := dnstap.NewFrameStreamInput(conn, true)
				if err != nil {
					return
				}
				frames := make(chan []byte, 1024)
				go func() {
					for range frames {
					}
				}()
				in.ReadInto(frames) // until the connection ends
				close(frames)
			}()
		}
	}()
	b.Cleanup(func() { ln.Close() })
	return sock
}

// BenchmarkObserve is what query logging adds to the answer path: the
// observer's sampling decision and copy into the queue, per answer. The
// queue is emptied (not replayed) every 1024 answers outside the timing,
// so no sample is dropped: this is the cost of one that is kept. Off, the
// read loop tests one pointer.
func BenchmarkObserve(b *testing.B) {
	query, answer := testExchange(b, 1)
	for _, every := range []int{1, 100} {
		b.Run(fmt.Sprintf("log_sample=%d", every), func(b *testing.B) {
			q, err := newQueryLog(commonLogger(), nil, every)
			if err != nil {
				b.Fatal(err)
			}
			dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})
			o := &observer{q: q, local: testLocal, dropped: dropped}
			now := time.Now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				o.Observe(query, answer, testClient, now)
				if i++; i%1024 == 0 {
					b.StopTimer()
					for len(q.queue) > 0 {
						q.free <- <-q.queue
					}
					b.StartTimer()
				}
			}
			if d := counterValue(b, dropped); d != 0 {
				b.Fatalf("%v samples dropped", d)
			}
		})
	}
}

// BenchmarkReplay is the replay goroutine's cost per sample: one fast-path
// answer handed to the block's log (its line written to /dev/null) and/or
// dnstap (to a collector on a unix socket). ns/op is the replay's own time;
// cpu-ns/op the process's CPU per sample, which adds dnstap's writer
// goroutine (it encodes and sends each message) and the collector's reads.
// dnstap drops a message its writer has no room for (its queue: 10000), as
// it does for the chain's.
func BenchmarkReplay(b *testing.B) {
	query, answer := testExchange(b, 1)
	for _, tc := range []struct{ name, plugins string }{
		{"log", "log"},
		{"dnstap", "dnstap unix://%s"},
		{"dnstap-full", "dnstap unix://%s full"},
		{"log+dnstap-full", "log\n    dnstap unix://%s full"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			logToDevNull(b)
			port := freePort(b)
			plugins := strings.ReplaceAll(tc.plugins, "%s", tapCollector(b))
			corefile := fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n    %s\n    captureconfig\n}\n", port, plugins)
			caddy.Quiet, dnsserver.Quiet = true, true
			inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "Corefile.replay-bench", ServerTypeName: "dns"})
			if err != nil {
				b.Fatalf("%v\n%s", err, corefile)
			}
			b.Cleanup(func() { inst.ShutdownCallbacks(); inst.Stop() })
			dc := capturedConfig.Load()
			q, err := newQueryLog(dc.Handler("log"), dc.Handler("dnstap"), 1)
			if err != nil || q == nil {
				b.Fatalf("%v %v", q, err)
			}
			o := &observer{q: q, local: testLocal, dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})}
			b.ReportAllocs()
			cpu := processCPU(b)
			for b.Loop() {
				o.Observe(query, answer, testClient, time.Now())
				s := <-q.queue
				q.replay(s)
				q.free <- s
			}
			time.Sleep(50 * time.Millisecond) // dnstap's writer catches up
			b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkAnswerLoopLogging is the fast path's throughput on one socket
// (one read loop) answering an internal name, with query logging off, and
// with log or dnstap replaying 1 in 100 or every answer: a real node in
// this process, 4 clients on loopback with 32 queries in flight each. One
// op is one answer received; dropped/op is the share of answers the replay
// could not keep up with (dropped from the log, never from the answers).
// The clients, the replay, dnstap's writer and the collector share the
// machine's cores with the read loop: compare the cases of one run.
func BenchmarkAnswerLoopLogging(b *testing.B) {
	for _, tc := range []struct{ name, plugins, sample string }{
		{"off", "", "1"},
		{"log-1in100", "log", "100"},
		{"log-full", "log", "1"},
		{"dnstap-1in100", "dnstap unix://%s full", "100"},
		{"dnstap-full", "dnstap unix://%s full", "1"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			logToDevNull(b)
			plugins := tc.plugins
			if plugins != "" {
				plugins = strings.ReplaceAll(plugins, "%s", tapCollector(b)) + "\n    "
			}
			up := startUpstream(b, "", 300, upstreamNames)
			vars := defaultVars(freePort(b), up.port(), blackhole(b).LocalAddr().(*net.UDPAddr).Port, up.port())
			n := startNode(b, vars, plugins+"fastpath {\n        sockets 1\n        log_sample "+tc.sample+"\n    }")
			n.waitFast("www.corp.internal.", dns.TypeA, "prebuilt")
			droppedBefore := metric(n.scrape(), "coredns_fastpath_log_dropped_total", nil)
			answered := loadAnswers(b, n.addr, "www.corp.internal.", b.N)
			if answered < b.N*99/100 {
				b.Fatalf("%d of %d answers received", answered, b.N)
			}
			b.StopTimer()
			dropped := metric(n.scrape(), "coredns_fastpath_log_dropped_total", nil) - droppedBefore
			b.ReportMetric(dropped/float64(b.N), "dropped/op")
		})
	}
}

// processCPU is the CPU time the process used so far (user and system), in
// nanoseconds.
func processCPU(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// loadAnswers sends total queries for name from 4 sockets, 32 in flight on
// each, and returns how many answers came back (a lost one is given up
// after 1 s).
func loadAnswers(b *testing.B, addr, name string, total int) int {
	const clients, window = 4, 32
	q := new(dns.Msg)
	q.SetQuestion(name, dns.TypeA)
	q.SetEdns0(1232, false)
	pkt, err := q.Pack()
	if err != nil {
		b.Fatal(err)
	}
	var (
		wg       sync.WaitGroup
		left     atomic.Int64
		answered atomic.Int64
	)
	left.Store(int64(total))
	b.ResetTimer()
	for range clients {
		c, err := net.Dial("udp", addr)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			out := append([]byte(nil), pkt...)
			buf := make([]byte, 1500)
			inFlight := 0
			send := func() bool {
				if left.Add(-1) < 0 {
					return false
				}
				binary.BigEndian.PutUint16(out, uint16(inFlight))
				c.Write(out)
				inFlight++
				return true
			}
			for range window {
				if !send() {
					break
				}
			}
			for inFlight > 0 {
				c.SetReadDeadline(time.Now().Add(time.Second))
				if _, err := c.Read(buf); err != nil {
					return // lost: counted as unanswered
				}
				answered.Add(1)
				inFlight--
				send()
			}
		}()
	}
	wg.Wait()
	return int(answered.Load())
}
