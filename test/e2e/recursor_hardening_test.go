// The resolver half of issue 13 through the real binary, against scripted
// authorities on 127.0.0.11-15.

package e2e

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// authority is a scripted authoritative server on loopback for one zone:
// exact answers, referrals (NS below the origin, with glue), NODATA and
// NXDOMAIN with the SOA. refuse lists zones it is named for but does not
// serve (a lame delegation): it answers REFUSED below them.
type authority struct {
	origin  string
	records []dns.RR
	refuse  []string
	hits    atomic.Int64
	// noEcho: zones whose replies carry the question in lower case (a
	// server that does not echo 0x20).
	noEcho []string

	mu    sync.Mutex
	asked []asked // every question, as spelled, and its source port
}

type asked struct {
	name string
	port int
}

func (a *authority) questions() []asked {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]asked(nil), a.asked...)
}

func newAuthority(t *testing.T, origin, text string, refuse ...string) *authority {
	t.Helper()
	a := &authority{origin: origin, refuse: refuse}
	text = "@ 300 IN SOA ns.invalid. h.invalid. 1 60 60 600 300\n" + text
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		rr, err := dns.NewRR("$ORIGIN " + origin + "\n$TTL 300\n" + strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		a.records = append(a.records, rr)
	}
	return a
}

func (a *authority) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	a.hits.Add(1)
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	a.mu.Lock()
	a.asked = append(a.asked, asked{q.Name, w.RemoteAddr().(*net.UDPAddr).Port})
	a.mu.Unlock()
	for _, z := range a.noEcho {
		if dns.IsSubDomain(z, name) {
			m.Question[0].Name = name
		}
	}
	for _, z := range a.refuse {
		if dns.IsSubDomain(z, name) {
			m.Rcode = dns.RcodeRefused
			w.WriteMsg(m)
			return
		}
	}
	for _, rr := range a.records {
		h := rr.Header()
		if ns, ok := rr.(*dns.NS); ok && h.Name != a.origin && dns.IsSubDomain(h.Name, name) {
			m.Ns = append(m.Ns, rr)
			for _, g := range a.records {
				if g.Header().Name == ns.Ns && g.Header().Rrtype == dns.TypeA {
					m.Extra = append(m.Extra, g)
				}
			}
		}
	}
	if len(m.Ns) > 0 {
		w.WriteMsg(m)
		return
	}
	m.Authoritative = true
	exists := false
	for _, rr := range a.records {
		h := rr.Header()
		if dns.IsSubDomain(name, h.Name) {
			exists = true
		}
		if h.Name == name && h.Rrtype == q.Qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	if len(m.Answer) == 0 && !exists {
		// A wildcard at the closest encloser's child (RFC 4592, simplified:
		// "*.X" answers every name below X); the owner is the question as
		// spelled, as servers write it.
		for _, rr := range a.records {
			h := rr.Header()
			if strings.HasPrefix(h.Name, "*.") && dns.IsSubDomain(h.Name[2:], name) && name != h.Name[2:] {
				exists = true
				if h.Rrtype == q.Qtype {
					c := dns.Copy(rr)
					c.Header().Name = q.Name
					m.Answer = append(m.Answer, c)
				}
			}
		}
	}
	if len(m.Answer) == 0 {
		if !exists {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, a.records[0])
	}
	w.WriteMsg(m)
}

// fakeInternet starts the authorities of a small hierarchy on loopback, all
// on one port (the recursor's `port`): the root on 127.0.0.11, net. on .12,
// example.net. on .13 (which is also named, lamely, for lame.net.),
// noecho.net. on .15 (its replies do not echo the question's case), and
// example.org. delegated to .14 where nothing listens. It returns the port
// and the root hints.
func fakeInternet(t *testing.T) (port int, hints string, auths map[string]*authority) {
	t.Helper()
	auths = map[string]*authority{
		"127.0.0.11": newAuthority(t, ".", "net. NS ns.net.\nns.net. A 127.0.0.12\norg. NS ns.org.\nns.org. A 127.0.0.12"),
		"127.0.0.12": newAuthority(t, "net.", "example NS ns1.example\nns1.example A 127.0.0.13\nlame NS ns1.lame\nns1.lame A 127.0.0.13\nnoecho NS ns1.noecho\nns1.noecho A 127.0.0.15", "org."),
		"127.0.0.13": newAuthority(t, "example.net.", "www A 198.51.100.80\nh006 A 198.51.100.6\n*.wild A 198.51.100.99", "lame.net."),
		"127.0.0.15": newAuthority(t, "noecho.net.", "*.wild A 198.51.100.98"),
	}
	auths["127.0.0.15"].noEcho = []string{"noecho.net."}
	// org. is served by .12 too, in a second server on the same address.
	org := newAuthority(t, "org.", "example NS ns1.example\nns1.example A 127.0.0.14")
	for attempt := 0; attempt < 20; attempt++ {
		port = 20000 + rand.IntN(30000)
		var servers []*dns.Server
		ok := true
		for addr, a := range auths {
			var h dns.Handler = a
			if addr == "127.0.0.12" {
				net12 := a
				h = dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
					if len(r.Question) == 1 && dns.IsSubDomain("org.", strings.ToLower(r.Question[0].Name)) {
						org.ServeDNS(w, r)
						return
					}
					net12.ServeDNS(w, r)
				})
			}
			pc, err := net.ListenPacket("udp", fmt.Sprintf("%s:%d", addr, port))
			if err != nil {
				ok = false
				break
			}
			srv := &dns.Server{PacketConn: pc, Handler: h}
			started := make(chan struct{})
			srv.NotifyStartedFunc = func() { close(started) }
			go srv.ActivateAndServe()
			<-started
			servers = append(servers, srv)
		}
		if !ok {
			for _, s := range servers {
				s.Shutdown()
			}
			continue
		}
		t.Cleanup(func() {
			for _, s := range servers {
				s.Shutdown()
			}
		})
		return port, ".  3600000 IN NS a.root.test.\na.root.test. 3600000 IN A 127.0.0.11\n", auths
	}
	t.Fatal("no port free on 127.0.0.11-15")
	return 0, "", nil
}

