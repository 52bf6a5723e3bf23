package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// Query logging keeps the fast path (issue 19): with `log` or `dnstap` in
// the block, the fast path still answers, and its answers reach both
// plugins as the chain's do. These tests check, through the real binary,
// that the fast path answered (its own counter) and what log and dnstap
// saw of those answers.

// tapSocket is a dnstap collector on a unix socket: the frames resolverd
// sends to it arrive on the channel.
func tapSocket(t *testing.T) (string, <-chan []byte) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "tap.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	frames := make(chan []byte, 4096)
	// Not dnstap.FrameStreamSockInput: its accept loop spins once the
	// listener is closed, for the rest of the test binary.
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed
			}
			in, err := dnstap.NewFrameStreamInputTimeout(conn, true, 10*time.Second)
			if err != nil {
				conn.Close()
				continue
			}
			go in.ReadInto(frames)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return sock, frames
}

// exchange is one query on the wire, as the client saw it.
type exchange struct {
	client         *net.UDPAddr
	query, answer  []byte
	sent, received time.Time
	id             uint16
}

// ask sends name A from a socket of its own (its own source port) and
// returns the octets sent and received.
func (n *node) ask(name string, id uint16) exchange {
	n.t.Helper()
	return n.askClass(name, dns.TypeA, dns.ClassINET, id)
}

func (n *node) askClass(name string, qtype, class uint16, id uint16) exchange {
	n.t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Question[0].Qclass = class
	m.Id = id
	m.SetEdns0(1232, false)
	pkt, err := m.Pack()
	if err != nil {
		n.t.Fatal(err)
	}
	c, err := net.Dial("udp", n.addr())
	if err != nil {
		n.t.Fatal(err)
	}
	defer c.Close()
	x := exchange{client: c.LocalAddr().(*net.UDPAddr), query: pkt, id: id, sent: time.Now()}
	if _, err := c.Write(pkt); err != nil {
		n.t.Fatal(err)
	}
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	k, err := c.Read(buf)
	if err != nil {
		n.t.Fatalf("%s: %v", name, err)
	}
	x.received, x.answer = time.Now(), buf[:k]
	return x
}

const fastPrebuilt = `coredns_fastpath_responses_total{path="prebuilt"`

