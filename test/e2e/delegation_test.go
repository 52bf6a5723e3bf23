package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// labServer is the lab team's own authoritative server for
// lab.corp.internal., on 127.0.0.77 port 53 (where delegations point).
func labServer(t *testing.T) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.77:53")
	if err != nil {
		t.Skipf("cannot bind 127.0.0.77:53 for the delegated server (needs root): %v", err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		q := r.Question[0]
		if strings.EqualFold(q.Name, "host.lab.corp.internal.") && q.Qtype == dns.TypeA {
			rr, _ := dns.NewRR("host.lab.corp.internal. 60 IN A 198.18.8.80")
			m.Answer = append(m.Answer, rr)
		} else {
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
}

// A subzone of an internal zone delegated to a team's own servers: a stub
// resolver (RD set) gets the answer from those servers, not a referral; a
// non-recursive query still gets the referral.
func TestInternalDelegationFollowed(t *testing.T) {
	labServer(t)
	files := baseFiles()
	files["zones/corp.internal.zone"] = corpZone("2026112101", "198.18.5.80") +
		"lab      IN NS  ns1.lab\nlab      IN NS  ns2.lab\nns1.lab  IN A   127.0.0.77\nns2.lab  IN A   127.0.0.77\n"
	repo := newConfigRepo(t, files)
	head, _ := repo.repo.Head()
	n := newNode(t, repo.dir, t.TempDir())
	n.start()
	n.waitServed(head.Hash().String(), 30*time.Second)

	port := strings.TrimPrefix(n.addr(), "127.0.0.1:")
	if got := dig(t, "@127.0.0.1", "-p", port, "+short", "host.lab.corp.internal", "A"); got != "198.18.8.80" {
		t.Fatalf("dig host.lab.corp.internal (recursion desired) = %q, want 198.18.8.80 from the lab's server", got)
	}
	r, err := n.query("udp", "nothere.lab.corp.internal.", dns.TypeA, dns.ClassINET)
	if err != nil || r.Rcode != dns.RcodeNameError {
		t.Fatalf("nothere.lab.corp.internal: %v %v, want the lab server's NXDOMAIN", r, err)
	}
	if got := dig(t, "@127.0.0.1", "-p", port, "+norec", "+noall", "+authority", "host.lab.corp.internal", "A"); !strings.Contains(got, "lab.corp.internal.\t300\tIN\tNS\tns1.lab.corp.internal.") {
		t.Fatalf("dig +norec host.lab.corp.internal: want the referral, got %q", got)
	}
}
