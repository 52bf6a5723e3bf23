package recursor

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/fakeclock"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/resolver"
)

// TestStaleAnswerCarriesEDE: when the authority is gone and the data has
// expired, the client gets the stale answer (TTL 30) with Extended DNS
// Error 3 if it speaks EDNS, and a plain answer if not.
func TestStaleAnswerCarriesEDE(t *testing.T) {
	// The authority: a real server we stop after the first answer.
	h, _ := authHandler(t, "www.example.com. 60 IN A 192.0.2.1", false)
	root, stopRoot := serve(t, h)

	clk := fakeclock.New(time.Unix(1_800_000_000, 0))
	src := &swapSource{}
	src.p.Store(&node.Snapshot{RecursionAllow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, RootHints: hints(t)})
	rc := &Recursor{Source: src, Config: resolver.Config{Port: root.Port(), Clock: clk, DisableIPv6: true, HealthInterval: -1, QueryLocalhost: true,
		UpstreamTimeout: 100 * time.Millisecond, Deadline: time.Second}}
	defer rc.Close()
	if m, _, err := query(t, rc, "127.0.0.1", "www.example.com.", dns.TypeA, dns.ClassINET); err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", err, m)
	}
	stopRoot()
	clk.Advance(time.Hour) // the 60 s TTL is long gone; no stale_timeout wait fires

	m, _, err := query(t, rc, "127.0.0.1", "www.example.com.", dns.TypeA, dns.ClassINET)
	if err != nil || len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 30 {
		t.Fatalf("stale answer: %v %v", err, m)
	}
	o := m.IsEdns0()
	if o == nil || len(o.Option) != 1 {
		t.Fatalf("no EDE: %v", m)
	}
	if ede, ok := o.Option[0].(*dns.EDNS0_EDE); !ok || ede.InfoCode != dns.ExtendedErrorCodeStaleAnswer {
		t.Fatalf("option %v, want EDE 3", o.Option[0])
	}

	// A client without EDNS gets no OPT record.
	w := &test.ResponseWriter{RemoteIP: "127.0.0.1"}
	rec := &recorder{ResponseWriter: w}
	q := new(dns.Msg)
	q.SetQuestion("www.example.com.", dns.TypeA)
	if _, err := rc.ServeDNS(context.Background(), rec, q); err != nil {
		t.Fatal(err)
	}
	if rec.msg == nil || len(rec.msg.Answer) != 1 || rec.msg.IsEdns0() != nil {
		t.Fatalf("non-EDNS client: %v", rec.msg)
	}
}