// warmFast asks name until the fast path answers it itself (its answers
// are built at the first query of a revision; until then the chain answers).
func (n *node) warmFast(name string) {
	n.t.Helper()
	for i := 0; i < 100; i++ {
		before := n.metric(fastPrebuilt)
		n.ask(name, 0)
		if n.metric(fastPrebuilt) > before {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	n.t.Fatalf("the fast path never answered %s", name)
}

// askFast asks name count times and checks the fast path answered each.
func (n *node) askFast(name string, count int) []exchange {
	n.t.Helper()
	before := n.metric(fastPrebuilt)
	var out []exchange
	for i := range count {
		out = append(out, n.ask(name, uint16(1000+i)))
	}
	// The fast path counts an answer just after sending it: the last one
	// may be counted a moment after the client has it.
	got := 0.0
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if got = n.metric(fastPrebuilt) - before; got == float64(count) || time.Now().After(deadline) {
			break
		}
	}
	if got != float64(count) {
		n.t.Fatalf("the fast path answered %v of %d queries, want all", got, count)
	}
	return out
}

// collectTap reads the tap's messages until done says the last one read
// ends what the test waits for (bounded: 15 s), then for 300 ms more, so
// that a message sent twice would be among them.
func collectTap(t *testing.T, frames <-chan []byte, done func(*dnstap.Message) bool) []*dnstap.Message {
	t.Helper()
	var out []*dnstap.Message
	read := func(f []byte) *dnstap.Message {
		var d dnstap.Dnstap
		if err := proto.Unmarshal(f, &d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d.GetMessage())
		return d.GetMessage()
	}
	deadline := time.After(15 * time.Second)
	for finished := false; !finished; {
		select {
		case f := <-frames:
			finished = done(read(f))
		case <-deadline:
			t.Fatalf("timed out reading dnstap frames (%d read)", len(out))
		}
	}
	for settle := time.After(300 * time.Millisecond); ; {
		select {
		case f := <-frames:
			read(f)
		case <-settle:
			return out
		}
	}
}

// isResponseTo: m is the CLIENT_RESPONSE to a query from port.
func isResponseTo(m *dnstap.Message, port int) bool {
	return m.GetType() == dnstap.Message_CLIENT_RESPONSE && m.GetQueryPort() == uint32(port)
}

// TestDnstapSeesFastPathAnswers: with `dnstap ... full` in the block the
// fast path stays on, and every answer it writes reaches the tap as a
// CLIENT_QUERY and a CLIENT_RESPONSE: the client's address and port over
// UDP, the octets that were on the wire, and the fast path's times (the
// query's inside the client's exchange, the response's not before it). An
// answer of the chain reaches the tap once (dnstap in the chain), not a
// second time through the fast path.
func TestDnstapSeesFastPathAnswers(t *testing.T) {
	sock, frames := tapSocket(t)
	n := startLoggingNode(t, "fastpath\n    dnstap unix://"+sock+" full", nil)
	const count = 20
	asked := n.askFast("www.corp.internal.", count)
	// The chain answers version.config. (gitops, CHAOS).
	chain := n.askClass("version.config.", dns.TypeTXT, dns.ClassCHAOS, 7)

	byPort := map[uint32]exchange{}
	for _, x := range asked {
		byPort[uint32(x.client.Port)] = x
	}
	queries, responses := map[uint32]int{}, map[uint32]int{}
	chainResponses := 0
	msgs := collectTap(t, frames, func(m *dnstap.Message) bool { return isResponseTo(m, chain.client.Port) })
	for _, m := range msgs {
		if isResponseTo(m, chain.client.Port) {
			chainResponses++
		}
		x, ok := byPort[m.GetQueryPort()]
		if !ok {
			continue
		}
		if m.GetSocketProtocol() != dnstap.SocketProtocol_UDP || m.GetSocketFamily() != dnstap.SocketFamily_INET || !net.IP(m.GetQueryAddress()).Equal(x.client.IP) {
			t.Errorf("port %d: protocol %v family %v address %v, want UDP INET %v", x.client.Port, m.GetSocketProtocol(), m.GetSocketFamily(), net.IP(m.GetQueryAddress()), x.client.IP)
		}
		qt := time.Unix(int64(m.GetQueryTimeSec()), int64(m.GetQueryTimeNsec()))
		if qt.Before(x.sent) || qt.After(x.received) {
			t.Errorf("port %d: query time %v outside the client's exchange [%v, %v]", x.client.Port, qt, x.sent, x.received)
		}
		switch m.GetType() {
		case dnstap.Message_CLIENT_QUERY:
			queries[m.GetQueryPort()]++
			if !bytes.Equal(m.GetQueryMessage(), x.query) {
				t.Errorf("port %d: tapped query %x, sent %x", x.client.Port, m.GetQueryMessage(), x.query)
			}
		case dnstap.Message_CLIENT_RESPONSE:
			responses[m.GetQueryPort()]++
			if !bytes.Equal(m.GetResponseMessage(), x.answer) {
				t.Errorf("port %d: tapped response %x, received %x", x.client.Port, m.GetResponseMessage(), x.answer)
			}
			rt := time.Unix(int64(m.GetResponseTimeSec()), int64(m.GetResponseTimeNsec()))
			if rt.Before(qt) || rt.After(x.received) {
				t.Errorf("port %d: response time %v not in [query time %v, received %v]", x.client.Port, rt, qt, x.received)
			}
		}
	}
	for port := range byPort {
		if queries[port] != 1 || responses[port] != 1 {
			t.Errorf("port %d: %d CLIENT_QUERY and %d CLIENT_RESPONSE tapped, want one each", port, queries[port], responses[port])
		}
	}
	if chainResponses != 1 {
		t.Errorf("the chain's answer to version.config. tapped %d times, want once", chainResponses)
	}
}

// TestDnstapSampledFastPathAnswers: with `log_sample 10`, about one in ten
// of the fast path's answers reaches the tap (each at random: 500 answers
// give 50 on average, fewer than 20 or more than 90 once in millions of
// runs), and the fast path answered every query.
func TestDnstapSampledFastPathAnswers(t *testing.T) {
	sock, frames := tapSocket(t)
	n := startLoggingNode(t, "fastpath {\n        log_sample 10\n    }\n    dnstap unix://"+sock, nil)
	const count = 500
	asked := n.askFast("www.corp.internal.", count)
	ports := map[uint32]bool{}
	for _, x := range asked {
		ports[uint32(x.client.Port)] = true
	}
	chain := n.askClass("version.config.", dns.TypeTXT, dns.ClassCHAOS, 7)
	sampled := 0
	for _, m := range collectTap(t, frames, func(m *dnstap.Message) bool { return isResponseTo(m, chain.client.Port) }) {
		if m.GetType() == dnstap.Message_CLIENT_RESPONSE && ports[m.GetQueryPort()] {
			sampled++
		}
	}
	if sampled < 20 || sampled > 90 {
		t.Errorf("%d of %d fast-path answers tapped with log_sample 10, want about 50", sampled, count)
	}
	if d := n.metric("coredns_fastpath_log_dropped_total"); d != 0 {
		t.Errorf("%v samples dropped", d)
	}
}

// TestLogSeesFastPathAnswers: with `log` in the block the fast path stays
// on, and each answer it writes gets the log plugin's line on the
// process's stdout, in the chain's format: client address and port, id,
// question, protocol, the sizes on the wire, rcode and flags.
func TestLogSeesFastPathAnswers(t *testing.T) {
	n := startLoggingNode(t, "fastpath\n    log", nil)
	const count = 20
	asked := n.askFast("www.corp.internal.", count)
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		text := n.logText()
		missing = missing[:0]
		for _, x := range asked {
			// CoreDNS's common log format, as the chain's answers get it.
			line := regexp.MustCompile(fmt.Sprintf(`\[INFO\] %s:%d - %d "A IN www\.corp\.internal\. udp %d false 1232" NOERROR qr,aa,rd,ra %d [0-9.e-]+s\n`,
				regexp.QuoteMeta(x.client.IP.String()), x.client.Port, x.id, len(x.query), len(x.answer)))
			if got := len(line.FindAllString(text, -1)); got != 1 {
				missing = append(missing, fmt.Sprintf("%d line(s) for port %d id %d", got, x.client.Port, x.id))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("log lines of fast-path answers: %s\n%s", strings.Join(missing, "; "), n.logText())
	}
}

// TestFastPathNeverWaitsForTheLog: when the log cannot be written (stdout
// is a pipe nobody reads), the fast path goes on answering at once: the
// answers it cannot hand to the log are dropped from it and counted in
// coredns_fastpath_log_dropped_total, never delayed. (CoreDNS's log plugin
// writes in the chain: there, the chain's answers wait for stdout.)
func TestFastPathNeverWaitsForTheLog(t *testing.T) {
	stuck, stdout, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		go io.Copy(io.Discard, stuck) // unblock the node's writers so it can stop
	})
	n := startLoggingNode(t, "fastpath\n    log", func(n *node) { n.stdout = stdout })
	stdout.Close() // the child's copy stays open
	// A pipe holds 64 KiB, about 550 log lines, and the queue 4096 samples:
	// 6000 answers fill both.
	const count = 6000
	n.askFast("www.corp.internal.", count)
	if d := n.metric("coredns_fastpath_log_dropped_total"); d < 1000 {
		t.Errorf("%v answers dropped from the log, want at least 1000 of %d once stdout is stuck", d, count)
	}
}

// startLoggingNode starts a node on the base config whose block has the
// fastpath lines given (with log or dnstap), before(n) applied first when
// set, waits until it serves the head and the fast path answers
// www.corp.internal. itself, and fails if the fast path stepped aside.
func startLoggingNode(t *testing.T, fastpath string, before func(*node)) *node {
	t.Helper()
	repo := newConfigRepo(t, baseFiles())
	ref, err := repo.repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	n := newClusterNode(t, repo.dir, t.TempDir(), nodeSpec{fastpath: fastpath})
	if before != nil {
		before(n)
	}
	n.start()
	n.waitServed(ref.Hash().String(), 30*time.Second)
	if strings.Contains(n.logText(), "disabled") {
		t.Fatalf("the fast path stepped aside:\n%s", n.logText())
	}
	n.warmFast("www.corp.internal.")
	return n
}
