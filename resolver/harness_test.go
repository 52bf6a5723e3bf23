package resolver

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/fakeclock"
)

// fakeClock is a Clock tests move by hand (internal/fakeclock).
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock {
	return fakeclock.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// handler answers one query the way a scripted server would. Returning an
// error simulates a failure (context.DeadlineExceeded: a timeout).
type handler func(network string, q *dns.Msg) (*dns.Msg, error)

type sent struct {
	server  netip.AddrPort
	network string
	name    string
	qtype   uint16
}

// fakeNet is a Transport over scripted servers. Messages go through the
// wire format both ways. Unknown servers time out.
type fakeNet struct {
	mu      sync.Mutex
	servers map[netip.AddrPort]handler
	log     []sent
}

func newFakeNet() *fakeNet { return &fakeNet{servers: map[netip.AddrPort]handler{}} }

func (f *fakeNet) set(addr string, h handler) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers[netip.AddrPortFrom(netip.MustParseAddr(addr), 53)] = h
}

func (f *fakeNet) Exchange(ctx context.Context, network string, server netip.AddrPort, m *dns.Msg) (*dns.Msg, error) {
	wire, err := m.Pack()
	if err != nil {
		return nil, err
	}
	q := new(dns.Msg)
	if err := q.Unpack(wire); err != nil {
		return nil, err
	}
	f.mu.Lock()
	// Logged in lower case: the tests are about which names are asked,
	// whatever case 0x20 gave them.
	f.log = append(f.log, sent{server, network, strings.ToLower(q.Question[0].Name), q.Question[0].Qtype})
	h := f.servers[server]
	f.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("no server at %s: %w", server, context.DeadlineExceeded)
	}
	resp, err := h(network, q)
	if err != nil {
		return nil, err
	}
	out, err := resp.Pack()
	if err != nil {
		return nil, err
	}
	back := new(dns.Msg)
	if err := back.Unpack(out); err != nil {
		return nil, err
	}
	return back, nil
}

func (f *fakeNet) sends() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeNet) count(addr string) int {
	n := 0
	for _, s := range f.sends() {
		if s.server.Addr().String() == addr {
			n++
		}
	}
	return n
}

func (f *fakeNet) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = nil
}

// testZone is a minimal authoritative server for one zone: exact answers,
// CNAME, DNAME, referrals with glue, NODATA and NXDOMAIN with the SOA.
type testZone struct {
	origin string
	rrs    []dns.RR
}

func mustRRs(t testing.TB, origin, text string) []dns.RR {
	t.Helper()
	var out []dns.RR
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		rr, err := dns.NewRR("$ORIGIN " + origin + "\n$TTL 300\n" + line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		out = append(out, rr)
	}
	return out
}

// zone builds an authoritative handler; text holds one record per line,
// relative to origin; a SOA is added.
func zone(t testing.TB, origin, text string) handler {
	z := &testZone{origin: origin}
	z.rrs = mustRRs(t, origin, "@ 300 SOA ns.invalid. h.invalid. 1 60 60 600 60\n"+text)
	return func(_ string, q *dns.Msg) (*dns.Msg, error) { return z.answer(q), nil }
}

func (z *testZone) answer(q *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(q)
	qn, qt := lower(q.Question[0].Name), q.Question[0].Qtype
	if !dns.IsSubDomain(z.origin, qn) {
		resp.Rcode = dns.RcodeRefused
		return resp
	}
	// referral?
	var cut string
	for _, rr := range z.rrs {
		h := rr.Header()
		if h.Rrtype == dns.TypeNS && h.Name != z.origin && dns.IsSubDomain(h.Name, qn) && (cut == "" || dns.CountLabel(h.Name) < dns.CountLabel(cut)) {
			cut = h.Name
		}
	}
	if cut != "" {
		for _, rr := range z.rrs {
			if ns, ok := rr.(*dns.NS); ok && ns.Hdr.Name == cut {
				resp.Ns = append(resp.Ns, rr)
				for _, g := range z.rrs {
					if g.Header().Name == ns.Ns && (g.Header().Rrtype == dns.TypeA || g.Header().Rrtype == dns.TypeAAAA) {
						resp.Extra = append(resp.Extra, g)
					}
				}
			}
		}
		return resp
	}
	resp.Authoritative = true
	name := qn
	for hop := 0; hop < 8; hop++ {
		var match []dns.RR
		var cname dns.RR
		exists := false
		for _, rr := range z.rrs {
			h := rr.Header()
			if h.Name == name {
				exists = true
				if h.Rrtype == qt {
					match = append(match, rr)
				} else if h.Rrtype == dns.TypeCNAME {
					cname = rr
				}
			} else if dns.IsSubDomain(name, h.Name) {
				exists = true // empty non-terminal
			} else if h.Rrtype == dns.TypeDNAME && dns.IsSubDomain(h.Name, name) {
				d := rr.(*dns.DNAME)
				target := strings.TrimSuffix(name, h.Name) + d.Target
				resp.Answer = append(resp.Answer, rr, &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: h.Ttl}, Target: target})
				return resp
			}
		}
		if len(match) > 0 {
			resp.Answer = append(resp.Answer, match...)
			return resp
		}
		if cname != nil {
			resp.Answer = append(resp.Answer, cname)
			name = cname.(*dns.CNAME).Target
			if !dns.IsSubDomain(z.origin, name) {
				return resp
			}
			continue
		}
		if !exists {
			resp.Rcode = dns.RcodeNameError
		}
		resp.Ns = append(resp.Ns, z.rrs[0])
		return resp
	}
	return resp
}

// world is the scripted internet most tests share:
//
//	. (127.0.0.1)  delegates com, net, org (glue)
//	com (127.0.1.1), net (127.0.2.1), org (127.0.3.1)
func world(t testing.TB, f *fakeNet) []dns.RR {
	f.set("127.0.0.1", zone(t, ".", `
com. NS ns.com.
ns.com. A 127.0.1.1
net. NS ns.net.
ns.net. A 127.0.2.1
org. NS ns.org.
ns.org. A 127.0.3.1
`))
	hints := mustRRs(t, ".", ". 3600000 NS a.root.test.\na.root.test. 3600000 A 127.0.0.1")
	return hints
}

type testEnv struct {
	r     *Resolver
	net   *fakeNet
	clock *fakeClock
	m     *Counters
}

func newEnv(t testing.TB, setup func(f *fakeNet), mod func(c *Config)) *testEnv {
	t.Helper()
	f := newFakeNet()
	hints := world(t, f)
	if setup != nil {
		setup(f)
	}
	clk := newFakeClock()
	m := &Counters{}
	cfg := Config{RootHints: hints, Transport: f, Clock: clk, Metrics: m, HealthInterval: -1, QueryLocalhost: true}
	if mod != nil {
		mod(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return &testEnv{r: r, net: f, clock: clk, m: m}
}

func (e *testEnv) resolve(t testing.TB, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return e.r.Resolve(ctx, dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET})
}

// rdata returns the answer section as "name type rdata" lines (TTL left out).
func rdata(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		h := rr.Header()
		out = append(out, fmt.Sprintf("%s %s %s", strings.ToLower(h.Name), dns.TypeToString[h.Rrtype], strings.TrimPrefix(rr.String(), h.String())))
	}
	return out
}
