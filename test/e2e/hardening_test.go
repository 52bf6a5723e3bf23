package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The listener and protocol half of issue 13: one bad packet or one
// greedy client must not change what other clients get. Each test drives
// the real binary over real sockets on loopback.

// hardenedNode starts a node serving corp.internal. whose cluster forwards
// slow.test. to a server on loopback that answers after delay, and lets
// only 127.0.0.1 recurse.
func hardenedNode(t *testing.T, delay time.Duration, fastpath string) (*node, *atomic.Int32) {
	return forwardingNode(t, delay, nodeSpec{fastpath: fastpath})
}

// forwardingNode is hardenedNode with the node's spec.
func forwardingNode(t *testing.T, delay time.Duration, spec nodeSpec) (*node, *atomic.Int32) {
	t.Helper()
	slow, asked := slowServer(t, delay)
	repo := newConfigRepo(t, baseFiles())
	n := newClusterNode(t, repo.dir, t.TempDir(), spec)
	head := repo.commit("forward slow.test., recursion for 127.0.0.1 only", map[string]string{
		"clusters/dev.yaml": fmt.Sprintf(`name: dev
environment: staging
track: refs/heads/main
nodes:
  - {name: local, address: 127.0.0.1, port: %d}
forward:
  - zone: slow.test.
    to: ["%s"]
recursion:
  allow: [127.0.0.1/32]
`, n.port, slow),
	})
	n.start()
	n.waitServed(head, 30*time.Second)
	return n, asked
}

// slowServer answers every A question with 198.18.99.1 after delay, over
// UDP and TCP on one loopback port.
func slowServer(t *testing.T, delay time.Duration) (string, *atomic.Int32) {
	t.Helper()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	asked := new(atomic.Int32)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		asked.Add(1)
		time.Sleep(delay)
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if r.Question[0].Qtype == dns.TypeA {
			rr, _ := dns.NewRR(r.Question[0].Name + " 60 IN A 198.18.99.1")
			m.Answer = append(m.Answer, rr)
		}
		w.WriteMsg(m)
	})
	serveUDPAndTCP(t, addr, h)
	return addr, asked
}

// rawUDP sends pkt from a socket bound to local ("" = any loopback port)
// and returns the reply, nil when none comes within 5 s.
func rawUDP(t *testing.T, local, addr string, pkt []byte) []byte {
	t.Helper()
	var laddr *net.UDPAddr
	if local != "" {
		laddr = &net.UDPAddr{IP: net.ParseIP(local)}
	}
	raddr, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", laddr, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(pkt); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 65535)
	k, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:k]
}

// rawTCP sends pkt on a new connection and returns the reply.
func rawTCP(t *testing.T, addr string, pkt []byte) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(6 * time.Second))
	writeTCP(t, c, pkt)
	b, err := readTCP(c)
	if err != nil {
		return nil
	}
	return b
}

func writeTCP(t *testing.T, c net.Conn, pkt []byte) {
	t.Helper()
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(pkt))), pkt...)); err != nil {
		t.Fatal(err)
	}
}

func readTCP(c net.Conn) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err := io.ReadFull(c, b)
	return b, err
}

// exchangeBoth sends pkt over UDP and TCP and unpacks each reply.
func exchangeBoth(t *testing.T, addr string, pkt []byte) map[string]*dns.Msg {
	t.Helper()
	out := map[string]*dns.Msg{}
	for netw, b := range map[string][]byte{"udp": rawUDP(t, "", addr, pkt), "tcp": rawTCP(t, addr, pkt)} {
		if b == nil {
			t.Fatalf("%s: no reply", netw)
		}
		m := new(dns.Msg)
		if err := m.Unpack(b); err != nil {
			t.Fatalf("%s: reply %x does not unpack: %v", netw, b, err)
		}
		out[netw] = m
	}
	return out
}

