package syncer

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/probe"
)

// A node's gate probes and staging's verification judge the same probe
// alike (issue 14): both ask with recursion desired and EDNS (package
// probe). The node under test listens on UDP only and answers a client
// without EDNS with TC set (its answer does not fit 512 bytes), and a query
// without RD with REFUSED. The gate probes used to ask without EDNS, get
// TC, find no TCP listener and roll back a revision that staging had
// verified with EDNS.
func TestGateProbesAskAsStagingDoes(t *testing.T) {
	addr := udpOnlyNode(t)
	p := model.Probe{Name: "db", Query: "db.corp.internal.", Type: dns.TypeA, Rcode: dns.RcodeSuccess,
		Expect: []string{"198.18.5.10"}, Gate: true}
	snap := &node.Snapshot{Revision: &model.Revision{ID: "rev", Probes: []model.Probe{p}}}

	if _, err := probe.Run(context.Background(), addr, p, 2*time.Second); err != nil {
		t.Fatalf("staging's probe fails: %v", err)
	}
	g, err := New(Config{Probes: true, ProbeTimeout: 2 * time.Second}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g.SetProbeAddr(addr)
	if failed := g.gateProbes(context.Background(), snap); len(failed) != 0 {
		t.Fatalf("the node's gate probe fails where staging's passes: %v", failed)
	}
}

// udpOnlyNode serves db.corp.internal. A on UDP only (nothing listens on
// TCP at its address): REFUSED without RD, TC without EDNS, else the answer.
func udpOnlyNode(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		switch {
		case !r.RecursionDesired:
			m.Rcode = dns.RcodeRefused
		case r.IsEdns0() == nil:
			m.Truncated = true
		default:
			rr, _ := dns.NewRR("db.corp.internal. 60 IN A 198.18.5.10")
			m.Answer = []dns.RR{rr}
			m.SetEdns0(1232, false)
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}
