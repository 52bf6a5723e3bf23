package e2e

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestFirstAnswerThenBurst: once a freshly started node has answered its
// first query, it answers everything sent at once after it, from many source
// ports. The kernel spreads the ports over the fast path's reuseport group
// (and would over any socket of that group nobody reads), so a socket whose
// read loop had not started, or one left unread, would lose its share.
func TestFirstAnswerThenBurst(t *testing.T) {
	repo := newConfigRepo(t, baseFiles())
	n := newNode(t, repo.dir, t.TempDir())
	n.start()

	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := n.query("udp", "www.corp.internal.", dns.TypeA, dns.ClassINET)
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer within 30 s: %v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// At once: 10 sockets (10 source ports), 10 queries each.
	const ports, each = 10, 10
	questions := []struct {
		name  string
		qtype uint16
		rcode int
	}{
		{"www.corp.internal.", dns.TypeA, dns.RcodeSuccess},
		{"db.corp.internal.", dns.TypeA, dns.RcodeSuccess},
		{"ns1.corp.internal.", dns.TypeA, dns.RcodeSuccess},
		{"intranet.corp.internal.", dns.TypeA, dns.RcodeSuccess},
		{"www.corp.internal.", dns.TypeAAAA, dns.RcodeSuccess},
		{"nope.corp.internal.", dns.TypeA, dns.RcodeNameError},
	}
	conns := make([]*net.UDPConn, ports)
	for p := range conns {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, &net.UDPAddr{IP: net.ParseIP(n.bindAddr), Port: n.port})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[p] = c
	}
	want := map[string]int{} // "port/id" -> rcode
	for p, c := range conns {
		for i := 0; i < each; i++ {
			q := questions[(p*each+i)%len(questions)]
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.qtype)
			m.Id = uint16(p*each + i + 1)
			b, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Write(b); err != nil {
				t.Fatal(err)
			}
			want[fmt.Sprintf("%d/%d", p, m.Id)] = q.rcode
		}
	}

	readBy := time.Now().Add(5 * time.Second)
	buf := make([]byte, 65535)
	for p, c := range conns {
		if err := c.SetReadDeadline(readBy); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < each; got++ {
			k, err := c.Read(buf)
			if err != nil {
				break // the missing ones are reported below
			}
			r := new(dns.Msg)
			if err := r.Unpack(buf[:k]); err != nil {
				t.Errorf("port %d: unparsable reply: %v", p, err)
				continue
			}
			key := fmt.Sprintf("%d/%d", p, r.Id)
			rcode, ok := want[key]
			if !ok {
				t.Errorf("port %d: reply to an unknown or repeated id %d", p, r.Id)
				continue
			}
			if r.Rcode != rcode {
				t.Errorf("port %d id %d (%v): rcode %s, want %s", p, r.Id, r.Question, dns.RcodeToString[r.Rcode], dns.RcodeToString[rcode])
			}
			delete(want, key)
		}
	}
	if len(want) > 0 {
		t.Errorf("%d of %d queries sent right after the first answer got no reply within 5 s: %v", len(want), ports*each, want)
	}
}