func packed(t *testing.T, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOnlyQueryIsAQuery: a NOTIFY (and every other opcode but QUERY) is
// NOTIMP over both transports, never answered as a query: on an internal
// name (which the fast path would answer) and on a forwarded one (which
// would recurse).
func TestOnlyQueryIsAQuery(t *testing.T) {
	n, asked := hardenedNode(t, 0, "")
	for _, tc := range []struct {
		opcode int
		name   string
	}{
		{dns.OpcodeNotify, "www.corp.internal."},
		{dns.OpcodeNotify, "host.slow.test."},
		{dns.OpcodeUpdate, "www.corp.internal."},
		{dns.OpcodeStatus, "www.corp.internal."},
		{3, "host.slow.test."},
	} {
		m := new(dns.Msg)
		m.SetQuestion(tc.name, dns.TypeA)
		m.Opcode = tc.opcode
		for netw, r := range exchangeBoth(t, n.addr(), packed(t, m)) {
			if r.Rcode != dns.RcodeNotImplemented || r.Opcode != tc.opcode || len(r.Answer) != 0 {
				t.Errorf("%s opcode %s %s: rcode %s opcode %s, %d answers; want NOTIMP, the opcode echoed, no answer",
					netw, dns.OpcodeToString[tc.opcode], tc.name, dns.RcodeToString[r.Rcode], dns.OpcodeToString[r.Opcode], len(r.Answer))
			}
		}
	}
	if k := asked.Load(); k != 0 {
		t.Errorf("the forwarder was asked %d times for non-QUERY messages", k)
	}
}

// TestMalformedQueries: two OPT records (RFC 6891 6.1.1) and a header that
// claims a question it does not carry are FORMERR; an EDNS version we do
// not speak is BADVERS with an OPT record that advertises our payload size.
func TestMalformedQueries(t *testing.T) {
	n, _ := hardenedNode(t, 0, "")

	twoOPT := new(dns.Msg)
	twoOPT.SetQuestion("www.corp.internal.", dns.TypeA)
	twoOPT.SetEdns0(1232, false)
	twoOPT.Extra = append(twoOPT.Extra, twoOPT.Extra[0])
	for netw, r := range exchangeBoth(t, n.addr(), packed(t, twoOPT)) {
		if r.Rcode != dns.RcodeFormatError || len(r.Answer) != 0 {
			t.Errorf("%s: two OPT records: rcode %s, %d answers; want FORMERR", netw, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	}

	// QDCOUNT=1, RD, and nothing after the header.
	noQuestion := []byte{0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for netw, r := range exchangeBoth(t, n.addr(), noQuestion) {
		if r.Rcode != dns.RcodeFormatError || r.Id != 0xabcd {
			t.Errorf("%s: QDCOUNT=1 without a question: rcode %s id %x; want FORMERR", netw, dns.RcodeToString[r.Rcode], r.Id)
		}
	}

	v1 := new(dns.Msg)
	v1.SetQuestion("www.corp.internal.", dns.TypeA)
	v1.SetEdns0(4096, true)
	v1.IsEdns0().SetVersion(1)
	for netw, r := range exchangeBoth(t, n.addr(), packed(t, v1)) {
		opt := r.IsEdns0()
		if r.Rcode != dns.RcodeBadVers || opt == nil || opt.Version() != 0 {
			t.Errorf("%s: EDNS version 1: rcode %s, OPT %v; want BADVERS with version 0", netw, dns.RcodeToString[r.Rcode], opt)
			continue
		}
		if opt.UDPSize() != 1232 {
			t.Errorf("%s: BADVERS advertises a payload size of %d, want the node's 1232", netw, opt.UDPSize())
		}
	}
}

// TestRecursionAvailable: RA tells a client whether it may recurse here,
// on every response: internal answers from the fast path (UDP) and from the
// authority plugin (TCP), SERVFAILs; and not for a client outside
// recursion.allow. dig does not warn "recursion requested but not
// available" on an internal name.
func TestRecursionAvailable(t *testing.T) {
	n, _ := hardenedNode(t, 0, "")
	q := new(dns.Msg)
	q.SetQuestion("www.corp.internal.", dns.TypeA)
	q.SetEdns0(1232, false)
	for netw, r := range exchangeBoth(t, n.addr(), packed(t, q)) {
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !r.RecursionAvailable {
			t.Errorf("%s: www.corp.internal. from 127.0.0.1: rcode %s, %d answers, RA %v; want the answer with RA", netw, dns.RcodeToString[r.Rcode], len(r.Answer), r.RecursionAvailable)
		}
	}
	// 127.0.0.2 may not recurse: the internal answer, without RA.
	for i := 0; i < 3; i++ { // the fast path answers from its second sighting on, whichever path
		b := rawUDP(t, "127.0.0.2", n.addr(), packed(t, q))
		r := new(dns.Msg)
		if b == nil || r.Unpack(b) != nil || r.Rcode != dns.RcodeSuccess || r.RecursionAvailable {
			t.Fatalf("www.corp.internal. from 127.0.0.2 (no recursion): %v; want the answer without RA", r)
		}
	}
	port := strings.TrimPrefix(n.addr(), "127.0.0.1:")
	for _, tcp := range []string{"+notcp", "+tcp"} {
		out := dig(t, "@127.0.0.1", "-p", port, tcp, "www.corp.internal", "A")
		if strings.Contains(out, "recursion requested but not available") || !strings.Contains(out, " ra") {
			t.Errorf("dig %s www.corp.internal:\n%s", tcp, out)
		}
	}

	// A name whose resolution fails (the root of this test's internet is
	// a dead loopback address): SERVFAIL, with RA, saying why.
	q.SetQuestion("nowhere.example.", dns.TypeA)
	for netw, r := range exchangeBoth(t, n.addr(), packed(t, q)) {
		if r.Rcode != dns.RcodeServerFailure || !r.RecursionAvailable {
			t.Errorf("%s: nowhere.example.: rcode %s RA %v; want SERVFAIL with RA", netw, dns.RcodeToString[r.Rcode], r.RecursionAvailable)
		}
		if ede := extendedError(r); ede == nil {
			t.Errorf("%s: SERVFAIL without an Extended DNS Error: %v", netw, r)
		}
	}
}

func extendedError(m *dns.Msg) *dns.EDNS0_EDE {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				return e
			}
		}
	}
	return nil
}

// TestNotReadyExplained: before any revision is served (the config repo
// cannot be reached yet), queries get SERVFAIL with EDE 2 (Not Ready) and RA,
// over both transports, CHAOS version.config. included.
func TestNotReadyExplained(t *testing.T) {
	// A remote nobody answers (a missing local path would stop the process
	// at start: a Corefile mistake).
	n := newNode(t, fmt.Sprintf("git://127.0.0.1:%d/config", freePort(t)), t.TempDir())
	n.start()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", n.addr(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node does not listen: %v\n%s", err, n.logText())
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, q := range []struct {
		name  string
		class uint16
		qtype uint16
	}{{"www.corp.internal.", dns.ClassINET, dns.TypeA}, {"version.config.", dns.ClassCHAOS, dns.TypeTXT}} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.Question[0].Qclass = q.class
		m.SetEdns0(1232, false)
		for netw, r := range exchangeBoth(t, n.addr(), packed(t, m)) {
			e := extendedError(r)
			if r.Rcode != dns.RcodeServerFailure || e == nil || e.InfoCode != dns.ExtendedErrorCodeNotReady {
				t.Errorf("%s %s before the first revision: rcode %s, EDE %v; want SERVFAIL with EDE 2 (Not Ready)", netw, q.name, dns.RcodeToString[r.Rcode], e)
			}
		}
	}
}

