package fallback

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/gitops-dns/resolverd/node"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
)

// staticSource serves one fixed snapshot.
type staticSource struct{ snap *node.Snapshot }

func (s staticSource) Snapshot() *node.Snapshot { return s.snap }

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return rr
}

// testSnapshot has fallback records for db-primary (A), git (A + AAAA) and
// an alias chain www -> git, as node.NewSnapshot would build them.
func testSnapshot(t testing.TB) *node.Snapshot {
	fb := map[string][]dns.RR{}
	for _, s := range []string{
		"db-primary.corp.internal. 30 IN A 198.18.5.10",
		"git.corp.internal. 30 IN A 198.18.5.20",
		"git.corp.internal. 30 IN AAAA 2001:db8:5::20",
		"www.corp.internal. 30 IN CNAME git.corp.internal.",
	} {
		rr := mustRR(t, s)
		n := strings.ToLower(rr.Header().Name)
		fb[n] = append(fb[n], rr)
	}
	return &node.Snapshot{Fallback: fb, FallbackTTL: 17}
}

// upstream is a next plugin whose behaviour the test chooses.
type upstream struct {
	kind    string // answer, nxdomain, nodata, servfail-write, servfail-return, error, refused, hang, panic
	release chan struct{}
	calls   int
	mu      sync.Mutex
}

func (u *upstream) Name() string { return "upstream" }

func (u *upstream) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	u.mu.Lock()
	u.calls++
	u.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	switch u.kind {
	case "answer":
		// A real answer that differs from the fallback record.
		rr, _ := dns.NewRR(r.Question[0].Name + " 300 IN A 198.18.99.99")
		m.Answer = []dns.RR{rr}
	case "nxdomain":
		m.Rcode = dns.RcodeNameError
		m.Authoritative = true
	case "nodata":
	case "servfail-write":
		m.Rcode = dns.RcodeServerFailure
	case "servfail-return":
		return dns.RcodeServerFailure, nil
	case "error":
		return dns.RcodeServerFailure, errors.New("all forwarders unreachable")
	case "refused":
		return dns.RcodeRefused, nil
	case "hang":
		select {
		case <-u.release:
		case <-time.After(10 * time.Second):
		}
		// A late answer: must never reach the client.
		rr, _ := dns.NewRR(r.Question[0].Name + " 300 IN A 198.18.66.66")
		m.Answer = []dns.RR{rr}
	case "panic":
		panic("boom")
	}
	if err := w.WriteMsg(m); err != nil {
		return dns.RcodeServerFailure, err
	}
	return dns.RcodeSuccess, nil
}

func query(name string, qtype uint16, edns bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, false)
	}
	return m
}

func ede(m *dns.Msg) *dns.EDNS0_EDE {
	opt := m.IsEdns0()
	if opt == nil {
		return nil
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			return e
		}
	}
	return nil
}

