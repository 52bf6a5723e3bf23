package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitops-dns/resolverd/internal/clock"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
	"github.com/gitops-dns/resolverd/internal/wire"
	"github.com/gitops-dns/resolverd/resolver/dnssec"
)

// Errors a resolution ends with (wrapped; test with errors.Is).
var (
	ErrBudget         = errors.New("work budget of the query exhausted")
	ErrDeadline       = errors.New("deadline of the query passed")
	ErrOverload       = errors.New("too many resolutions in flight")
	ErrRecentFailure  = errors.New("resolution failed recently (cached failure)")
	ErrCNAMELoop      = errors.New("CNAME loop")
	ErrNoServers      = errors.New("no usable server")
	ErrMetaType       = errors.New("meta or reserved query type: not resolved")
	ErrTooManyRecords = errors.New("an RRset of the answer is larger than the limit")
	errMismatch       = errors.New("reply does not match the query")
	errSteps          = errors.New("too many referrals")
)

// Resolver resolves questions recursively. It is safe for concurrent use.
// Create it with New; stop its background health checker with Close.
type Resolver struct {
	cfg     Config
	clock   clock.Clock
	metrics Metrics
	net     Transport
	direct  directTransport // the built-in transport; nil when Config.Transport was set
	pool    *udpPool        // direct, when Config.UDPPool chose it
	c       *caches
	dyn     atomic.Pointer[dynamic]
	flights flights
	workers workers // idle goroutines that run the next flight
	running atomic.Int64
	val     atomic.Pointer[dnssec.Validator] // nil: validation off
	dsHints *lru.Cache[string, dsHint]       // DS sets and their denials seen in referrals (validate.go)
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex // serialises reconfiguration
}

// dynamic is what a new config snapshot may change: swapped atomically. It
// is never modified once stored; a setter stores a changed copy, so each
// setter names only the fields it changes.
type dynamic struct {
	hints    *delegation
	hintsKey string
	rules    []ForwardRule          // longest zone first; zones lower case
	stubs    map[string]*delegation // internal zone cuts: zone -> its servers (never expire)
	stubsKey string
	peers    []netip.AddrPort // the node's own cluster: never asked by iteration
	dot      dotPools         // forward targets asked over TLS, by address
}

// New returns a resolver. The root hints must hold at least one NS record
// for "." with an address.
func New(cfg Config) (*Resolver, error) {
	cfg.setDefaults()
	r := &Resolver{cfg: cfg, clock: cfg.Clock, metrics: cfg.Metrics, net: cfg.Transport, stop: make(chan struct{})}
	r.workers.ch = make(chan flightTask)
	if r.net == nil {
		if cfg.UDPPool {
			r.pool = newUDPPool()
			r.direct = r.pool
		} else {
			r.direct = freshUDP{}
		}
		r.net = r.direct
	}
	r.c = newCaches(&r.cfg)
	r.dsHints, _ = lru.New[string, dsHint](r.cfg.DelegationCacheSize)
	d, key, err := parseHints(cfg.RootHints)
	if err != nil {
		return nil, err
	}
	rules := normRules(cfg.Forward)
	r.dyn.Store(&dynamic{hints: d, hintsKey: key, rules: rules, dot: updateDOT(nil, rules)})
	if cfg.DNSSEC != nil {
		if err := r.SetDNSSEC(cfg.DNSSEC); err != nil {
			return nil, fmt.Errorf("DNSSEC: %w", err)
		}
	}
	if cfg.HealthInterval > 0 {
		r.wg.Add(1)
		go r.healthLoop()
	}
	return r, nil
}

// Close stops the background health checker and the idle resolution
// workers and closes the pooled upstream sockets (Config.UDPPool). Resolve
// keeps working (with a socket per upstream query).
func (r *Resolver) Close() {
	r.mu.Lock()
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.mu.Unlock()
	r.wg.Wait()
	if r.pool != nil {
		r.pool.Close()
	}
	r.mu.Lock()
	for _, p := range r.dyn.Load().dot {
		p.close() // a query still using it fails at once
	}
	r.mu.Unlock()
}