// recursingNode runs the real binary recursing through fakeInternet; only
// 127.0.0.1 may recurse.
func recursingNode(t *testing.T) (*node, map[string]*authority) {
	t.Helper()
	port, hints, auths := fakeInternet(t)
	files := baseFiles()
	files["root.hints"] = hints
	files["clusters/dev.yaml"] = strings.Replace(devCluster, "allow: [127.0.0.0/8]", "allow: [127.0.0.1/32]", 1)
	repo := newConfigRepo(t, files)
	head, _ := repo.repo.Head()
	n := newClusterNode(t, repo.dir, t.TempDir(), nodeSpec{recursor: fmt.Sprintf("        port %d\n        no_ipv6\n        deadline 2s", port)})
	n.start()
	n.waitServed(head.Hash().String(), 30*time.Second)
	return n, auths
}

// digNode runs dig against n and returns its full output.
func digNode(t *testing.T, n *node, args ...string) string {
	t.Helper()
	port := strings.TrimPrefix(n.addr(), "127.0.0.1:")
	return dig(t, append([]string{"@127.0.0.1", "-p", port}, args...)...)
}

// ask sends one question with miekg/dns over netw and returns the reply.
func ask(t *testing.T, n *node, netw, name string, qtype uint16, rd bool) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = rd
	m.SetEdns0(1232, false)
	c := &dns.Client{Net: netw, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, n.addr())
	if err != nil {
		t.Fatalf("%s %s TYPE%d: %v", netw, name, qtype, err)
	}
	return r
}

// TestMetaTypesCannotPoisonTheCache is issue 13's severe defect, through
// the real binary: a question of a meta or reserved type gets its RFC
// answer (FORMERR / NOTIMP / REFUSED) over UDP and TCP without reaching
// any authority, and does not change what anyone gets next. On the old
// node `dig example.net TYPE0` made h006.example.net NXDOMAIN for an hour.
func TestMetaTypesCannotPoisonTheCache(t *testing.T) {
	n, auths := recursingNode(t)
	if out := digNode(t, n, "example.net", "TYPE0"); !strings.Contains(out, "status: FORMERR") {
		t.Fatalf("dig example.net TYPE0:\n%s", out)
	}
	if out := digNode(t, n, "net", "TYPE0"); !strings.Contains(out, "status: FORMERR") {
		t.Fatalf("dig net TYPE0:\n%s", out)
	}
	for _, tc := range []struct {
		qtype uint16
		rcode int
	}{
		{0, dns.RcodeFormatError},
		{dns.TypeOPT, dns.RcodeFormatError},
		{dns.TypeTSIG, dns.RcodeFormatError},
		{dns.TypeTKEY, dns.RcodeNotImplemented},
		{dns.TypeMAILB, dns.RcodeNotImplemented},
		{dns.TypeMAILA, dns.RcodeNotImplemented},
		{dns.TypeIXFR, dns.RcodeRefused},
		{dns.TypeAXFR, dns.RcodeRefused},
	} {
		for _, netw := range []string{"udp", "tcp"} {
			for _, name := range []string{"example.net.", "h006.example.net.", "www.corp.internal."} {
				r := ask(t, n, netw, name, tc.qtype, true)
				if r.Rcode != tc.rcode || len(r.Answer) != 0 {
					t.Errorf("%s %s TYPE%d: %s with %d answers, want %s", netw, name, tc.qtype, dns.RcodeToString[r.Rcode], len(r.Answer), dns.RcodeToString[tc.rcode])
				}
			}
		}
	}
	for addr, a := range auths {
		if h := a.hits.Load(); h != 0 {
			t.Errorf("authority %s got %d queries from meta questions", addr, h)
		}
	}
	if out := digNode(t, n, "+short", "h006.example.net", "A"); out != "198.51.100.6" {
		t.Fatalf("h006.example.net after the meta questions = %q, want 198.51.100.6", out)
	}
	if out := digNode(t, n, "+short", "www.example.net", "A"); out != "198.51.100.80" {
		t.Fatalf("www.example.net after the meta questions = %q", out)
	}
}