// TestTCPPipelinedOutOfOrder: five queries pipelined on one connection,
// the first slow: the four others are answered before it (RFC 7766
// 6.2.1.1), not held up behind it.
func TestTCPPipelinedOutOfOrder(t *testing.T) {
	n, _ := hardenedNode(t, time.Second, "")
	c, err := net.DialTimeout("tcp", n.addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	names := []string{"host.slow.test.", "www.corp.internal.", "db.corp.internal.", "intranet.corp.internal.", "ns1.corp.internal."}
	for i, name := range names {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.Id = uint16(i + 1)
		writeTCP(t, c, packed(t, m))
	}
	var order []uint16
	for range names {
		b, err := readTCP(c)
		if err != nil {
			t.Fatalf("after %v: %v", order, err)
		}
		r := new(dns.Msg)
		if err := r.Unpack(b); err != nil || len(r.Answer) == 0 {
			t.Fatalf("reply %x: %v %v", b, r, err)
		}
		order = append(order, r.Id)
	}
	if order[len(order)-1] != 1 {
		t.Fatalf("answers came in the order %v: the slow first query (id 1) held up the others", order)
	}
}

// TestTCPConnectionBounds: with room for 3 connections, 2 per client, a
// third connection from one address closes that client's longest-idle
// connection, and a connection beyond the total closes the longest-idle
// of all; connections that remain keep being answered.
func TestTCPConnectionBounds(t *testing.T) {
	n, _ := hardenedNode(t, 0, "fastpath {\n        tcp_connections 3\n        tcp_per_client 2\n    }")
	dial := func(local string) net.Conn {
		t.Helper()
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", n.addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ask := func(c net.Conn) error {
		m := new(dns.Msg)
		m.SetQuestion("www.corp.internal.", dns.TypeA)
		c.SetDeadline(time.Now().Add(time.Second))
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(packed(t, m)))), packed(t, m)...)); err != nil {
			return err
		}
		_, err := readTCP(c)
		return err
	}
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(time.Second))
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	a := dial("127.0.0.1")
	if err := ask(a); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	b := dial("127.0.0.1")
	if err := ask(b); err != nil {
		t.Fatal(err)
	}
	c := dial("127.0.0.1") // a third from 127.0.0.1: a, the longest idle, goes
	if err := ask(c); err != nil {
		t.Fatalf("the third connection of a client is not served: %v", err)
	}
	if !closed(a) {
		t.Fatal("a client's third connection did not close its longest-idle one")
	}
	if err := ask(b); err != nil {
		t.Fatalf("the client's other connection was closed too: %v", err)
	}
	// Idle orders are set by the time of the last answer: leave gaps a
	// loaded machine cannot blur (the server's bookkeeping after an answer
	// may run a little after the client read it).
	time.Sleep(200 * time.Millisecond)
	d := dial("127.0.0.2") // total now 3: b, c, d
	if err := ask(d); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := ask(c); err != nil { // c is now more recent than b
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	e := dial("127.0.0.3") // beyond the total: b, the longest idle, goes
	if err := ask(e); err != nil {
		t.Fatalf("a connection beyond the total is not served: %v", err)
	}
	if !closed(b) {
		t.Fatal("a connection beyond the total did not close the longest-idle one")
	}
	for name, conn := range map[string]net.Conn{"c": c, "d": d, "e": e} {
		if err := ask(conn); err != nil {
			t.Errorf("connection %s: %v", name, err)
		}
	}
}