func answers(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		out = append(out, strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	return out
}

func TestServeDNS(t *testing.T) {
	tests := []struct {
		name     string
		upstream string
		qname    string
		qtype    uint16
		edns     bool

		wantRcode    int  // rcode the client sees
		wantWritten  bool // false: nothing written, the server writes wantRcode
		wantAnswers  []string
		wantFallback string // "" = not a fallback answer; else the reason
	}{
		// Broken path, critical names: fallback with short TTL and EDE.
		{"servfail written", "servfail-write", "db-primary.corp.internal.", dns.TypeA, true, dns.RcodeSuccess, true, []string{"198.18.5.10"}, ReasonServfail},
		{"servfail returned", "servfail-return", "db-primary.corp.internal.", dns.TypeA, true, dns.RcodeSuccess, true, []string{"198.18.5.10"}, ReasonServfail},
		{"error returned", "error", "git.corp.internal.", dns.TypeAAAA, true, dns.RcodeSuccess, true, []string{"2001:db8:5::20"}, ReasonError},
		{"hang past deadline", "hang", "git.corp.internal.", dns.TypeA, true, dns.RcodeSuccess, true, []string{"198.18.5.20"}, ReasonTimeout},
		{"panic in chain", "panic", "git.corp.internal.", dns.TypeA, true, dns.RcodeSuccess, true, []string{"198.18.5.20"}, ReasonError},
		{"mixed case name", "servfail-write", "DB-Primary.Corp.Internal.", dns.TypeA, true, dns.RcodeSuccess, true, []string{"198.18.5.10"}, ReasonServfail},
		{"cname chased in fallback", "error", "www.corp.internal.", dns.TypeA, true, dns.RcodeSuccess, true, []string{"git.corp.internal.", "198.18.5.20"}, ReasonError},
		{"no edns: no EDE", "servfail-write", "db-primary.corp.internal.", dns.TypeA, false, dns.RcodeSuccess, true, []string{"198.18.5.10"}, ReasonServfail},
		// Broken path, critical name but no record of that type: the failure stays.
		{"type without fallback", "servfail-write", "db-primary.corp.internal.", dns.TypeAAAA, true, dns.RcodeServerFailure, true, nil, ""},
		// Broken path, non-critical names: SERVFAIL as before.
		{"non-critical servfail", "servfail-write", "intranet.corp.internal.", dns.TypeA, true, dns.RcodeServerFailure, true, nil, ""},
		{"non-critical error", "error", "intranet.corp.internal.", dns.TypeA, true, dns.RcodeServerFailure, false, nil, ""},
		// Healthy path: the real answer wins, even when it differs.
		{"real answer wins", "answer", "db-primary.corp.internal.", dns.TypeA, true, dns.RcodeSuccess, true, []string{"198.18.99.99"}, ""},
		{"nxdomain wins", "nxdomain", "db-primary.corp.internal.", dns.TypeA, true, dns.RcodeNameError, true, nil, ""},
		{"nodata wins", "nodata", "db-primary.corp.internal.", dns.TypeA, true, dns.RcodeSuccess, true, nil, ""},
		{"refused is policy, not failure", "refused", "db-primary.corp.internal.", dns.TypeA, true, dns.RcodeRefused, false, nil, ""},
		{"non-critical answer", "answer", "intranet.corp.internal.", dns.TypeA, true, dns.RcodeSuccess, true, []string{"198.18.99.99"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			up := &upstream{kind: tc.upstream, release: make(chan struct{})}
			defer close(up.release)
			f := &Fallback{Next: up, Source: staticSource{testSnapshot(t)}, Timeout: 50 * time.Millisecond}
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			name := strings.ToLower(tc.qname)
			before := counter(t, "", name, tc.wantFallback)

			rc, err := f.ServeDNS(context.Background(), rec, query(tc.qname, tc.qtype, tc.edns))

			if !tc.wantWritten {
				if rec.Msg != nil {
					t.Fatalf("wrote %v, want nothing written", rec.Msg)
				}
				if plugin.ClientWrite(rc) || rc != tc.wantRcode {
					t.Fatalf("rcode %d (err %v), want %d unwritten", rc, err, tc.wantRcode)
				}
				return
			}
			if rec.Msg == nil {
				t.Fatalf("nothing written (rc %d, err %v)", rc, err)
			}
			m := rec.Msg
			if m.Rcode != tc.wantRcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.wantRcode])
			}
			if got := answers(m); strings.Join(got, ",") != strings.Join(tc.wantAnswers, ",") {
				t.Fatalf("answers %q, want %q", got, tc.wantAnswers)
			}
			e := ede(m)
			if tc.wantFallback == "" {
				if e != nil {
					t.Fatalf("unexpected EDE %v on a non-fallback answer", e)
				}
				return
			}
			for _, rr := range m.Answer {
				if rr.Header().Ttl != 17 {
					t.Errorf("TTL %d, want the fallback TTL 17: %v", rr.Header().Ttl, rr)
				}
			}
			if m.Authoritative {
				t.Error("fallback answer has AA set")
			}
			if tc.edns {
				if e == nil {
					t.Fatal("no EDE on a fallback answer")
				}
				if e.InfoCode != dns.ExtendedErrorCodeOther || e.ExtraText != EDEText+tc.wantFallback {
					t.Fatalf("EDE %d %q, want 0 %q", e.InfoCode, e.ExtraText, EDEText+tc.wantFallback)
				}
			} else if m.IsEdns0() != nil {
				t.Fatal("OPT in the answer to a query without EDNS0")
			}
			if got := counter(t, "", name, tc.wantFallback); got != before+1 {
				t.Fatalf("metric answers_total{name=%q,reason=%q} = %v, want %v", name, tc.wantFallback, got, before+1)
			}
		})
	}
}

