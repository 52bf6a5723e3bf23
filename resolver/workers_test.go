package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestWorkersReusedAndStopped: sequential resolutions run on one worker
// (it waits for the next after each), and Close ends the idle worker.
func TestWorkersReusedAndStopped(t *testing.T) {
	fwd := answering(t)
	r, err := New(Config{
		RootHints:      mustRRs(t, ".", ". NS a.root.test.\na.root.test. A 127.0.54.1"), // never asked
		Forward:        []ForwardRule{{Zone: "corp.test.", To: []netip.AddrPort{fwd}}},
		HealthInterval: -1,
		DisableIPv6:    true,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitIdle := func(want int64) {
		t.Helper()
		end := time.Now().Add(5 * time.Second)
		for r.workers.idle.Load() != want && time.Now().Before(end) {
			time.Sleep(time.Millisecond)
		}
		if n := r.workers.idle.Load(); n != want {
			t.Fatalf("%d idle workers, want %d", n, want)
		}
	}
	for i := 0; i < 5; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := r.Resolve(ctx, dns.Question{Name: fmt.Sprintf("w%d.corp.test.", i), Qtype: dns.TypeA, Qclass: dns.ClassINET})
		cancel()
		if err != nil || len(res.Answer) != 1 {
			t.Fatalf("%v %v", err, res)
		}
		waitIdle(1) // the same worker, back to waiting: never a second one
	}
	r.Close()
	waitIdle(0)
}
