package fastpath

import (
	"bytes"
	"context"
	"maps"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/dnstap"
	corelog "github.com/coredns/coredns/plugin/log"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/pkg/response"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// commonLogger is the log plugin as `log` with no argument sets it up.
func commonLogger() corelog.Logger {
	return corelog.Logger{Rules: []corelog.Rule{{NameScope: ".", Class: map[response.Class]struct{}{response.All: {}}, Format: corelog.DefaultLogFormat}}}
}

// captureLog sends CoreDNS's log output to a buffer until the test ends.
func captureLog(t *testing.T) *syncBuffer {
	b := &syncBuffer{}
	clog.SetOutput(b)
	t.Cleanup(func() { clog.SetOutput(os.Stderr) })
	return b
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSuffix(s.b.String(), "\n"), "\n")
}

// waitLogLines waits (bounded: 5 s) until out holds want[s] lines
// containing s, for each s, and fails if it holds another count.
func waitLogLines(t *testing.T, out *syncBuffer, want map[string]int) {
	t.Helper()
	var got map[string]int
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got = map[string]int{}
		for _, line := range out.lines() {
			for s := range want {
				if strings.Contains(line, s) {
					got[s]++
				}
			}
		}
		if maps.Equal(got, want) || time.Now().After(deadline) {
			break
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("log lines %v, want %v:\n%s", got, want, strings.Join(out.lines(), "\n"))
	}
}

// testExchange is a query and its answer on the wire, as the fast path
// would have them.
func testExchange(t testing.TB, id uint16) (query, answer []byte) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("www.corp.internal.", dns.TypeA)
	q.Id = id
	q.SetEdns0(1232, false)
	a := new(dns.Msg)
	a.SetReply(q)
	a.Authoritative, a.RecursionAvailable = true, true
	rr, _ := dns.NewRR("www.corp.internal. 300 IN A 198.18.5.80")
	a.Answer = []dns.RR{rr}
	a.SetEdns0(1232, false)
	a.Compress = true
	var err error
	if query, err = q.Pack(); err != nil {
		t.Fatal(err)
	}
	if answer, err = a.Pack(); err != nil {
		t.Fatal(err)
	}
	return query, answer
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

var (
	testClient = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 7).To4(), Port: 40123}
	testLocal  = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1).To4(), Port: 1053}
)

// TestReplayLogLineAsChain: a fast-path answer replayed through the log
// handler gives the line the chain's own pass through the same handler
// gives for the same exchange (client address and port, id, question,
// protocol, sizes, rcode, flags), but for the duration it measured and
// the time the line was written.
func TestReplayLogLineAsChain(t *testing.T) {
	out := captureLog(t)
	query, answer := testExchange(t, 4242)

	// The chain: log, then a plugin writing the answer.
	chain := commonLogger()
	chain.Next = plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
		m := new(dns.Msg)
		if err := m.Unpack(answer); err != nil {
			return dns.RcodeServerFailure, err
		}
		m.Compress = true
		w.WriteMsg(m)
		return dns.RcodeSuccess, nil
	})
	req := new(dns.Msg)
	if err := req.Unpack(query); err != nil {
		t.Fatal(err)
	}
	chain.ServeDNS(context.Background(), &replayWriter{local: testLocal, remote: testClient}, req)

	// The fast path: observed, queued, replayed.
	q, err := newQueryLog(commonLogger(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{q: q, local: testLocal, dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})}
	o.Observe(query, answer, testClient, time.Now())
	q.replay(<-q.queue)

	lines := out.lines()
	if len(lines) != 2 {
		t.Fatalf("log lines %q, want the chain's and the replay's", lines)
	}
	// The log's own date and time prefix is when the line was written
	// (the replay writes later, possibly in the next second) and the last
	// field is the duration: the rest must be the same.
	withoutTimes := func(s string) string {
		s = s[:strings.LastIndexByte(s, ' ')]
		if i := strings.Index(s, "[INFO] "); i >= 0 {
			s = s[i:]
		}
		return s
	}
	if withoutTimes(lines[0]) != withoutTimes(lines[1]) {
		t.Errorf("replayed line\n%s\nthe chain's\n%s", lines[1], lines[0])
	}
	want := `[INFO] 127.0.0.7:40123 - 4242 "A IN www.corp.internal. udp`
	if !strings.Contains(lines[1], want) || !strings.Contains(lines[1], `NOERROR qr,aa,rd,ra `+strconv.Itoa(len(answer))+` `) {
		t.Errorf("replayed line %q, want it to hold %q and give rcode, flags and the wire size %d", lines[1], want, len(answer))
	}
}