// TestTimeoutExplained: a critical name without a fallback record of the
// type asked, and a chain that does not answer in time: the client gets
// SERVFAIL saying why (RFC 8914 22, No Reachable Authority), not a bare
// SERVFAIL from CoreDNS's server.
func TestTimeoutExplained(t *testing.T) {
	up := &upstream{kind: "hang", release: make(chan struct{})}
	defer close(up.release)
	f := &Fallback{Next: up, Source: staticSource{testSnapshot(t)}, Timeout: 50 * time.Millisecond}
	for _, withEDNS := range []bool{true, false} {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		rc, err := f.ServeDNS(context.Background(), rec, query("db-primary.corp.internal.", dns.TypeMX, withEDNS))
		if rec.Msg == nil || !plugin.ClientWrite(rc) || err == nil {
			t.Fatalf("edns %v: rcode %d, err %v, wrote %v: want SERVFAIL written and the error for the log", withEDNS, rc, err, rec.Msg)
		}
		if rec.Msg.Rcode != dns.RcodeServerFailure {
			t.Fatalf("edns %v: rcode %s, want SERVFAIL", withEDNS, dns.RcodeToString[rec.Msg.Rcode])
		}
		e := ede(rec.Msg)
		switch {
		case !withEDNS && rec.Msg.IsEdns0() != nil:
			t.Fatal("OPT in the answer to a query without EDNS0")
		case withEDNS && (e == nil || e.InfoCode != dns.ExtendedErrorCodeNoReachableAuthority || !strings.Contains(e.ExtraText, "no answer within 50ms")):
			t.Fatalf("EDE %v, want 22 saying no answer within 50ms", e)
		}
	}
}

