package resolver

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// TestFreshPortPerQuery: by default every upstream query leaves from a
// socket of its own on a kernel-random port (issue 13: the pool sent up to
// 128 queries over 10 s from one port). With the opt-in pool they share
// one.
func TestFreshPortPerQuery(t *testing.T) {
	var mu sync.Mutex
	ports := map[int]int{}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		mu.Lock()
		ports[w.RemoteAddr().(*net.UDPAddr).Port]++
		mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		rr, _ := dns.NewRR(q.Question[0].Name + " 60 IN A 192.0.2.1")
		m.Answer = []dns.RR{rr}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	const n = 32
	for _, pool := range []bool{false, true} {
		mu.Lock()
		clear(ports)
		mu.Unlock()
		r, err := New(Config{
			RootHints: mustRRs(t, ".", ". NS a.root.test.\na.root.test. A 127.0.0.1"), Port: uint16(pc.LocalAddr().(*net.UDPAddr).Port),
			HealthInterval: -1, DisableIPv6: true, DisableQNAMEMinimisation: true, UDPPool: pool, QueryLocalhost: true,
		})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if m, err := r.Resolve(context.Background(), dns.Question{Name: fmt.Sprintf("n%d.example.", i), Qtype: dns.TypeA, Qclass: dns.ClassINET}); err != nil || len(m.Answer) != 1 {
				t.Fatalf("%v %v", m, err)
			}
		}
		r.Close()
		mu.Lock()
		distinct := len(ports)
		mu.Unlock()
		// The kernel picks each port at random from ~28,000: a few may
		// repeat by chance, most may not.
		if !pool && distinct < n-4 {
			t.Fatalf("%d queries from %d source ports, want one each", n, distinct)
		}
		if pool && distinct != 1 {
			t.Fatalf("pool: %d queries from %d ports, want one", n, distinct)
		}
	}
}