// SetForwardRules replaces the forward rules; the cache is kept, except
// remembered failures (RFC 9520), which the new rules may have fixed.
func (r *Resolver) SetForwardRules(rules []ForwardRule) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.dyn.Load()
	nr := normRules(rules)
	nd := *old
	nd.rules = nr
	nd.dot = updateDOT(old.dot, nr)
	same := func(a, b ForwardRule) bool {
		return a.Zone == b.Zone && slices.Equal(a.To, b.To) && slices.EqualFunc(a.To, b.To, func(t, _ netip.AddrPort) bool { return old.dot[t] == nd.dot[t] })
	}
	if !slices.EqualFunc(old.rules, nr, same) {
		r.c.fail.Purge()
	}
	r.dyn.Store(&nd)
}

// SetPeers replaces the addresses of the node's own cluster (its nodes'
// DNS addresses, its own included); a changed set forgets remembered
// failures. Iteration never sends to them: a
// delegation that names a peer must not make the cluster its own upstream
// (seed 004); forward targets are the repository's explicit choice and
// are checked by cluster validation instead.
func (r *Resolver) SetPeers(peers []netip.AddrPort) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.dyn.Load()
	nd := *old
	nd.peers = make([]netip.AddrPort, 0, len(peers))
	for _, p := range peers {
		nd.peers = append(nd.peers, netip.AddrPortFrom(p.Addr().Unmap(), p.Port()))
	}
	if !slices.Equal(old.peers, nd.peers) {
		r.c.fail.Purge() // failures the old set caused (RFC 9520) may be gone
	}
	r.dyn.Store(&nd)
}

// SetRootHints replaces the root hints. When they differ from the current
// ones every cache is dropped (what was learnt came from the old root).
func (r *Resolver) SetRootHints(hints []dns.RR) error {
	d, key, err := parseHints(hints)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.dyn.Load()
	if old.hintsKey == key {
		return nil
	}
	nd := *old
	nd.hints, nd.hintsKey = d, key
	r.dyn.Store(&nd)
	r.c.purge()
	return nil
}

// SetStubZones replaces the stub zones: zone cuts inside the internal zones
// (a subzone delegated to a team's own servers) that no public root leads
// to. Each entry holds the zone's NS records and the addresses (glue) of
// their names; iteration for a name below a stub starts at its servers.
// When the set changes every cache is dropped.
func (r *Resolver) SetStubZones(stubs map[string][]dns.RR) error {
	parsed := make(map[string]*delegation, len(stubs))
	keys := make([]string, 0, len(stubs))
	for zone, rrs := range stubs {
		d, key, err := parseServers(lower(zone), rrs)
		if err != nil {
			return fmt.Errorf("stub zone %s: %w", zone, err)
		}
		parsed[d.zone] = d
		keys = append(keys, d.zone+"\n"+key)
	}
	sort.Strings(keys)
	key := strings.Join(keys, "\n\n")
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.dyn.Load()
	if old.stubsKey == key {
		return nil
	}
	nd := *old
	nd.stubs, nd.stubsKey = parsed, key
	r.dyn.Store(&nd)
	r.c.purge()
	return nil
}

func parseHints(hints []dns.RR) (*delegation, string, error) {
	d, key, err := parseServers(".", hints)
	if err != nil {
		return nil, "", fmt.Errorf("root hints: %w", err)
	}
	return d, key, nil
}