func counter(t testing.TB, labels ...string) float64 {
	t.Helper()
	var m dto.Metric
	if err := answersTotal.WithLabelValues(labels...).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestNoSnapshotPassesThrough(t *testing.T) {
	for _, src := range []struct {
		name string
		s    *Fallback
	}{
		{"nil source", &Fallback{}},
		{"nil snapshot", &Fallback{Source: staticSource{}}},
		{"gitops source before the first revision", &Fallback{Source: node.StaticSource(nil)}},
	} {
		t.Run(src.name, func(t *testing.T) {
			up := &upstream{kind: "servfail-write"}
			src.s.Next = up
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			src.s.ServeDNS(context.Background(), rec, query("db-primary.corp.internal.", dns.TypeA, true))
			if rec.Msg == nil || rec.Msg.Rcode != dns.RcodeServerFailure || up.calls != 1 {
				t.Fatalf("got %v after %d calls, want the chain's SERVFAIL", rec.Msg, up.calls)
			}
		})
	}
}

// swapSource serves whatever snapshot the test sets.
type swapSource struct {
	p atomic.Pointer[node.Snapshot]
}

func (s *swapSource) Snapshot() *node.Snapshot { return s.p.Load() }

// TestNewRevisionFallbackNames: the pre-check follows the snapshot, so a
// name that gains fallback records in a new revision is protected at once.
func TestNewRevisionFallbackNames(t *testing.T) {
	src := &swapSource{}
	src.p.Store(&node.Snapshot{Fallback: map[string][]dns.RR{"other.corp.internal.": {mustRR(t, "other.corp.internal. 30 IN A 198.18.5.1")}}})
	f := &Fallback{Next: &upstream{kind: "servfail-write"}, Source: src, Timeout: 50 * time.Millisecond}
	for i, want := range []int{dns.RcodeServerFailure, dns.RcodeSuccess} {
		if i == 1 {
			src.p.Store(testSnapshot(t))
		}
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		f.ServeDNS(context.Background(), rec, query("git.corp.internal.", dns.TypeA, true))
		if rec.Msg == nil || rec.Msg.Rcode != want {
			t.Fatalf("revision %d: got %v, want rcode %s", i+1, rec.Msg, dns.RcodeToString[want])
		}
	}
}

func TestLateAnswerDropped(t *testing.T) {
	up := &upstream{kind: "hang", release: make(chan struct{})}
	f := &Fallback{Next: up, Source: staticSource{testSnapshot(t)}, Timeout: 20 * time.Millisecond}
	w := &countingWriter{}
	f.ServeDNS(context.Background(), w, query("git.corp.internal.", dns.TypeA, true))
	close(up.release) // the chain now answers, after the deadline
	// Wait until the chain goroutine is done writing into the recorder.
	for i := 0; i < 1000; i++ {
		up.mu.Lock()
		c := up.calls
		up.mu.Unlock()
		if c == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.msgs) != 1 || answers(w.msgs[0])[0] != "198.18.5.20" {
		t.Fatalf("client got %d messages %v, want exactly the fallback answer", len(w.msgs), w.msgs)
	}
}

// TestServerGaveUp: when the server cancels the query (shutdown) before the
// chain answers, the fallback answers nothing: no fallback record, no
// timeout reason, the context's error.
func TestServerGaveUp(t *testing.T) {
	up := &upstream{kind: "hang", release: make(chan struct{})}
	defer close(up.release)
	f := &Fallback{Next: up, Source: staticSource{testSnapshot(t)}, Timeout: time.Second}
	w := &countingWriter{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rc, err := f.ServeDNS(ctx, w, query("git.corp.internal.", dns.TypeA, true))
	if rc != dns.RcodeServerFailure || !errors.Is(err, context.Canceled) {
		t.Fatalf("rcode %d err %v, want SERVFAIL and context.Canceled", rc, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.msgs) != 0 {
		t.Fatalf("client got %v, want nothing written", w.msgs)
	}
}

type countingWriter struct {
	test.ResponseWriter
	mu   sync.Mutex
	msgs []*dns.Msg
}

func (c *countingWriter) WriteMsg(m *dns.Msg) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

func TestLogLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := logLimiter{now: func() time.Time { return now }}
	l.log("a.", dns.TypeA, ReasonTimeout, "x", true)
	for i := 0; i < 5; i++ {
		l.log("a.", dns.TypeA, ReasonTimeout, "x", true)
	}
	if got := l.names["a."].suppressed; got != 5 {
		t.Fatalf("suppressed %d, want 5", got)
	}
	now = now.Add(logEvery)
	l.log("a.", dns.TypeA, ReasonTimeout, "x", true)
	if got := l.names["a."].suppressed; got != 0 {
		t.Fatalf("suppressed %d after a logged line, want 0", got)
	}
}

// fixedNext answers every query with a prebuilt message: no allocation, so
// the benchmarks measure the fallback plugin alone.
type fixedNext struct{ m *dns.Msg }

func (n fixedNext) Name() string { return "fixed" }

//go:noinline
func (n fixedNext) ServeDNS(_ context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
	w.WriteMsg(n.m)
	return dns.RcodeSuccess, nil
}

func benchSetup(b *testing.B, qname string) (fixedNext, *Fallback, *dns.Msg) {
	snap := testSnapshot(b)
	// A realistic fallback set: a few hundred critical names.
	for i := 0; i < 300; i++ {
		rr := mustRR(b, "crit"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+".corp.internal. 30 IN A 198.18.5.1")
		snap.Fallback[rr.Header().Name] = append(snap.Fallback[rr.Header().Name], rr)
	}
	q := query(qname, dns.TypeA, true)
	a := new(dns.Msg)
	a.SetReply(q)
	a.Answer = []dns.RR{mustRR(b, qname+" 300 IN A 198.18.7.7")}
	next := fixedNext{a}
	return next, &Fallback{Next: next, Source: staticSource{snap}, Timeout: time.Second}, q
}

// BenchmarkDirectNext is the baseline: the next plugin called with no
// fallback plugin in front of it.
func BenchmarkDirectNext(b *testing.B) {
	n, _, q := benchSetup(b, "intranet.corp.internal.")
	var next plugin.Handler = n // called through the interface, as a chain does
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		next.ServeDNS(ctx, w, q)
	}
}

// BenchmarkNoFallbackName is a query for a name without fallback records
// through the fallback plugin: the fast path.
func BenchmarkNoFallbackName(b *testing.B) {
	_, f, q := benchSetup(b, "intranet.corp.internal.")
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.ServeDNS(ctx, w, q)
	}
}

