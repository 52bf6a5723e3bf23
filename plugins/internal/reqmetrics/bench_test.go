package reqmetrics

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/miekg/dns"
)

// discard is a client's writer: it packs the response and drops it.
type discard struct {
	from  net.Addr
	sizes *Sizes
	buf   []byte
}

func (w *discard) LocalAddr() net.Addr  { return w.from }
func (w *discard) RemoteAddr() net.Addr { return w.from }
func (w *discard) Close() error         { return nil }
func (w *discard) TsigStatus() error    { return nil }
func (w *discard) TsigTimersOnly(bool)  {}
func (w *discard) Hijack()              {}
func (w *discard) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
func (w *discard) Write(b []byte) (int, error) {
	if w.sizes != nil {
		w.sizes.Resp += len(b)
	}
	return len(b), nil
}

// sizedCtx is the context the fast path gives the chain: the server and the
// wire sizes, without context.WithValue.
type sizedCtx struct {
	context.Context
	srv   *dnsserver.Server
	sizes *Sizes
}

func (c *sizedCtx) Value(key any) any {
	switch key.(type) {
	case dnsserver.Key:
		return c.srv
	case SizesKey:
		return c.sizes
	}
	return c.Context.Value(key)
}

// BenchmarkChainMetrics is one query through the metrics handler at the
// head of a chain whose rest answers at once (one A record): none (the chain alone),
// coredns (CoreDNS's prometheus handler, what ran before issue 21), sharded
// (Handler, with the sizes the fast path hands it), sharded-nosizes (Handler
// for a query from another front end: sizes from the messages). The
// difference to none is the metrics' cost per query.
func BenchmarkChainMetrics(b *testing.B) {
	m := metrics.New("127.0.0.1:0")
	m.AddZone(".")
	next := scripted{}
	srv := &dnsserver.Server{Addr: "dns://127.0.0.1:53"}
	q := new(dns.Msg)
	q.SetQuestion("u00001234-abcdef01.wild.example.com.", dns.TypeA)
	q.SetEdns0(1232, false)
	wire, _ := q.Pack()
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 5300}
	for _, tc := range []struct {
		name  string
		h     plugin.Handler
		sizes bool
	}{
		{"none", next, false},
		{"coredns", &metrics.Metrics{Next: next}, false},
		{"sharded", &Handler{m: m, next: next, t: NewTable(4)}, true},
		{"sharded-nosizes", &Handler{m: m, next: next, t: NewTable(4)}, false},
	} {
		if mm, ok := tc.h.(*metrics.Metrics); ok {
			*mm = *metrics.New("127.0.0.1:0")
			mm.Next = next
			mm.AddZone(".")
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			b.RunParallel(func(pb *testing.PB) {
				w := &discard{from: from, buf: make([]byte, 4096)}
				ctx := &sizedCtx{Context: context.Background(), srv: srv}
				for pb.Next() {
					if tc.sizes {
						sz := Sizes{Req: len(wire)}
						w.sizes, ctx.sizes = &sz, &sz
					}
					tc.h.ServeDNS(ctx, w, q)
				}
			})
		})
	}
}

// reportCPU reports the process's CPU time per op (user and system, every
// thread) beside the wall time: on a machine shared with other work, wall
// time counts the time others ran.
func reportCPU(b *testing.B) func() {
	cpu := func() int64 {
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return ru.Utime.Nano() + ru.Stime.Nano()
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}
