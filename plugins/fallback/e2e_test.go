package fallback

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	_ "github.com/coredns/coredns/plugin/bind"
	"github.com/gitops-dns/resolverd/node"
	"github.com/miekg/dns"
)

// The end-to-end tests run a real CoreDNS server on 127.0.0.1 with the chain
// bind -> e2esource -> fallback -> e2eforward. e2esource stands for gitops
// (it provides the snapshot); e2eforward stands for the recursor's forwarding
// path: it sends the query over UDP to a real upstream DNS server on
// 127.0.0.1, which the test makes healthy, SERVFAILing, blackholed or down.

var e2eSnap struct {
	sync.Mutex
	s *node.Snapshot
}

type e2eSource struct{ Next plugin.Handler }

func (e e2eSource) Name() string { return "e2esource" }
func (e e2eSource) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return plugin.NextOrFailure(e.Name(), e.Next, ctx, w, r)
}
func (e e2eSource) Snapshot() *node.Snapshot {
	e2eSnap.Lock()
	defer e2eSnap.Unlock()
	return e2eSnap.s
}

type e2eForward struct {
	Next plugin.Handler
	To   string
}

func (e e2eForward) Name() string { return "e2eforward" }
func (e e2eForward) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	c := &dns.Client{Net: "udp", Timeout: 600 * time.Millisecond}
	q := r.Copy()
	resp, _, err := c.ExchangeContext(ctx, q, e.To)
	if err != nil {
		return dns.RcodeServerFailure, plugin.Error(e.Name(), err)
	}
	resp.Id = r.Id
	w.WriteMsg(resp)
	return dns.RcodeSuccess, nil
}

func init() {
	plugin.Register("e2esource", func(c *caddy.Controller) error {
		c.Next()
		dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler { return e2eSource{next} })
		return nil
	})
	plugin.Register("e2eforward", func(c *caddy.Controller) error {
		c.Next()
		if !c.NextArg() {
			return c.ArgErr()
		}
		to := c.Val()
		dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler { return e2eForward{next, to} })
		return nil
	})
	// The product's order (cmd/resolverd), plus the stand-ins of TestEndToEnd.
	dnsserver.Directives = []string{"bind", "e2esource", "gitops", "fallback", "authority", "recursor", "e2eforward"}
}

// upstreamServer starts a real DNS server on 127.0.0.1 (UDP) that answers
// every A query with 198.18.99.99, or SERVFAIL when servfail is set.
func upstreamServer(t *testing.T, servfail bool) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.RecursionAvailable = true
		if servfail {
			m.Rcode = dns.RcodeServerFailure
		} else if r.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(r.Question[0].Name + " 300 IN A 198.18.99.99")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// blackhole is a UDP socket that receives queries and never answers.
func blackhole(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

// down is an address where nothing listens (the port was just released).
func down(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

// startCoreDNS starts the chain; timeout is the fallback's deadline.
func startCoreDNS(t *testing.T, upstream string, timeout time.Duration) (udp, tcp string) {
	t.Helper()
	// An explicit free port, not ":0": caddy keys listeners by address and
	// may hand a new instance on ":0" an earlier subtest's socket.
	corefile := fmt.Sprintf(`.:%d {
    bind 127.0.0.1
    e2esource
    fallback {
        timeout %s
    }
    e2eforward %s
}
`, freePort(t), timeout, upstream)
	caddy.Quiet = true
	dnsserver.Quiet = true
	// The snapshot comes from e2esource, standing for gitops.
	orig := sourceOf
	sourceOf = func(*caddy.Controller) node.Source { return e2eSource{} }
	defer func() { sourceOf = orig }()
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "Corefile.e2e", ServerTypeName: "dns"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Stop() })
	srvs := inst.Servers()
	if len(srvs) == 0 {
		t.Fatal("no server started")
	}
	return srvs[0].LocalAddr().String(), srvs[0].Addr().String()
}

func TestEndToEnd(t *testing.T) {
	snap := &node.Snapshot{FallbackTTL: 30, Fallback: map[string][]dns.RR{}}
	for _, s := range []string{
		"db-primary.corp.internal. 300 IN A 198.18.5.10",
		"ct.log.example. 300 IN A 198.18.9.30",
	} {
		rr, _ := dns.NewRR(s)
		snap.Fallback[rr.Header().Name] = append(snap.Fallback[rr.Header().Name], rr)
	}
	e2eSnap.Lock()
	e2eSnap.s = snap
	e2eSnap.Unlock()

	tests := []struct {
		name     string
		upstream func(t *testing.T) string
		// For a critical name: "" = the real answer 198.18.99.99; else the
		// fallback reason. Non-critical names SERVFAIL when broken.
		reason string
	}{
		{"healthy path: real answer wins", func(t *testing.T) string { return upstreamServer(t, false) }, ""},
		{"upstream SERVFAILs", func(t *testing.T) string { return upstreamServer(t, true) }, ReasonServfail},
		{"upstream blackholed", blackhole, ReasonTimeout},
		{"upstream down", down, ReasonError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A healthy path gets a deadline it cannot miss on a loaded
			// machine; a broken one a short deadline to keep the test fast.
			timeout := 300 * time.Millisecond
			if tc.reason == "" {
				timeout = 5 * time.Second
			}
			udp, tcp := startCoreDNS(t, tc.upstream(t), timeout)
			for _, net := range []string{"udp", "tcp"} {
				addr := udp
				if net == "tcp" {
					addr = tcp
				}
				c := &dns.Client{Net: net, Timeout: 4 * time.Second}
				for _, qname := range []string{"db-primary.corp.internal.", "ct.log.example.", "intranet.corp.internal."} {
					critical := qname != "intranet.corp.internal."
					resp, _, err := c.Exchange(query(qname, dns.TypeA, true), addr)
					if err != nil {
						t.Fatalf("%s %s: %v", net, qname, err)
					}
					switch {
					case tc.reason == "":
						if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || answers(resp)[0] != "198.18.99.99" || ede(resp) != nil {
							t.Fatalf("%s %s: got %v, want the real answer 198.18.99.99 without EDE", net, qname, resp)
						}
					case !critical:
						if resp.Rcode != dns.RcodeServerFailure || ede(resp) != nil && strings.HasPrefix(ede(resp).ExtraText, EDEText) {
							t.Fatalf("%s %s: got %v, want SERVFAIL", net, qname, resp)
						}
					default:
						want := snap.Fallback[qname][0].(*dns.A).A.String()
						e := ede(resp)
						if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 || answers(resp)[0] != want ||
							resp.Answer[0].Header().Ttl != 30 || e == nil || e.ExtraText != EDEText+tc.reason {
							t.Fatalf("%s %s: got %v, want fallback %s TTL 30 with EDE %q", net, qname, resp, want, EDEText+tc.reason)
						}
					}
				}
			}
			if tc.reason == ReasonTimeout {
				digCheck(t, udp)
			}
		})
	}
}

// digCheck asks with dig, a real client, and checks what an operator sees.
func digCheck(t *testing.T, addr string) {
	dig, err := exec.LookPath("dig")
	if err != nil {
		t.Log("dig not installed; skipping the dig check")
		return
	}
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command(dig, "@"+host, "-p", port, "+tries=1", "+time=4", "db-primary.corp.internal.", "A").CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	for _, want := range []string{"status: NOERROR", "EDE: 0 (Other): (fallback record: timeout)", "db-primary.corp.internal. 30\tIN\tA\t198.18.5.10"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("dig output lacks %q:\n%s", want, out)
		}
	}
}