// TestSecondProcessRefused: a second resolverd on the address (and metrics
// port) of a running one exits non-zero naming the address, and the first
// keeps every query: none of them lands on the second, none is SERVFAIL.
func TestSecondProcessRefused(t *testing.T) {
	repo := newConfigRepo(t, baseFiles())
	head, _ := repo.repo.Head()
	first := newNode(t, repo.dir, t.TempDir())
	first.start()
	first.waitServed(head.Hash().String(), 30*time.Second)

	// Same ports, its own state directory, a repository it cannot read
	// (it would serve nothing: SERVFAIL for all it takes).
	second := &node{t: t, bindAddr: first.bindAddr, port: first.port, metrics: first.metrics, read: first.read, state: t.TempDir()}
	second.writeCorefile(t.TempDir()+"/no-such-repo", nodeSpec{bind: "127.0.0.1", ref: "refs/heads/main", cluster: "dev", name: "local", fastpath: "fastpath"})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, resolverdBin, "-conf", second.corefile).CombinedOutput()
	var exit *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("the second resolverd on %s did not refuse to start (err %v):\n%s", first.addr(), err, out)
	}
	if !strings.Contains(string(out), first.addr()) {
		t.Errorf("the refusal does not name the address %s:\n%s", first.addr(), out)
	}
	for i := 0; i < 50; i++ {
		for _, netw := range []string{"udp", "tcp"} {
			r, err := first.query(netw, "www.corp.internal.", dns.TypeA, dns.ClassINET)
			if err != nil || r.Rcode != dns.RcodeSuccess {
				t.Fatalf("query %d over %s after the second start: %v %v", i, netw, r, err)
			}
		}
	}
}

// TestTCPIdleClosed: a TCP connection that sends nothing, at first or after
// an answer, is closed after the 3 s idle timeout (it holds a slot of the
// bounds otherwise).
func TestTCPIdleClosed(t *testing.T) {
	n, _ := hardenedNode(t, 0, "")
	for _, ask := range []bool{false, true} {
		c, err := net.DialTimeout("tcp", n.addr(), 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if ask {
			m := new(dns.Msg)
			m.SetQuestion("www.corp.internal.", dns.TypeA)
			writeTCP(t, c, packed(t, m))
			if _, err := readTCP(c); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("asked %v: a silent connection still open after %v: %v", ask, time.Since(start), err)
		}
		if waited := time.Since(start); waited < 2*time.Second {
			t.Fatalf("asked %v: closed after %v, before the idle timeout", ask, waited)
		}
		c.Close()
	}
}