// parseServers builds the never-expiring delegation of zone from its NS
// records and their addresses; the key identifies the set.
func parseServers(zone string, rrs []dns.RR) (*delegation, string, error) {
	d := &delegation{zone: zone, glue: map[string][]netip.Addr{}}
	var keys []string
	for _, rr := range rrs {
		h := rr.Header()
		switch v := rr.(type) {
		case *dns.NS:
			if !dnsname.EqualFold(h.Name, zone) {
				return nil, "", fmt.Errorf("NS record for %q, want %q", h.Name, zone)
			}
			n := lower(v.Ns)
			if !slices.Contains(d.ns, n) {
				d.ns = append(d.ns, n)
			}
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				n := lower(h.Name)
				d.glue[n] = append(d.glue[n], a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
				n := lower(h.Name)
				d.glue[n] = append(d.glue[n], a)
			}
		default:
			continue
		}
		keys = append(keys, strings.ToLower(rr.String()))
	}
	have := false
	for _, n := range d.ns {
		if len(d.glue[n]) > 0 {
			have = true
		}
	}
	if !have {
		return nil, "", fmt.Errorf("no NS record of %q with an address", zone)
	}
	sort.Strings(keys)
	return d, strings.Join(keys, "\n"), nil
}

func normRules(rules []ForwardRule) []ForwardRule {
	out := make([]ForwardRule, 0, len(rules))
	for _, fr := range rules {
		if len(fr.To) == 0 {
			continue
		}
		out = append(out, ForwardRule{Zone: lower(fr.Zone), To: slices.Clone(fr.To), TLS: slices.Clone(fr.TLS)})
	}
	sort.SliceStable(out, func(i, j int) bool { return dns.CountLabel(out[i].Zone) > dns.CountLabel(out[j].Zone) })
	return out
}

// forwardRule returns the longest rule covering name, or nil.
func (r *Resolver) forwardRule(name string) *ForwardRule {
	rules := r.dyn.Load().rules
	for i := range rules {
		if dnsname.IsSubDomain(rules[i].Zone, name) {
			return &rules[i]
		}
	}
	return nil
}

// lower returns the absolute lower-case form of a name, without allocating
// when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			s = strings.ToLower(s)
			break
		}
	}
	return dns.Fqdn(s)
}

// result is the outcome of resolving one question: what goes in the reply.
type result struct {
	rcode  int
	answer []dns.RR
	ns     []dns.RR
	sec    security // with validation on: of answer and ns together
}

// Resolve answers q recursively: from the cache when it can, else by
// resolving (one shared resolution for identical concurrent questions). The
// reply is never nil: Rcode, Answer and Ns are set (SERVFAIL on failure, with
// the cause in the error; REFUSED for other classes than IN; for meta and
// reserved types the rcode internal/wire gives, with ErrMetaType; ANY gets
// the RFC 8482 HINFO). A stale answer (RFC 8767) carries an OPT record with
// Extended DNS Error 3 (Stale Answer) in Extra. Records in the reply are the
// caller's to modify.
//
// With validation on (validate.go) the reply carries the DNSSEC records of
// what it holds and AD when all of it is secure; bogus data is a SERVFAIL
// whose error wraps *ValidationError. Resolve is ResolveCD with cd false.
func (r *Resolver) Resolve(ctx context.Context, q dns.Question) (*dns.Msg, error) {
	return r.answer(ctx, q, true, false)
}

// ResolveCD is Resolve for a client question with the CD bit as given:
// with cd, data is returned whatever its validation said, and never with
// AD (RFC 4035 3.2.2).
func (r *Resolver) ResolveCD(ctx context.Context, q dns.Question, cd bool) (*dns.Msg, error) {
	return r.answer(ctx, q, true, cd)
}

// NonRecursive answers q as a query without RD (RFC 1034 4.3.1: "answered
// from local data or by referral, never by recursion"): from the cache
// (fresh data only: a snooping operator must see what we hold now), an
// NXDOMAIN of an ancestor (RFC 8020), else a referral to the closest
// delegation we know (its NS records and their known addresses, the root
// hints at worst), after any CNAME chain the cache already holds, as BIND
// and Unbound answer +norec. It never sends a query. Class, meta types and
// ANY are handled as by Resolve, and so is validation (as for CD=0).
func (r *Resolver) NonRecursive(q dns.Question) (*dns.Msg, error) {
	return r.answer(context.Background(), q, false, false)
}