// TestNoRecursionWithoutRD: `dig +norec` of a name never seen is not
// resolved (RFC 1034 4.3.1): a referral, and no authority is asked. Once
// the name is cached, +norec gets the cached answer; a name below a known
// delegation gets that delegation.
func TestNoRecursionWithoutRD(t *testing.T) {
	n, auths := recursingNode(t)
	out := digNode(t, n, "+norec", "www.example.net", "A")
	if !strings.Contains(out, "ANSWER: 0") || !strings.Contains(out, "a.root.test.") {
		t.Fatalf("dig +norec of a never-seen name:\n%s\nwant a referral to the root, no answer", out)
	}
	for addr, a := range auths {
		if h := a.hits.Load(); h != 0 {
			t.Fatalf("+norec made the node ask %s (%d queries)", addr, h)
		}
	}
	if got := digNode(t, n, "+short", "www.example.net", "A"); got != "198.51.100.80" {
		t.Fatalf("with RD: %q", got)
	}
	before := auths["127.0.0.13"].hits.Load()
	if got := digNode(t, n, "+norec", "+short", "www.example.net", "A"); got != "198.51.100.80" {
		t.Fatalf("+norec of a cached name: %q", got)
	}
	out = digNode(t, n, "+norec", "other.example.net", "A")
	if !strings.Contains(out, "ANSWER: 0") || !strings.Contains(out, "ns1.example.net.") || !strings.Contains(out, "127.0.0.13") {
		t.Fatalf("+norec below a cached delegation:\n%s\nwant the example.net referral with glue", out)
	}
	if h := auths["127.0.0.13"].hits.Load(); h != before {
		t.Fatalf("+norec asked example.net's server %d times", h-before)
	}
}

// TestServfailSaysWhy: a failed resolution is a SERVFAIL with RA and an
// Extended DNS Error (RFC 8914) naming the cause; a client that may not
// recurse gets REFUSED without RA.
func TestServfailSaysWhy(t *testing.T) {
	n, _ := recursingNode(t)
	for _, tc := range []struct{ name, ede string }{
		{"x.example.org", "EDE: 23 (Network Error)"},       // its server's port is closed
		{"x.lame.net", "EDE: 22 (No Reachable Authority)"}, // its server refuses
	} {
		out := digNode(t, n, tc.name, "A")
		if !strings.Contains(out, "status: SERVFAIL") || !strings.Contains(out, "flags: qr rd ra;") || !strings.Contains(out, tc.ede) {
			t.Errorf("dig %s:\n%s\nwant SERVFAIL, RA and %q", tc.name, out, tc.ede)
		}
	}
	out := digNode(t, n, "-b", "127.0.0.5", "www.example.net", "A")
	if !strings.Contains(out, "status: REFUSED") || strings.Contains(out, " ra") {
		t.Errorf("client outside recursion.allow:\n%s\nwant REFUSED without RA", out)
	}
}

// TestFreshPortsAndMixedCase: through the real binary, every upstream query
// to an authority leaves from a port of its own with its name in random
// case (0x20); a server that does not echo the case is asked again in
// lower case, answers, and is asked in lower case from then on.
func TestFreshPortsAndMixedCase(t *testing.T) {
	n, auths := recursingNode(t)
	const count = 16
	for i := 0; i < count; i++ {
		name := fmt.Sprintf("host%02d-abcdefghij.wild.example.net", i)
		if got := digNode(t, n, "+short", name, "A"); got != "198.51.100.99" {
			t.Fatalf("%s = %q", name, got)
		}
	}
	var q []asked
	for _, a := range auths["127.0.0.13"].questions() {
		if strings.HasSuffix(strings.ToLower(a.name), ".wild.example.net.") {
			q = append(q, a)
		}
	}
	ports := map[int]bool{}
	mixed := 0
	for _, a := range q {
		ports[a.port] = true
		if a.name != strings.ToLower(a.name) {
			mixed++
		}
	}
	if len(q) != count || len(ports) < count-3 || mixed != count {
		t.Fatalf("%d queries for the %d names, from %d source ports, %d in mixed case: want one each, each from its own port, all mixed\n%v", len(q), count, len(ports), mixed, q)
	}

	for _, name := range []string{"first-abcdefghij.wild.noecho.net", "second-abcdefghij.wild.noecho.net"} {
		if got := digNode(t, n, "+short", name, "A"); got != "198.51.100.98" {
			t.Fatalf("%s through a server that does not echo the case = %q", name, got)
		}
	}
	// The first question it gets (QNAME minimisation may make it an
	// ancestor) goes out mixed, then again in lower case; every later one
	// in lower case only.
	qs := auths["127.0.0.15"].questions()
	if len(qs) < 4 || qs[0].name == strings.ToLower(qs[0].name) || qs[1].name != strings.ToLower(qs[0].name) {
		t.Fatalf("questions to the non-echoing server: %v: want a mixed-case one, then it again in lower case", qs)
	}
	for _, a := range qs[1:] {
		if a.name != strings.ToLower(a.name) {
			t.Fatalf("questions to the non-echoing server: %v: mixed case again after it did not echo", qs)
		}
	}
}
