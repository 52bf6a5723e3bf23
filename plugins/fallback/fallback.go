// Package fallback is the CoreDNS plugin that keeps critical names resolvable
// when normal resolution fails. It owns the decision "did what follows me
// fail for this query?" and the fallback answer built from the static records
// of the served revision (fallback.zone in the config repo).
//
// It sits before authority and recursor in the chain. For a query whose name
// has fallback records it runs the rest of the chain against a recording
// writer with a deadline; when that yields SERVFAIL, an error, or nothing
// before the deadline, it answers from the fallback records with the short
// TTL of the policy and an Extended DNS Error (RFC 8914) saying so. A real
// answer (including NODATA and NXDOMAIN) always wins. Names without fallback
// records take a fast path that costs one map lookup and no allocation.
package fallback

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/metrics"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/request"
	"github.com/gitops-dns/resolverd/internal/dnsname"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/plugins/internal/dropped"
	"github.com/gitops-dns/resolverd/plugins/internal/explain"
	"github.com/miekg/dns"
)

const (
	// DefaultTimeout is how long the rest of the chain gets for a name with
	// fallback records before the fallback answers. It is above the
	// recursor's stale_timeout (1.8 s), so a recently seen real answer
	// (serve-stale, RFC 8767) wins over the static record, and below the
	// usual 5 s stub resolver timeout, so the client still gets an answer.
	DefaultTimeout = 2 * time.Second
	// DefaultTTL is used when the snapshot carries no fallback TTL.
	DefaultTTL = 30
	// maxChase bounds how many CNAMEs of the fallback data are followed.
	maxChase = 8
)

// Reasons a fallback answer was given; they are the "reason" label of the
// metric and appear in the EDE extra text and the log.
const (
	ReasonServfail = "servfail" // the chain answered SERVFAIL
	ReasonError    = "error"    // the chain returned an error and wrote nothing
	ReasonTimeout  = "timeout"  // no answer before the deadline
)

var log = clog.NewWithPlugin("fallback")

// Fallback is the plugin handler.
type Fallback struct {
	Next    plugin.Handler
	Source  node.Source   // what is being served; nil or a nil snapshot = pass through
	Timeout time.Duration // deadline for the rest of the chain; <= 0 = DefaultTimeout

	logs   logLimiter
	filter atomic.Pointer[filter] // of the last snapshot seen
}

// Name implements plugin.Handler.
func (f *Fallback) Name() string { return "fallback" }

// ServeDNS implements plugin.Handler.
func (f *Fallback) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if f.Next == nil {
		return plugin.NextOrFailure(f.Name(), f.Next, ctx, w, r)
	}
	var snap *node.Snapshot
	if f.Source != nil {
		snap = f.Source.Snapshot()
	}
	if snap == nil || len(snap.Fallback) == 0 || len(r.Question) != 1 || r.Question[0].Qclass != dns.ClassINET {
		// Fast path: call next directly (plugin.NextOrFailure would wrap w,
		// which costs an allocation per query).
		return f.Next.ServeDNS(ctx, w, r)
	}
	qname := r.Question[0].Name
	if !f.filterOf(snap).mayHave(qname) {
		return f.Next.ServeDNS(ctx, w, r)
	}
	name := dnsname.Lower(qname) // no allocation when already lower case
	rrs, ok := snap.Fallback[name]
	if !ok {
		return f.Next.ServeDNS(ctx, w, r)
	}
	return f.guarded(ctx, w, r, snap, name, rrs)
}

// filter is a cheap pre-check of the fallback names of one snapshot: a bit
// per (name length, first byte mod 64). A query whose bit is clear has no
// fallback records, which spares lower-casing and hashing its name: the cost
// of the plugin for ordinary names is an atomic load and one bit test.
type filter struct {
	snap *node.Snapshot
	bits [256]uint64
}

func newFilter(snap *node.Snapshot) *filter {
	fl := &filter{snap: snap}
	for name := range snap.Fallback {
		if len(name) > 0 && len(name) < len(fl.bits) {
			fl.bits[len(name)] |= 1 << (lowerByte(name[0]) & 63)
		}
	}
	return fl
}

func (fl *filter) mayHave(qname string) bool {
	n := len(qname)
	return n > 0 && n < len(fl.bits) && fl.bits[n]&(1<<(lowerByte(qname[0])&63)) != 0
}

