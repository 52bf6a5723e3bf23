package fastpath

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/fastpath/udpio"
	"github.com/gitops-dns/resolverd/node"
)

// observed is one Observe call, copied.
type observed struct {
	query, answer []byte
	client        string
	read          time.Time
}

type recordingObserver struct {
	mu  sync.Mutex
	got []observed
}

func (o *recordingObserver) Observe(query, answer []byte, client *net.UDPAddr, read time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, observed{bytes.Clone(query), bytes.Clone(answer), client.String(), read})
}

func (o *recordingObserver) calls() []observed {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]observed(nil), o.got...)
}

// TestObserverHearsFastAnswers: over a real socket, the observer hears
// each answer the fast path writes itself, with the query and the answer
// exactly as they went on the wire, the client's address and the time the
// query was read; an answer the slow path writes is not observed (it passes
// the chain's own log and dnstap).
func TestObserverHearsFastAnswers(t *testing.T) {
	snap := testSnapshot(t)
	g := listenLoopback(t)
	obs := &recordingObserver{}
	s := &Server{
		Source:   func() *node.Snapshot { return snap },
		Observer: obs,
		Slow: func(c *udpio.Conn, pkt []byte, from *net.UDPAddr, _ *Query, _ uint64) {
			var m dns.Msg
			if m.Unpack(pkt) == nil {
				m.SetRcode(&m, dns.RcodeRefused)
				if b, err := m.Pack(); err == nil {
					c.WriteTo(b, from)
				}
			}
		},
	}
	s.rebuild() // the answers of snap, before the first query
	go s.Serve(g.Conns()[0])
	server := g.Conns()[0].LocalAddr().String()

	c, err := net.Dial("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(name string) (sent, answer []byte) {
		t.Helper()
		sent = pack(t, query(name, dns.TypeA, true, false))
		if _, err := c.Write(sent); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return sent, buf[:n]
	}

	before := time.Now()
	q, a := exchange("www.example.internal.")
	after := time.Now()
	var m dns.Msg
	if err := m.Unpack(a); err != nil || m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		t.Fatalf("www: %v %v, want the precomputed answer", &m, err)
	}
	exchange("elsewhere.test.") // the slow path answers (REFUSED)

	got := obs.calls()
	if len(got) != 1 {
		t.Fatalf("%d answers observed, want the fast path's one: %+v", len(got), got)
	}
	o := got[0]
	if !bytes.Equal(o.query, q) {
		t.Errorf("observed query %x, sent %x", o.query, q)
	}
	if !bytes.Equal(o.answer, a) {
		t.Errorf("observed answer %x, received %x", o.answer, a)
	}
	if o.client != c.LocalAddr().String() {
		t.Errorf("observed client %s, want %s", o.client, c.LocalAddr())
	}
	if o.read.Before(before) || o.read.After(after) {
		t.Errorf("observed read time %v outside the exchange [%v, %v]", o.read, before, after)
	}
}

// listenLoopback opens a group of one socket on a free port of 127.0.0.1
// (udpio wants a fixed port: it picks one that was free a moment ago).
func listenLoopback(t *testing.T) *udpio.Group {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := pc.LocalAddr().String()
		pc.Close()
		if g, err := udpio.Listen(addr, udpio.Options{Sockets: 1}); err == nil {
			t.Cleanup(func() { g.Close() })
			return g
		}
	}
	t.Fatal("no free UDP port on 127.0.0.1")
	return nil
}