// TestQueryLogFullQueueDrops: while the replay is behind, Observe does not
// wait: a sample beyond the queue's room is dropped and counted, and the
// queued ones are all replayed once the replay runs.
func TestQueryLogFullQueueDrops(t *testing.T) {
	out := captureLog(t)
	q, err := newQueryLog(commonLogger(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "dropped"})
	o := &observer{q: q, local: testLocal, dropped: dropped}
	query, answer := testExchange(t, 1)
	const extra = 7
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range logQueue + extra {
			o.Observe(query, answer, testClient, time.Now())
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Observe blocked on a full queue")
	}
	if got := counterValue(t, dropped); got != extra {
		t.Errorf("dropped %v, want %d", got, extra)
	}
	go q.run()
	q.stop() // run replays what is queued, then returns
	waitLines := time.Now().Add(10 * time.Second)
	for len(out.lines()) < logQueue && time.Now().Before(waitLines) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(out.lines()); n != logQueue {
		t.Errorf("%d samples replayed, want the %d queued", n, logQueue)
	}
}

// TestQueryLogSamples: with log_sample N, each answer is kept with
// probability 1/N (4000 answers at N=4: 1000 on average, standard
// deviation 27; the bounds are more than 5 of them away).
func TestQueryLogSamples(t *testing.T) {
	for _, tc := range []struct {
		every    int
		min, max int
	}{{1, 4000, 4000}, {4, 850, 1150}} {
		q, err := newQueryLog(commonLogger(), nil, tc.every)
		if err != nil {
			t.Fatal(err)
		}
		o := &observer{q: q, local: testLocal, dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})}
		query, answer := testExchange(t, 1)
		for range 4000 {
			o.Observe(query, answer, testClient, time.Now())
		}
		if n := len(q.queue); n < tc.min || n > tc.max {
			t.Errorf("log_sample %d: %d of 4000 answers sampled, want %d..%d", tc.every, n, tc.min, tc.max)
		}
	}
}

// TestNewQueryLog: no replay without log or dnstap; one that is not
// CoreDNS's own (this build cannot replay into it) is an error, so the fast
// path steps aside rather than keep answers from it.
func TestNewQueryLog(t *testing.T) {
	if q, err := newQueryLog(nil, nil, 1); q != nil || err != nil {
		t.Errorf("neither: %v, %v; want nil, nil", q, err)
	}
	other := plugin.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) { return 0, nil })
	if _, err := newQueryLog(other, nil, 1); err == nil || !strings.Contains(err.Error(), "not CoreDNS's log") {
		t.Errorf("a foreign log handler: %v", err)
	}
	if _, err := newQueryLog(nil, other, 1); err == nil || !strings.Contains(err.Error(), "not CoreDNS's dnstap") {
		t.Errorf("a foreign dnstap handler: %v", err)
	}
	// Several dnstap lines chain: each is replayed into.
	second := &dnstap.Dnstap{Next: other}
	first := &dnstap.Dnstap{Next: second}
	q, err := newQueryLog(nil, first, 1)
	if err != nil || len(q.taps) != 2 || q.taps[0] != first || q.taps[1] != second || q.logger != nil {
		t.Errorf("two dnstap handlers: %+v, %v", q, err)
	}
}

// TestQueryLogParksWhenIdle: with nothing to replay the replay stops
// polling (an idle node is not woken every 2 ms), and a sample observed
// while it is parked is still replayed at once, after which it polls again.
func TestQueryLogParksWhenIdle(t *testing.T) {
	out := captureLog(t)
	q, err := newQueryLog(commonLogger(), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	o := &observer{q: q, local: testLocal, dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "d"})}
	query, answer := testExchange(t, 1)
	go q.run()
	defer q.stop()

	// Parked: idleTicks polls, then none. Wait until the count has
	// reached least and stops moving (below it, a count standing still is
	// a replay starved on a loaded machine, not a parked one), then make
	// sure it stays still for 100 polling periods.
	parked := func(least int64) int64 {
		deadline := time.Now().Add(10 * time.Second)
		for last := int64(-1); time.Now().Before(deadline); {
			time.Sleep(20 * replayEvery)
			n := q.ticks.Load()
			if n == last && n >= least {
				return n
			}
			last = n
		}
		t.Fatalf("after 10 s %d polls; want it parked after at least %d", q.ticks.Load(), least)
		return 0
	}
	n := parked(idleTicks)
	time.Sleep(100 * replayEvery)
	if got := q.ticks.Load(); got != n {
		t.Fatalf("%d polls while idle and parked, want none", got-n)
	}

	o.Observe(query, answer, testClient, time.Now())
	deadline := time.Now().Add(10 * time.Second)
	for len(out.lines()) < 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if len(out.lines()) != 1 {
		t.Fatalf("a sample observed while parked was not replayed: %q", out.lines())
	}
	// Back to polling (idleTicks polls more), then parked again once idle.
	parked(n + idleTicks)
}