func (r *Resolver) answer(ctx context.Context, q dns.Question, recurse, cd bool) (*dns.Msg, error) {
	rm := &replyMsg{}
	m := &rm.m
	rm.q[0] = q
	m.Question = rm.q[:]
	m.Response = true
	m.RecursionAvailable = true
	if q.Qclass != dns.ClassINET {
		m.Rcode = dns.RcodeRefused
		return m, fmt.Errorf("class %s: not served", dns.ClassToString[q.Qclass])
	}
	// Meta and reserved types get their RFC answer (internal/wire says
	// which) before anything reads the cache or the network. The front
	// door of the chain answers them first; this is the defence in depth
	// for every other caller.
	if rcode, meta := wire.MetaRcode(q.Qtype); meta {
		m.Rcode = rcode
		return m, fmt.Errorf("%w: TYPE%d", ErrMetaType, q.Qtype)
	}
	if q.Qtype == dns.TypeANY {
		// RFC 8482: a minimal, synthesised answer instead of every RRset.
		m.Answer = []dns.RR{&dns.HINFO{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeHINFO, Class: dns.ClassINET, Ttl: 3600}, Cpu: "RFC8482"}}
		return m, nil
	}
	if !recurse {
		return r.nonRecursive(m, q)
	}
	name := lower(q.Name)
	now := r.clock.Now()
	// One walk of the cache on a miss: the stale walk below runs only if
	// this one met an entry that only a stale lookup may use (without one
	// both walks take the same path, so the stale one would miss too).
	sawStale := false
	m.Answer = rm.ans[:0]
	sec := fullySecure()
	hit := r.fromCache(m, name, q.Qtype, now, false, &sawStale, &sec)
	if len(m.Answer) == 0 {
		m.Answer = nil
	}
	if hit {
		r.metrics.CacheHit()
		return r.secured(m, sec, cd)
	}
	r.metrics.CacheMiss()
	key := typeKey(name, q.Qtype)
	if f, ok := r.c.fail.Get(key); ok && now.Before(f.until) {
		if r.serveStale(m, name, q.Qtype, now) {
			return m, nil
		}
		m.Rcode = dns.RcodeServerFailure
		return m, fmt.Errorf("%s %s: %w: %w", name, dns.TypeToString[q.Qtype], ErrRecentFailure, f.cause)
	}

	fl, leader := r.join(key)
	var staleTimer <-chan time.Time
	if sawStale && r.hasStale(name, q.Qtype, now) {
		staleTimer = r.clock.After(r.cfg.StaleClientTimeout)
	}
	if leader {
		if staleTimer == nil && ctx.Done() == nil {
			// Nothing can answer this client before the flight ends (no
			// stale data, a context that never ends): run the flight here
			// instead of handing it to a worker and waiting, which saves
			// two goroutine switches. It is the same flight: shared with
			// whoever joins meanwhile, bounded by its own deadline.
			r.fly(key, fl)
		} else {
			r.start(key, fl)
		}
	}
	select {
	case <-fl.done:
		if fl.err != nil && r.serveStale(m, name, q.Qtype, r.clock.Now()) {
			return m, nil
		}
		return r.reply(rm, fl, cd)
	case <-staleTimer:
		if r.serveStale(m, name, q.Qtype, r.clock.Now()) {
			return m, nil
		}
		// The stale data went away meanwhile: wait for the resolution.
		select {
		case <-fl.done:
			return r.reply(rm, fl, cd)
		case <-ctx.Done():
			m.Rcode = dns.RcodeServerFailure
			return m, ctx.Err()
		}
	case <-ctx.Done():
		if r.serveStale(m, name, q.Qtype, r.clock.Now()) {
			return m, nil
		}
		m.Rcode = dns.RcodeServerFailure
		return m, ctx.Err()
	}
}