func lowerByte(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// filterOf returns the filter of snap, building it once per snapshot.
func (f *Fallback) filterOf(snap *node.Snapshot) *filter {
	if fl := f.filter.Load(); fl != nil && fl.snap == snap {
		return fl
	}
	fl := newFilter(snap)
	f.filter.Store(fl)
	return fl
}

// outcome is what the rest of the chain did.
type outcome struct {
	rcode int
	err   error
}

// guarded runs the rest of the chain for a name that has fallback records.
func (f *Fallback) guarded(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, snap *node.Snapshot, name string, rrs []dns.RR) (int, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	deadline := time.Now().Add(timeout)
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	cctx, drop := dropped.With(cctx)

	rec := &recorder{ResponseWriter: w}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{dns.RcodeServerFailure, fmt.Errorf("panic in the plugin chain: %v", p)}
			}
		}()
		rc, err := plugin.NextOrFailure(f.Name(), f.Next, cctx, rec, r)
		done <- outcome{rc, err}
	}()

	var (
		res    outcome
		msg    *dns.Msg
		reason string
		detail string
	)
	select {
	case res = <-done:
		msg = rec.take()
		if msg == nil && drop.Dropped() {
			// A response policy dropped the query (rpz-drop.): no
			// response is its answer, not a failure to cover. A static
			// record answering it would undo the block (the RPZ draft's
			// DROP: the client gets nothing and times out).
			return res.rcode, res.err
		}
		reason, detail = classify(res, msg)
		if reason == ReasonError && ctx.Err() == nil && !time.Now().Before(deadline) {
			// The chain gave up at our deadline: the same event as the
			// case below, whichever was seen first. The clock decides, not
			// cctx.Err(): a chain that set cctx's deadline on a socket can
			// see it expire before cctx's own timer has fired.
			reason, detail = ReasonTimeout, fmt.Sprintf("no answer within %s", timeout)
		}
	case <-cctx.Done():
		rec.take() // whatever the chain writes from now on is dropped
		if ctx.Err() != nil {
			// The server gave up on this query (shutdown): nothing to answer.
			return dns.RcodeServerFailure, ctx.Err()
		}
		reason, detail = ReasonTimeout, fmt.Sprintf("no answer within %s", timeout)
	}

	if reason == "" { // normal resolution answered: it wins
		if msg != nil {
			if err := w.WriteMsg(msg); err != nil {
				return dns.RcodeServerFailure, plugin.Error(f.Name(), err)
			}
		}
		return res.rcode, res.err
	}

	answer := chase(snap.Fallback, name, r.Question[0].Qtype)
	if len(answer) == 0 {
		// The name has fallback records but none of this type: keep the
		// failure rather than invent a negative answer.
		f.logs.log(name, r.Question[0].Qtype, reason, detail, false)
		if msg != nil {
			if err := w.WriteMsg(msg); err != nil {
				return dns.RcodeServerFailure, plugin.Error(f.Name(), err)
			}
			return res.rcode, res.err
		}
		if reason == ReasonTimeout {
			// Say why (RFC 8914): within the deadline no authority answered
			// the rest of the chain: 22, No Reachable Authority.
			w.WriteMsg(explain.ServFail(request.Request{W: w, Req: r}, dns.ExtendedErrorCodeNoReachableAuthority, detail))
			return dns.RcodeSuccess, plugin.Error(f.Name(), fmt.Errorf("%s: %s", name, detail))
		}
		return res.rcode, res.err
	}

	// Static records stand in for a failure: never packet-cached, even if
	// the chain marked its late answer fresh meanwhile.
	node.MarkNoCache(ctx)
	m := fallbackMsg(r, answer, snap.FallbackTTL, reason)
	state := request.Request{W: w, Req: r}
	m.Truncate(state.Size())
	if err := w.WriteMsg(m); err != nil {
		return dns.RcodeServerFailure, plugin.Error(f.Name(), err)
	}
	answersTotal.WithLabelValues(metrics.WithServer(ctx), name, reason).Inc()
	f.logs.log(name, r.Question[0].Qtype, reason, detail, true)
	return dns.RcodeSuccess, nil
}

// classify says whether the chain failed and why ("" = it answered).
func classify(res outcome, msg *dns.Msg) (reason, detail string) {
	if msg != nil {
		if msg.Rcode == dns.RcodeServerFailure {
			if res.err != nil {
				return ReasonServfail, res.err.Error()
			}
			return ReasonServfail, "SERVFAIL"
		}
		return "", ""
	}
	if plugin.ClientWrite(res.rcode) && res.err == nil {
		// Claimed to have written but did not: treat as no answer.
		return ReasonError, fmt.Sprintf("rcode %s returned without a response", dns.RcodeToString[res.rcode])
	}
	switch {
	case res.err != nil:
		return ReasonError, res.err.Error()
	case res.rcode == dns.RcodeServerFailure:
		return ReasonServfail, "SERVFAIL"
	}
	// REFUSED, FORMERR, NOTIMP: a deliberate answer (policy), not a failure.
	return "", ""
}

