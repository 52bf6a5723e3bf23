package resolver

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// caseWorld: example.com's server (127.0.1.2) answers through echo, which
// may respell the reply's question; asked records every name it got as
// sent.
func caseWorld(t *testing.T, echo func(q *dns.Msg, resp *dns.Msg), mod func(*Config)) (*testEnv, func() []string) {
	var mu sync.Mutex
	var asked []string
	z := zone(t, "example.com.", "averylongname A 192.0.2.1\nmail MX 10 mx.example.com.\nmx A 192.0.2.2")
	e := newEnv(t, func(f *fakeNet) {
		f.set("127.0.1.1", zone(t, "com.", "example NS ns1.example\nns1.example A 127.0.1.2"))
		f.set("127.0.1.2", func(n string, q *dns.Msg) (*dns.Msg, error) {
			mu.Lock()
			asked = append(asked, q.Question[0].Name)
			mu.Unlock()
			resp, err := z(n, q)
			if err == nil && echo != nil {
				echo(q, resp)
			}
			return resp, err
		})
	}, func(c *Config) {
		c.DisableQNAMEMinimisation = true // one query per name to example.com's server
		if mod != nil {
			mod(c)
		}
	})
	return e, func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := asked
		asked = nil
		return out
	}
}

// TestCase0x20: names go out with a random case per letter (0x20, on by
// default), the echoed reply is accepted, and neither the reply nor the
// cache carries our random spelling (servers compress against it).
func TestCase0x20(t *testing.T) {
	e, asked := caseWorld(t, nil, nil)
	m, err := e.resolve(t, "averylongname.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", m, err)
	}
	got := asked()
	// 20 letters: all lower case by chance once in a million.
	if len(got) != 1 || got[0] == "averylongname.example.com." || !strings.EqualFold(got[0], "averylongname.example.com.") {
		t.Fatalf("asked %q, want one mixed-case query", got)
	}
	if n := m.Answer[0].Header().Name; n != "averylongname.example.com." {
		t.Fatalf("answer owner %q carries the query's case", n)
	}
	m, err = e.resolve(t, "mail.example.com.", dns.TypeMX)
	if err != nil || len(m.Answer) != 1 || m.Answer[0].(*dns.MX).Mx != "mx.example.com." {
		t.Fatalf("MX: %v %v", m, err)
	}
}

// TestCase0x20NotEchoed: a server that answers with the question in lower
// case is asked again in lower case, the answer is used, and it is asked
// in lower case from then on.
func TestCase0x20NotEchoed(t *testing.T) {
	lowerQ := func(_ *dns.Msg, resp *dns.Msg) { resp.Question[0].Name = strings.ToLower(resp.Question[0].Name) }
	e, asked := caseWorld(t, lowerQ, nil)
	m, err := e.resolve(t, "averylongname.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", m, err)
	}
	got := asked()
	if len(got) != 2 || got[0] == got[1] || got[1] != "averylongname.example.com." {
		t.Fatalf("asked %q, want a mixed-case query then the lower-case retry", got)
	}
	if m, err := e.resolve(t, "mx.example.com.", dns.TypeA); err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", m, err)
	}
	if got := asked(); len(got) != 1 || got[0] != "mx.example.com." {
		t.Fatalf("asked %q, want one lower-case query: the server is remembered", got)
	}
}

// TestCaseInsensitiveWithout0x20: with 0x20 off (for the resolver or for
// a server), a reply whose question differs from ours only in case is the
// reply: used at once, not dropped.
func TestCaseInsensitiveWithout0x20(t *testing.T) {
	upperQ := func(_ *dns.Msg, resp *dns.Msg) { resp.Question[0].Name = strings.ToUpper(resp.Question[0].Name) }
	e, asked := caseWorld(t, upperQ, func(c *Config) { c.Disable0x20 = true })
	m, err := e.resolve(t, "averylongname.example.com.", dns.TypeA)
	if err != nil || len(m.Answer) != 1 {
		t.Fatalf("%v %v", m, err)
	}
	if got := asked(); len(got) != 1 || got[0] != "averylongname.example.com." {
		t.Fatalf("asked %q, want one lower-case query", got)
	}
}

// TestMixCase: only letters change, each independently.
func TestMixCase(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 256; i++ {
		m := mixCase("a-1.b\\.c.")
		if !strings.EqualFold(m, "a-1.b\\.c.") {
			t.Fatalf("%q", m)
		}
		seen[m] = true
	}
	if len(seen) != 8 {
		t.Fatalf("%d spellings of 3 letters in 256 draws, want all 8", len(seen))
	}
	if mixCase("1.2.3.") != "1.2.3." {
		t.Fatal("a name without letters changed")
	}
}

// TestCaseOverRealSockets: the default transport (a fresh socket per
// query) against a real server on loopback that does not echo the case
// (its replies carry the question in upper case): the first answer costs
// one retry in lower case, with 0x20 off none, and neither waits for an
// attempt timeout.
func TestCaseOverRealSockets(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		mu.Lock()
		asked = append(asked, q.Question[0].Name)
		mu.Unlock()
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		m.Question[0].Name = strings.ToUpper(q.Question[0].Name)
		rr, _ := dns.NewRR(strings.ToLower(q.Question[0].Name) + " 60 IN A 192.0.2.1")
		m.Answer = []dns.RR{rr}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	port := pc.LocalAddr().(*net.UDPAddr).Port
	for _, off := range []bool{false, true} {
		mu.Lock()
		asked = nil
		mu.Unlock()
		r, err := New(Config{
			RootHints: mustRRs(t, ".", ". NS a.root.test.\na.root.test. A 127.0.0.1"), Port: uint16(port),
			HealthInterval: -1, DisableIPv6: true, Disable0x20: off, QueryLocalhost: true,
			InitialTimeout: 5 * time.Second, UpstreamTimeout: 5 * time.Second, MinTimeout: 5 * time.Second, Deadline: 10 * time.Second,
		})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		m, err := r.Resolve(context.Background(), dns.Question{Name: "averylongname.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
		took := time.Since(start)
		r.Close()
		if err != nil || len(m.Answer) != 1 || took > 2*time.Second {
			t.Fatalf("0x20 off=%v: %v %v after %v", off, m, err, took)
		}
		mu.Lock()
		n := len(asked)
		mu.Unlock()
		want := 2 // QNAME minimisation: example. first, then the name
		if !off {
			want = 3 // example. (mixed, not echoed), example. (lower), the name (lower: remembered)
		}
		if n != want {
			t.Fatalf("0x20 off=%v: asked %q, want %d queries", off, asked, want)
		}
	}
}