// nonRecursive fills m, the reply to a question without RD; see
// NonRecursive.
func (r *Resolver) nonRecursive(m *dns.Msg, q dns.Question) (*dns.Msg, error) {
	name := lower(q.Name)
	now := r.clock.Now()
	sec := fullySecure()
	if r.fromCache(m, name, q.Qtype, now, false, nil, &sec) {
		r.metrics.CacheHit()
		return r.secured(m, sec, false)
	}
	r.metrics.CacheMiss()
	m.Rcode = dns.RcodeSuccess
	// The chain the cache holds, then a referral for where it ends.
	if c, ok := lastCNAME(m.Answer); ok {
		name = lower(c.Target)
	} else {
		m.Answer = nil
	}
	if soa, nsec, ok := r.nxAncestor(name, now); ok {
		m.Rcode, m.Ns = dns.RcodeNameError, soa
		sec.merge(nsec)
		return r.secured(m, sec, false)
	}
	sec.merge(security{}) // a referral is not validated: never AD
	d := r.closest(name, now)
	ttl := uint32(hintsTTL)
	if !d.expires.IsZero() {
		ttl = uint32((d.expires.Sub(now) + time.Second - 1) / time.Second)
	}
	for _, ns := range d.ns {
		m.Ns = append(m.Ns, &dns.NS{Hdr: dns.RR_Header{Name: d.zone, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: ttl}, Ns: ns})
		for _, a := range r.addrsFor(d, ns, now) {
			h := dns.RR_Header{Name: ns, Class: dns.ClassINET, Ttl: ttl}
			if a.Is4() {
				h.Rrtype = dns.TypeA
				m.Extra = append(m.Extra, newA(h, a.AsSlice()))
			} else {
				h.Rrtype = dns.TypeAAAA
				m.Extra = append(m.Extra, &dns.AAAA{Hdr: h, AAAA: a.AsSlice()})
			}
		}
	}
	return r.secured(m, sec, false)
}

// lastCNAME is the last CNAME of a chain read from the cache (its RRSIGs,
// when validating, come after it).
func lastCNAME(answer []dns.RR) (*dns.CNAME, bool) {
	for i := len(answer) - 1; i >= 0; i-- {
		switch x := answer[i].(type) {
		case *dns.RRSIG:
			continue
		case *dns.CNAME:
			return x, true
		}
		return nil, false
	}
	return nil, false
}

// hintsTTL is the TTL of a referral to a delegation that never expires
// (root hints, stub zones): the root zone's own NS TTL (6 days).
const hintsTTL = 518400

// flight is one resolution shared by every client asking the same question
// meanwhile: res and err are set before done is closed. ctx is the
// resolution's context (in the flight to save an allocation).
type flight struct {
	done chan struct{}
	res  result
	err  error
	ctx  deadlineCtx
}

// flights maps the questions being resolved to their flight.
type flights struct {
	mu sync.Mutex
	m  map[rrKey]*flight
}

// join returns the flight resolving key, creating one if there is none;
// leader reports that it did, and the caller must then run it: on a
// worker (start, detached from any client: see workers) or itself (fly). A
// flight leaves the map before its done is closed, so a client arriving
// later starts a new one or finds the answer in the cache.
func (r *Resolver) join(key rrKey) (fl *flight, leader bool) {
	f := &r.flights
	f.mu.Lock()
	if fl, ok := f.m[key]; ok {
		f.mu.Unlock()
		return fl, false
	}
	if f.m == nil {
		f.m = make(map[rrKey]*flight)
	}
	fl = &flight{done: make(chan struct{})}
	f.m[key] = fl
	f.mu.Unlock()
	return fl, true
}

