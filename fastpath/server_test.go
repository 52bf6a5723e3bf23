package fastpath

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/fastpath/udpio"
	"github.com/gitops-dns/resolverd/node"
)

// TestSlowPathWorkers: queries in the slow path at once each get a worker
// and their own copy of the query and sender (the read buffers are reused
// at once); an idle worker takes the next query instead of a new one
// starting; workers left idle are ended, all of them once none is used.
func TestSlowPathWorkers(t *testing.T) {
	const n = 5
	release := make(chan struct{})
	var (
		mu  sync.Mutex
		got []string
	)
	s := &Server{idleAfter: 20 * time.Millisecond}
	s.Slow = func(_ *udpio.Conn, pkt []byte, from *net.UDPAddr, q *Query, _ uint64) {
		mu.Lock()
		got = append(got, string(pkt)+"@"+from.String())
		mu.Unlock()
		<-release
	}
	s.init()
	pkt := make([]byte, 3)
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4()}
	for i := 0; i < n; i++ {
		copy(pkt, []byte{'q', '0' + byte(i), '!'})
		from.Port = 1000 + i
		s.slow(nil, pkt, from, nil)
	}
	waitFor(t, "every query in a worker", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n })
	if w := s.workers.Load(); w != n {
		t.Fatalf("%d workers for %d queries held at once", w, n)
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for i := 0; i < n; i++ {
		if want := fmt.Sprintf("q%d!@127.0.0.1:%d", i, 1000+i); !seen[want] {
			t.Errorf("query %d: %q not among %q (the loop's buffers are reused: the job must copy)", i, want, got)
		}
	}
	close(release)
	waitFor(t, "workers idle", func() bool { return s.idle.Load() == n })
	s.slow(nil, []byte("again"), from, nil)
	waitFor(t, "the query served", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n+1 })
	if w := s.workers.Load(); w > n {
		t.Errorf("%d workers after a query found %d idle, want no new one", w, n)
	}
	waitFor(t, "idle workers ended", func() bool { return s.workers.Load() == 0 })
	waitFor(t, "the reaper gone", func() bool { return !s.reaping.Load() })
	// A query after that starts a worker again.
	s.slow(nil, []byte("late"), from, nil)
	waitFor(t, "the late query served", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == n+2 })
	waitFor(t, "its worker ended", func() bool { return s.workers.Load() == 0 })
}

// waitFor polls cond (bounded: 5 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRevisionNotPrecomputable: a revision whose answers cannot be built
// is reported, gets an empty table (every query takes the slow path, none
// is answered from another revision's answers) and, as any revision swap,
// a new packet cache generation.
func TestRevisionNotPrecomputable(t *testing.T) {
	good := testSnapshot(t)
	bad := &node.Snapshot{
		Authority: good.Authority,
		// A forward rule under the served zone whose name does not pack.
		Forward: []model.ForwardRule{{Zone: strings.Repeat("a", 64) + ".example.internal."}},
	}
	qm := query("www.example.internal.", dns.TypeA, false, false)
	q := parsed(t, qm)
	snap := good
	var reported []error
	s := &Server{
		Source:      func() *node.Snapshot { return snap },
		Cache:       NewPacketCache(10),
		BuildFailed: func(sn *node.Snapshot, err error) { reported = append(reported, err) },
	}
	s.rebuild()
	if a := s.Answers(); a == nil || a.Lookup(&q) == nil {
		t.Fatal("the good revision answers nothing from precomputed answers")
	}
	gen := s.Cache.Generation()
	snap = bad
	s.rebuild()
	a := s.Answers()
	if a == nil || a.Snapshot != bad {
		t.Fatalf("answers %+v, want the (empty) table of the bad revision", a)
	}
	if p := a.Lookup(&q); p != nil {
		t.Errorf("the bad revision answers %+v from precomputed answers, want the slow path", p)
	}
	if len(reported) != 1 {
		t.Errorf("BuildFailed heard %v, want one error", reported)
	}
	if s.Cache.Generation() == gen {
		t.Error("the packet cache kept its generation across the revision swap")
	}
}