// chase collects the fallback answer for name/qtype, following CNAMEs within
// the fallback data (bounded).
func chase(fb map[string][]dns.RR, name string, qtype uint16) []dns.RR {
	var out []dns.RR
	for hop := 0; hop <= maxChase; hop++ {
		rrs := fb[name]
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			t := rr.Header().Rrtype
			if t == qtype || qtype == dns.TypeANY {
				out = append(out, rr)
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok && cname == nil {
				cname = c
			}
		}
		if found || cname == nil {
			return out
		}
		out = append(out, cname)
		// RDATA names fold ASCII only (RFC 4343 section 3): a target
		// written with raw octets is not the ASCII name Unicode folds it to.
		name = dnsname.Lower(cname.Target)
	}
	return out
}

// EDEText is the prefix of the Extended DNS Error text of a fallback answer.
const EDEText = "fallback record: "

// fallbackMsg builds the answer: copies of the records with the fallback TTL,
// not authoritative, and an EDE when the client speaks EDNS0.
//
// The EDE info code is 0 (Other) with extra text "fallback record: <reason>".
// 3 (Stale Answer) would tell the client this is data it once received from
// the authority and cached; a fallback record is operator-configured static
// data that may never have been served by the authority, so "Other" with an
// explicit text is the honest code.
func fallbackMsg(r *dns.Msg, answer []dns.RR, ttl uint32, reason string) *dns.Msg {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = false
	m.RecursionAvailable = true
	m.Answer = make([]dns.RR, 0, len(answer))
	for _, rr := range answer {
		c := dns.Copy(rr)
		c.Header().Ttl = ttl
		m.Answer = append(m.Answer, c)
	}
	if opt := r.IsEdns0(); opt != nil {
		size := opt.UDPSize()
		if size < dns.MinMsgSize {
			size = dns.MinMsgSize
		}
		m.SetEdns0(size, opt.Do())
		o := m.IsEdns0()
		o.Option = append(o.Option, &dns.EDNS0_EDE{
			InfoCode:  dns.ExtendedErrorCodeOther,
			ExtraText: EDEText + reason,
		})
	}
	return m
}

// recorder captures what the chain writes. Once taken, later writes (from a
// chain that answered after the deadline) are dropped, never sent.
type recorder struct {
	dns.ResponseWriter
	mu    sync.Mutex
	msg   *dns.Msg
	taken bool
}

// WriteMsg implements dns.ResponseWriter.
func (r *recorder) WriteMsg(m *dns.Msg) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.taken {
		return fmt.Errorf("fallback: response after the deadline dropped")
	}
	r.msg = m
	return nil
}

// Write implements dns.ResponseWriter.
func (r *recorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, fmt.Errorf("fallback: the chain wrote a response that does not unpack: %w", err)
	}
	if err := r.WriteMsg(m); err != nil {
		return 0, err
	}
	return len(b), nil
}

// take returns what was written so far and stops recording.
func (r *recorder) take() *dns.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.taken = true
	return r.msg
}

// logLimiter logs a fallback event per name at most once per logEvery, with
// the count of events it held back, so an outage cannot flood the log.
type logLimiter struct {
	mu    sync.Mutex
	names map[string]*logState
	now   func() time.Time
}

type logState struct {
	last       time.Time
	suppressed int
}

const (
	logEvery    = 10 * time.Second
	maxLogNames = 10000 // bound on the limiter's memory across revisions
)

func (l *logLimiter) log(name string, qtype uint16, reason, detail string, answered bool) {
	now := time.Now
	if l.now != nil {
		now = l.now
	}
	t := now()
	l.mu.Lock()
	if l.names == nil || len(l.names) >= maxLogNames {
		l.names = make(map[string]*logState)
	}
	st := l.names[name]
	if st == nil {
		st = &logState{}
		l.names[name] = st
	}
	if !st.last.IsZero() && t.Sub(st.last) < logEvery {
		st.suppressed++
		l.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.last, st.suppressed = t, 0
	l.mu.Unlock()

	more := ""
	if suppressed > 0 {
		more = fmt.Sprintf(" (%d more since last log)", suppressed)
	}
	qt := dns.TypeToString[qtype]
	if answered {
		log.Warningf("%s %s: answered from fallback records: %s: %s%s", name, qt, reason, detail, more)
	} else {
		log.Warningf("%s %s: normal resolution failed (%s: %s) and there is no fallback record of this type%s", name, qt, reason, detail, more)
	}
}