func (r *Resolver) fly(key rrKey, fl *flight) {
	fl.ctx.deadline = time.Now().Add(r.cfg.Deadline)
	fl.res, fl.err = r.resolveShared(&fl.ctx, key.name, key.qtype)
	fl.ctx.stop()
	r.flights.mu.Lock()
	delete(r.flights.m, key)
	r.flights.mu.Unlock()
	close(fl.done)
}

// reply fills rm from a shared resolution: SERVFAIL with its error, or copies
// of its records (the result is shared by every waiter).
func (r *Resolver) reply(rm *replyMsg, fl *flight, cd bool) (*dns.Msg, error) {
	m := &rm.m
	if fl.err != nil {
		m.Rcode = dns.RcodeServerFailure
		return m, fl.err
	}
	v := &fl.res
	m.Rcode = v.rcode
	m.Answer = appendOwnCopies(rm.ans[:0], v.answer)
	m.Ns = appendOwnCopies(nil, v.ns)
	return r.secured(m, v.sec, cd)
}

func appendOwnCopies(dst, rrs []dns.RR) []dns.RR {
	if len(rrs) == 0 {
		return nil
	}
	for _, rr := range rrs {
		dst = append(dst, copyRR(rr))
	}
	return dst
}

// copyRR is dns.Copy, with an A record (4-byte address) and its address
// in one allocation instead of two.
func copyRR(rr dns.RR) dns.RR {
	if a, ok := rr.(*dns.A); ok && len(a.A) == 4 {
		return newA(a.Hdr, a.A)
	}
	return dns.Copy(rr)
}

// replyMsg is Resolve's reply with room for its question and a short
// answer section: one allocation.
type replyMsg struct {
	m   dns.Msg
	q   [1]dns.Question
	ans [2]dns.RR
}

// serveStale answers from expired data (RFC 8767). Bogus data is never
// served stale, and stale data never gets AD.
func (r *Resolver) serveStale(m *dns.Msg, name string, qtype uint16, now time.Time) bool {
	m.Answer, m.Ns = nil, nil
	sec := fullySecure()
	if r.fromCache(m, name, qtype, now, true, nil, &sec) && sec.status != dnssec.Bogus {
		r.metrics.StaleServed()
		opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		opt.SetUDPSize(ednsBufSize)
		opt.Option = []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeStaleAnswer}}
		m.Extra = append(m.Extra, opt)
		return true
	}
	m.Answer, m.Ns = nil, nil
	return false
}

func (r *Resolver) hasStale(name string, qtype uint16, now time.Time) bool {
	var m dns.Msg
	sec := fullySecure()
	return r.fromCache(&m, name, qtype, now, true, nil, &sec) && sec.status != dnssec.Bogus
}

// resolveShared runs one resolution on behalf of every waiter, detached
// from any client's context but bounded by the configured deadline.
func (r *Resolver) resolveShared(ctx *deadlineCtx, name string, qtype uint16) (res result, err error) {
	if r.running.Add(1) > int64(r.cfg.MaxInFlight) {
		r.running.Add(-1)
		r.metrics.BudgetExhausted("inflight")
		return result{}, fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], ErrOverload)
	}
	defer r.running.Add(-1)
	defer func() {
		if p := recover(); p != nil {
			res, err = result{}, fmt.Errorf("%s %s: internal error: %v", name, dns.TypeToString[qtype], p)
		}
	}()
	st := &state{deadline: r.clock.Now().Add(r.cfg.Deadline)}
	res, err = r.resolveChain(ctx, st, name, qtype)
	key := typeKey(name, qtype)
	if err != nil {
		if errors.Is(err, ErrBudget) {
			r.metrics.BudgetExhausted(st.exhausted)
		}
		if errors.Is(err, ErrDeadline) || errors.Is(err, context.DeadlineExceeded) {
			r.metrics.BudgetExhausted("deadline")
		}
		if errors.Is(err, errBusy) {
			// Not the name's fault: a capped server. Not cached (RFC 9520
			// is about failures of the name's servers).
			return result{}, fmt.Errorf("resolve %s %s: %w", name, dns.TypeToString[qtype], err)
		}
		f, _ := r.c.fail.Peek(key)
		f.count++
		ttl := r.cfg.FailureTTL << min(f.count-1, 10)
		if ttl > r.cfg.FailureMaxTTL || ttl <= 0 {
			ttl = r.cfg.FailureMaxTTL
		}
		f.until = r.clock.Now().Add(ttl)
		f.cause = err
		r.c.fail.Add(key, f)
		return result{}, fmt.Errorf("resolve %s %s: %w", name, dns.TypeToString[qtype], err)
	}
	r.c.fail.Remove(key)
	return res, nil
}