// BenchmarkNoFallbackNameFilterHit is a name without fallback records that
// passes the pre-check (same length and first letter as a fallback name):
// lower-casing and the map lookup run.
func BenchmarkNoFallbackNameFilterHit(b *testing.B) {
	_, f, q := benchSetup(b, "db-primarz.corp.internal.")
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.ServeDNS(ctx, w, q)
	}
}

// BenchmarkFallbackNameHealthy is a query for a critical name answered
// normally: the guarded path (recording writer, goroutine, timer).
func BenchmarkFallbackNameHealthy(b *testing.B) {
	_, f, q := benchSetup(b, "db-primary.corp.internal.")
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.ServeDNS(ctx, w, q)
	}
}

// BenchmarkFallbackAnswer is a critical name whose normal resolution
// SERVFAILs: the fallback answer is built.
func BenchmarkFallbackAnswer(b *testing.B) {
	_, f, q := benchSetup(b, "db-primary.corp.internal.")
	f.Next = &upstream{kind: "servfail-write"}
	w := &test.ResponseWriter{}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		f.ServeDNS(ctx, w, q)
	}
}

// FuzzServeDNS: any query a client can send, through a failing chain,
// never panics and yields either nothing (the server answers) or a reply to
// that query.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []*dns.Msg{
		query("db-primary.corp.internal.", dns.TypeA, true),
		query("WWW.corp.internal.", dns.TypeANY, false),
		query("git.corp.internal.", dns.TypeAAAA, true),
	} {
		b, _ := q.Pack()
		f.Add(b, true)
	}
	snap := testSnapshot(f)
	f.Fuzz(func(t *testing.T, data []byte, failing bool) {
		r := new(dns.Msg)
		if err := r.Unpack(data); err != nil || len(r.Question) != 1 {
			return // the CoreDNS server passes exactly one question to the chain
		}
		kind := "answer"
		if failing {
			kind = "servfail-write"
		}
		fb := &Fallback{Next: &upstream{kind: kind}, Source: staticSource{snap}, Timeout: time.Second}
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		fb.ServeDNS(context.Background(), rec, r)
		if rec.Msg != nil && rec.Msg.Id != r.Id {
			t.Fatalf("reply id %d to query id %d", rec.Msg.Id, r.Id)
		}
	})
}

// A fallback CNAME whose target is written with raw octets (the Kelvin
// sign, U+212A) ends the chase there: Unicode folds that target to "k.",
// whose fallback address is another name's (RFC 4343 section 3: ASCII
// case only).
func TestChaseFoldsASCIIOnly(t *testing.T) {
	fb := map[string][]dns.RR{
		"alias.corp.internal.": {&dns.CNAME{Hdr: dns.RR_Header{Name: "alias.corp.internal.", Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 30}, Target: "\u212a.corp.internal."}},
		"k.corp.internal.":     {mustRR(t, "k.corp.internal. 30 IN A 198.18.5.99")},
	}
	got := chase(fb, "alias.corp.internal.", dns.TypeA)
	if len(got) != 1 || got[0].Header().Rrtype != dns.TypeCNAME {
		t.Fatalf("chase = %v, want the CNAME alone", got)
	}
}
