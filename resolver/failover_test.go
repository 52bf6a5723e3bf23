package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// authority serves every name with one authoritative A record from addr
// (an address of 127.0.0.0/8, port 0 for a free one).
func authority(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	return serveA(t, addr, true)
}

// slowConfig makes every upstream attempt wait 5 s for a reply and gives
// each question 10 s: a test whose context allows 2 s can only pass if a
// closed port fails at once instead of costing an attempt timeout.
func slowConfig(c Config) Config {
	c.UDPPool = true // the pool's failures counter tells a refused socket apart
	c.UpstreamTimeout = 5 * time.Second
	c.InitialTimeout = 5 * time.Second
	c.MinTimeout = 5 * time.Second
	c.Deadline = 10 * time.Second
	c.StaleClientTimeout = 10 * time.Second
	c.HealthInterval = -1
	c.DisableIPv6 = true
	c.QueryLocalhost = true // the test's servers are on loopback
	return c
}

// TestFailoverClosedPort: the first forward target (or the first
// authority asked) has its DNS port closed; the answer comes from the
// other one well within the 2 s the client waits, although an attempt
// may wait 5 s: the pooled socket reported the refusal at once. The
// refused forwarder is marked down, so the next question goes to the
// healthy one first.
func TestFailoverClosedPort(t *testing.T) {
	q := func(name string) dns.Question {
		return dns.Question{Name: name, Qtype: dns.TypeA, Qclass: dns.ClassINET}
	}
	resolve := func(t *testing.T, r *Resolver, name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		res, err := r.Resolve(ctx, q(name))
		if err != nil || res.Rcode != dns.RcodeSuccess || len(res.Answer) != 1 {
			t.Fatalf("%s: %v %v", name, err, res)
		}
	}

	t.Run("forward", func(t *testing.T) {
		closed := closedPort(t)
		good := answering(t)
		r, err := New(slowConfig(Config{
			RootHints: mustRRs(t, ".", ". NS a.root.test.\na.root.test. A 127.0.54.1"), // never asked
			Forward:   []ForwardRule{{Zone: "corp.test.", To: []netip.AddrPort{closed, good}}},
		}))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		start := time.Now()
		resolve(t, r, "a.corp.test.")
		t.Logf("answered through the second target after %v (attempt timeout 5s)", time.Since(start))
		if f := r.pool.failures.Load(); f != 1 {
			t.Fatalf("%d pooled sockets refused, want the closed target's", f)
		}
		info, ok := r.c.servers.Peek(serverKey{addr: closed})
		if !ok {
			t.Fatal("no state for the refused target")
		}
		info.mu.Lock()
		down := r.clock.Now().Before(info.downUntil)
		info.mu.Unlock()
		if !down {
			t.Fatal("the refused forwarder is not marked down")
		}
		resolve(t, r, "b.corp.test.")
		if f := r.pool.failures.Load(); f != 1 {
			t.Errorf("the down target was asked again (%d refusals)", f)
		}
	})

	t.Run("authorities", func(t *testing.T) {
		// Two root servers on the same port of two loopback addresses: one
		// answers, nothing listens on the other. Which is asked first is
		// random: new resolvers until the closed one was asked.
		good := authority(t, "127.0.54.3:0")
		hints := fmt.Sprintf(". NS a.root.test.\n. NS b.root.test.\na.root.test. A 127.0.54.2\nb.root.test. A %s", good.Addr())
		for round := 0; round < 30; round++ {
			r, err := New(slowConfig(Config{RootHints: mustRRs(t, ".", hints), Port: good.Port()}))
			if err != nil {
				t.Fatal(err)
			}
			resolve(t, r, "www.example.")
			refused := r.pool.failures.Load()
			r.Close()
			if refused > 0 {
				return
			}
		}
		t.Fatal("the closed authority was never asked first in 30 rounds")
	})
}