// fromCache fills m from the cache, following CNAMEs. It reports whether
// the cache held a complete answer (final RRset or negative answer). See
// cacheStep for sawStale.
func (r *Resolver) fromCache(m *dns.Msg, name string, qtype uint16, now time.Time, stale bool, sawStale *bool, sec *security) bool {
	for i := 0; i <= r.cfg.MaxCNAME; i++ {
		rrs, next, rcode, neg, ok := r.cacheStep(m.Answer, name, qtype, now, stale, sawStale, sec)
		if !ok {
			return false
		}
		m.Answer = rrs
		if next == "" {
			m.Rcode = rcode
			if neg != nil {
				m.Ns = neg
			}
			return true
		}
		name = next
	}
	return false
}

// cacheStep looks name up once: a final RRset (next == ""), a negative
// answer (neg holds the SOA copy), or a CNAME to follow (next). ok is false
// on a miss. Copies are appended to dst. Unless stale, any entry it finds
// that only a stale lookup could use sets *sawStale (when not nil).
//
// With validation on, entries never validated are misses, the RRSIGs and
// proofs of what is used are appended too, and the security of each entry
// used is merged into *sec (when not nil).
func (r *Resolver) cacheStep(dst []dns.RR, name string, qtype uint16, now time.Time, stale bool, sawStale *bool, sec *security) (out []dns.RR, next string, rcode int, neg []dns.RR, ok bool) {
	ms := r.cfg.MaxStale
	validating := r.validator() != nil
	usable := func(e *entry) bool {
		if validating && !e.sec.checked {
			return false
		}
		if e.usable(now, stale, ms) {
			if sec != nil {
				sec.merge(e.sec)
			}
			return true
		}
		if sawStale != nil && e.usable(now, true, ms) {
			*sawStale = true
		}
		return false
	}
	if e, hit := r.c.rr.Get(typeKey(name, qtype)); hit && usable(e) {
		ttl := remaining(e, now, stale, r.cfg.StaleTTL)
		if e.neg {
			return dst, "", e.rcode, appendSigCopies(appendCopies(nil, e.rrs, ttl), e.sigs, ttl), true
		}
		return appendSigCopies(appendCopies(dst, e.rrs, ttl), e.sigs, ttl), "", dns.RcodeSuccess, nil, true
	}
	if qtype != dns.TypeCNAME {
		if e, hit := r.c.rr.Get(typeKey(name, dns.TypeCNAME)); hit && !e.neg && len(e.rrs) > 0 && usable(e) {
			ttl := remaining(e, now, stale, r.cfg.StaleTTL)
			return appendSigCopies(appendCopies(dst, e.rrs[:1], ttl), e.sigs, ttl), lower(e.rrs[0].(*dns.CNAME).Target), 0, nil, true
		}
	}
	if e, hit := r.c.rr.Get(nameErrorKey(name)); hit && usable(e) {
		ttl := remaining(e, now, stale, r.cfg.StaleTTL)
		return dst, "", dns.RcodeNameError, appendSigCopies(appendCopies(nil, e.rrs, ttl), e.sigs, ttl), true
	}
	return dst, "", 0, nil, false
}
