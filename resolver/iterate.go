package resolver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
	"github.com/gitops-dns/resolverd/internal/wire"
	"github.com/gitops-dns/resolverd/resolver/dnssec"
)

const (
	maxSteps      = 48 // referrals + minimised queries for one name
	maxMinimise   = 10 // RFC 9156 MAX_MINIMISE_COUNT
	maxChain      = 16 // CNAME/DNAME links read from one reply
	maxNSPerZone  = 16 // NS names kept from one referral
	maxGluePerNS  = 8  // addresses kept per NS name
	ednsBufSize   = 1232
	downThreshold = 3 // consecutive failures before an authority is skipped
	// noEDNSTTL is how long a server that answered FORMERR to EDNS is asked
	// without it (Unbound's infra-host-ttl).
	noEDNSTTL = 15 * time.Minute
)

// state is the work budget of one client question, shared by every
// sub-resolution (NS names) it causes.
type state struct {
	sends, cnames, nsLookups, depth int
	deadline                        time.Time
	busy                            []string // NS names being resolved (cycle guard)
	exhausted                       string
	from                            netip.AddrPort // the server that gave the last accepted answer (cache inspection)
	vb                              *dnssec.Budget // validation work, made on first use
}

func (st *state) budget(which string) error {
	st.exhausted = which
	return fmt.Errorf("%w: %s", ErrBudget, which)
}

// fatal errors end the whole resolution; others only the attempt.
func fatal(ctx context.Context, err error) bool {
	return errors.Is(err, ErrBudget) || errors.Is(err, ErrDeadline) || ctx.Err() != nil
}

type status int

const (
	statusAnswer status = iota
	statusNXDOMAIN
	statusNODATA
	statusFollow   // the chain leaves the reply: resolve target
	statusYXDOMAIN // a DNAME's substitution is too long (RFC 6672 2.2)
)

// outcome is what one reply says about a name: its chain of CNAMEs (and
// DNAMEs with the CNAMEs synthesised from them) and how it ends.
type outcome struct {
	chain  []dns.RR
	target string // lower case: where the chain ends
	status status
	soa    []dns.RR       // negative answers: the SOA (at most one)
	from   netip.AddrPort // the server that gave it (cache inspection)
	// With validation on (validate.go): the chain's RRSIGs, the proof of a
	// negative answer or wildcard expansion, the security of the reply, and
	// when its shortest signature expires.
	sigs, proof []dns.RR
	sec         security
	until       time.Time
}

// resolveChain resolves qname/qtype to the end of its CNAME chain.
func (r *Resolver) resolveChain(ctx context.Context, st *state, qname string, qtype uint16) (result, error) {
	res := result{sec: fullySecure()}
	name := qname
	seen := []string{qname}
	follow := func(next string, links int) error {
		if slices.Contains(seen, next) {
			return fmt.Errorf("%s: %w", qname, ErrCNAMELoop)
		}
		seen = append(seen, next)
		st.cnames += links
		if st.cnames > r.cfg.MaxCNAME {
			return st.budget("cname")
		}
		return nil
	}
	for {
		now := r.clock.Now()
		rrs, next, rcode, neg, ok := r.cacheStep(res.answer, name, qtype, now, false, nil, &res.sec)
		if ok {
			res.answer = rrs
			if next == "" {
				res.rcode, res.ns = rcode, neg
				return res, nil
			}
			if err := follow(next, 1); err != nil {
				return result{}, err
			}
			name = next
			continue
		}
		if soa, sec, ok := r.nxAncestor(name, now); ok {
			res.rcode, res.ns = dns.RcodeNameError, soa
			res.sec.merge(sec)
			return res, nil
		}
		if agg, ok := r.aggressive(st, name, qtype, now); ok {
			res.rcode, res.ns = agg.rcode, agg.ns
			return res, nil
		}
		out, err := r.lookup(ctx, st, name, qtype)
		if err != nil {
			return result{}, err
		}
		res.sec.merge(out.sec)
		if len(out.sigs) > 0 {
			out.chain = append(out.chain[:len(out.chain):len(out.chain)], out.sigs...)
		}
		// The records are shared with the cache, read only: reply gives
		// each client copies. Appending to res.answer later never writes
		// into out.chain[:len], which the cache's entries share.
		if len(res.answer) == 0 {
			res.answer = out.chain
		} else {
			res.answer = append(res.answer, out.chain...)
		}
		switch out.status {
		case statusAnswer:
			res.rcode = dns.RcodeSuccess
			return res, nil
		case statusNXDOMAIN:
			res.rcode = dns.RcodeNameError
			res.ns = append(r.negativeSOA(out.soa), out.proof...)
			return res, nil
		case statusNODATA:
			res.rcode = dns.RcodeSuccess
			res.ns = append(r.negativeSOA(out.soa), out.proof...)
			return res, nil
		case statusYXDOMAIN:
			res.rcode = dns.RcodeYXDomain
			return res, nil
		}
		links := 0
		for _, rr := range out.chain {
			if rr.Header().Rrtype == dns.TypeCNAME {
				links++
			}
		}
		if out.target == name || links == 0 {
			return result{}, fmt.Errorf("%s: reply for %s made no progress", qname, name)
		}
		if err := follow(out.target, links); err != nil {
			return result{}, err
		}
		name = out.target
	}
}

// negativeSOA is the SOA a fresh negative answer carries: a copy with the
// TTL the answer is cached for, min(SOA TTL, MINIMUM) within
// NegativeMaxTTL (RFC 2308 3 and 5), as the same answer from the cache
// counts down from.
func (r *Resolver) negativeSOA(soa []dns.RR) []dns.RR {
	v, ok := firstSOA(soa)
	if !ok {
		return soa
	}
	c := dns.Copy(v).(*dns.SOA)
	c.Hdr.Ttl = uint32(capTTL(min(v.Hdr.Ttl, v.Minttl), r.cfg.NegativeMaxTTL) / time.Second)
	return []dns.RR{c}
}

func firstSOA(rrs []dns.RR) (*dns.SOA, bool) {
	if len(rrs) == 0 {
		return nil, false
	}
	v, ok := rrs[0].(*dns.SOA)
	return v, ok
}

// nxAncestor reports whether a proper ancestor of name is cached as
// non-existent (RFC 8020: nothing exists below it) and returns its SOA.
//
// With validation on only a validated, not bogus, NXDOMAIN counts (as
// Unbound's harden-below-nxdomain): its proof (kept with it) covers every
// name below too, the closest encloser and wildcard being the same.
func (r *Resolver) nxAncestor(name string, now time.Time) ([]dns.RR, security, bool) {
	validating := r.validator() != nil
	for i, end := dns.NextLabel(name, 0); !end; i, end = dns.NextLabel(name, i) {
		e, ok := r.c.rr.Peek(nameErrorKey(name[i:]))
		if ok && e.fresh(now) && (!validating || e.sec.checked && e.sec.status != dnssec.Bogus) {
			ttl := remaining(e, now, false, 0)
			return appendSigCopies(appendCopies(nil, e.rrs, ttl), e.sigs, ttl), e.sec, true
		}
	}
	return nil, security{}, false
}

// lookup asks the network about name once (forwarded or iteratively) and
// caches what it learnt.
func (r *Resolver) lookup(ctx context.Context, st *state, name string, qtype uint16) (outcome, error) {
	if out, ok := r.local(name, qtype); ok {
		out.sec = security{checked: true, status: dnssec.Indeterminate}
		return out, nil // not cached: a new forward rule or stub zone takes over at once
	}
	var out outcome
	var resp *dns.Msg
	zone := ""
	if rule := r.forwardRule(name); rule != nil {
		var err error
		if resp, err = r.forwardReply(ctx, st, rule, name, qtype); err != nil {
			return outcome{}, err
		}
		out = extract(resp, ".", name, qtype, true)
	} else {
		var err error
		if resp, zone, err = r.iterate(ctx, st, name, qtype); err != nil {
			return outcome{}, err
		}
		out = extract(resp, zone, name, qtype, false)
	}
	if err := r.checkRRsets(&out, name, qtype); err != nil {
		return outcome{}, err
	}
	out.from = st.from
	if v := r.validator(); v != nil {
		r.validate(ctx, st, v, resp, zone, name, qtype, &out)
	}
	r.store(&out, qtype, r.clock.Now())
	return out, nil
}

// store caches the chain's RRsets (not DNAMEs: their synthesised CNAMEs)
// and a negative answer with its RFC 2308 TTL.
func (r *Resolver) store(out *outcome, qtype uint16, now time.Time) {
	for i := 0; i < len(out.chain); {
		h := out.chain[i].Header()
		j := i + 1
		for j < len(out.chain) && out.chain[j].Header().Rrtype == h.Rrtype && dnsname.EqualFold(out.chain[j].Header().Name, h.Name) {
			j++
		}
		if h.Rrtype != dns.TypeDNAME {
			// Shared with the chain (no copy): neither is ever modified
			// within its length, and the capacity is cut so that an append
			// to the entry's slice could not reach the chain's records.
			set := out.chain[i:j:j]
			r.addTyped(typeKey(lower(h.Name), h.Rrtype), &entry{rrs: set, from: out.from, expires: r.expiry(out, now, capTTL(ttlOf(set), r.cfg.MaxTTL)),
				sigs: sigsFor(out.sigs, h.Name, h.Rrtype), sec: out.sec})
		}
		i = j
	}
	if (out.status != statusNXDOMAIN && out.status != statusNODATA) || wire.IsMeta(qtype) {
		return // nothing negative to keep; never anything for a meta type
	}
	soa, ok := firstSOA(out.soa)
	if !ok {
		return
	}
	ttl := min(soa.Hdr.Ttl, soa.Minttl)
	e := &entry{rrs: out.soa[:1:1], neg: true, from: out.from, expires: r.expiry(out, now, capTTL(ttl, r.cfg.NegativeMaxTTL)), sigs: out.proof, sec: out.sec}
	if out.status == statusNXDOMAIN {
		e.rcode = dns.RcodeNameError
		r.c.put(nameErrorKey(out.target), e)
	} else {
		e.rcode = dns.RcodeSuccess
		r.addTyped(typeKey(out.target, qtype), e)
	}
}

// addTyped caches a typed entry within MaxTypesPerName.
func (r *Resolver) addTyped(k rrKey, e *entry) {
	if n, ok := r.c.addTyped(k, e, r.cfg.MaxTypesPerName); !ok {
		r.metrics.LimitHit("types_per_name", k.name, k.qtype, n)
	}
}

// checkRRsets fails an answer holding an RRset larger than
// MaxRecordsPerRRset (BIND's max-records-per-type, CVE-2024-1737): such a
// set is neither cached nor served.
func (r *Resolver) checkRRsets(out *outcome, name string, qtype uint16) error {
	for i := 0; i < len(out.chain); {
		h := out.chain[i].Header()
		j := i + 1
		for j < len(out.chain) && out.chain[j].Header().Rrtype == h.Rrtype && dnsname.EqualFold(out.chain[j].Header().Name, h.Name) {
			j++
		}
		if n := j - i; n > r.cfg.MaxRecordsPerRRset {
			r.metrics.LimitHit("records_per_rrset", lower(h.Name), h.Rrtype, n)
			return fmt.Errorf("%s %s: %d records in the %s %s RRset: %w", name, dns.TypeToString[qtype], n, h.Name, dns.TypeToString[h.Rrtype], ErrTooManyRecords)
		}
		i = j
	}
	return nil
}

// extract reads qname's chain out of a reply from a server for zone. With
// recursive (a forward target) the whole chain is taken; from an authority
// only records inside zone, and of a CNAME or DNAME chain only its first
// link: the target is asked for on its own.
func extract(resp *dns.Msg, zone, qname string, qtype uint16, recursive bool) outcome {
	var out outcome
	name := qname
	seen := []string{qname}
	for i := 0; i < maxChain; i++ {
		if !recursive && !dnsname.IsSubDomain(zone, name) {
			out.status, out.target = statusFollow, name
			return out
		}
		var final []dns.RR
		var cname *dns.CNAME
		var dname *dns.DNAME
		for _, rr := range resp.Answer {
			h := rr.Header()
			if h.Class != dns.ClassINET {
				continue
			}
			if dnsname.EqualFold(h.Name, name) {
				if h.Rrtype == qtype {
					final = append(final, rr)
				} else if c, ok := rr.(*dns.CNAME); ok && cname == nil {
					cname = c
				}
			} else if d, ok := rr.(*dns.DNAME); ok && dname == nil && dnsname.IsSubDomain(h.Name, name) && (recursive || dnsname.IsSubDomain(zone, h.Name)) {
				dname = d
			}
		}
		if len(final) > 0 {
			out.chain = append(out.chain, dedupe(final)...)
			out.status, out.target = statusAnswer, name
			return out
		}
		var next string
		switch {
		case cname != nil && qtype != dns.TypeCNAME && dname == nil:
			next = lower(cname.Target)
			out.chain = append(out.chain, cname)
		case dname != nil:
			prefix := name[:len(name)-len(dname.Hdr.Name)]
			next = lower(prefix + dname.Target)
			if _, ok := dns.IsDomainName(next); !ok || len(next) > 255 {
				// RFC 6672 2.2: the substitution does not fit: YXDOMAIN,
				// with the DNAME that says so.
				out.chain = append(out.chain, dname)
				out.status, out.target = statusYXDOMAIN, name
				return out
			}
			synth := &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: dname.Hdr.Ttl}, Target: next}
			out.chain = append(out.chain, dname, synth)
		}
		if next == "" {
			break
		}
		if slices.Contains(seen, next) || !recursive {
			// From an authority only the first link is taken: the AA bit
			// speaks for the question's name alone (RFC 1035 4.1.1), and
			// the rest of a chain, even inside the zone, may lie below a
			// cut the server does not serve. The target is asked for on
			// its own (as Unbound cuts chain remainders too).
			out.status, out.target = statusFollow, next
			return out
		}
		seen = append(seen, next)
		name = next
	}
	out.target = name
	soa := soaFor(resp, zone, name, recursive)
	switch {
	case len(out.chain) == 0 || recursive:
		if resp.Rcode == dns.RcodeNameError {
			out.status = statusNXDOMAIN
		} else {
			out.status = statusNODATA
		}
		out.soa = soa
	case soa != nil && resp.Rcode == dns.RcodeNameError:
		out.status, out.soa = statusNXDOMAIN, soa
	case soa != nil && resp.Rcode == dns.RcodeSuccess:
		out.status, out.soa = statusNODATA, soa
	default:
		out.status = statusFollow
	}
	return out
}

// dedupe drops repeated records of an RRset (RFC 2181 5: a set holds no
// duplicates; TTLs aside, RFC 2181 5.2). Small sets, the usual, are
// compared pairwise without allocating.
func dedupe(rrs []dns.RR) []dns.RR {
	if len(rrs) < 2 {
		return rrs
	}
	out := rrs[:1]
	if len(rrs) <= 16 {
		for _, rr := range rrs[1:] {
			if !slices.ContainsFunc(out, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
				out = append(out, rr)
			}
		}
		return out
	}
	seen := make(map[string]bool, len(rrs))
	out = rrs[:0]
	for _, rr := range rrs {
		k := strings.TrimPrefix(rr.String(), rr.Header().String())
		if !seen[k] {
			seen[k] = true
			out = append(out, rr)
		}
	}
	return out
}

// soaFor returns the SOA of a negative answer about name, if it comes from
// inside zone.
func soaFor(resp *dns.Msg, zone, name string, recursive bool) []dns.RR {
	for _, rr := range resp.Ns {
		h := rr.Header()
		if h.Rrtype != dns.TypeSOA || h.Class != dns.ClassINET {
			continue
		}
		if dnsname.IsSubDomain(h.Name, name) && (recursive || dnsname.IsSubDomain(zone, h.Name)) {
			return []dns.RR{rr}
		}
	}
	return nil
}

type kind int

const (
	kindAnswer kind = iota
	kindNXDOMAIN
	kindNODATA
	kindReferral
	kindLame   // not a server of the zone: REFUSED, upward or sideways referral, no data and no SOA
	kindBroken // SERVFAIL, FORMERR, NOTIMP, ...: this server, this time
)

// classify says what a reply from a server of zone to sname/stype is.
//
// The AA bit decides nothing on its own: plenty of authorities, load
// balancers and middleboxes leave it out, and a reply from a server the
// delegation named that answers the question inside its zone is the
// answer (RFC 1034 5.3.3 step 4 asks only that the response "answers the
// question"; Unbound, BIND and Knot accept it). What makes a server lame
// (RFC 1912 2.8, RFC 4697 2.1) is what shows it does not hold the zone:
// REFUSED or NOTAUTH, a referral to the zone itself, above it or
// sideways, or no data and no SOA of the zone.
func classify(resp *dns.Msg, zone, sname string, stype uint16) kind {
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeYXDomain:
		// RFC 6672 2.2: a DNAME whose substitution is too long.
		if answersFor(resp, zone, sname, stype) {
			return kindAnswer
		}
		return kindBroken
	case dns.RcodeRefused, dns.RcodeNotAuth:
		return kindLame
	default:
		return kindBroken
	}
	if answersFor(resp, zone, sname, stype) {
		// RFC 6604: with a CNAME chain the rcode is about its end, so an
		// NXDOMAIN that carries the chain is an answer to follow.
		return kindAnswer
	}
	hasSOA := soaFor(resp, zone, sname, false) != nil
	if resp.Rcode == dns.RcodeNameError {
		// RFC 2308 2.1: NXDOMAIN, with the SOA when it is to be cached.
		// Without AA and SOA it is still the server's word unless the
		// reply points elsewhere (an upward referral: lame).
		if resp.Authoritative || hasSOA || !upwardNS(resp, zone) {
			return kindNXDOMAIN
		}
		return kindLame
	}
	if !hasSOA && referralOwner(resp, zone, sname, stype) != "" {
		// RFC 1034 4.3.2 3b. Some servers set AA on referrals too: the NS
		// set below the zone, without a SOA, decides.
		return kindReferral
	}
	if hasSOA || (resp.Authoritative && !upwardNS(resp, zone)) {
		return kindNODATA // RFC 2308 2.2
	}
	return kindLame
}

// upwardNS reports whether resp's authority section holds an NS set that
// is not below zone: a referral to the zone itself, upward or sideways.
func upwardNS(resp *dns.Msg, zone string) bool {
	for _, rr := range resp.Ns {
		h := rr.Header()
		if h.Rrtype == dns.TypeNS && h.Class == dns.ClassINET && (dnsname.EqualFold(h.Name, zone) || !dnsname.IsSubDomain(zone, h.Name)) {
			return !dnsname.EqualFold(h.Name, zone)
		}
	}
	return false
}

func answersFor(resp *dns.Msg, zone, sname string, stype uint16) bool {
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Class != dns.ClassINET {
			continue
		}
		if dnsname.EqualFold(h.Name, sname) && (h.Rrtype == stype || h.Rrtype == dns.TypeCNAME) {
			return true
		}
		if h.Rrtype == dns.TypeDNAME && !dnsname.EqualFold(h.Name, sname) && dnsname.IsSubDomain(h.Name, sname) && dnsname.IsSubDomain(zone, h.Name) {
			return true
		}
	}
	return false
}

// referralOwner returns the owner of the first NS set in the authority
// section that is a zone cut strictly below zone on the way to sname. A DS
// set lives on the parent side of its cut (RFC 4035 3.1.4.1), so for a DS
// question the cut at sname itself is no referral.
func referralOwner(resp *dns.Msg, zone, sname string, stype uint16) string {
	for _, rr := range resp.Ns {
		h := rr.Header()
		if h.Rrtype != dns.TypeNS || h.Class != dns.ClassINET {
			continue
		}
		if stype == dns.TypeDS && dnsname.EqualFold(h.Name, sname) {
			continue
		}
		if !dnsname.EqualFold(h.Name, zone) && dnsname.IsSubDomain(zone, h.Name) && dnsname.IsSubDomain(h.Name, sname) {
			return lower(h.Name)
		}
	}
	return ""
}

// referral builds the delegation a referral reply describes. Glue is kept
// only for the delegation's NS names and only inside the parent's zone.
func (r *Resolver) referral(resp *dns.Msg, parent *delegation, sname string, stype uint16, now time.Time) *delegation {
	owner := referralOwner(resp, parent.zone, sname, stype)
	d := &delegation{zone: owner, glue: map[string][]netip.Addr{}}
	var ttl uint32
	first := true
	for _, rr := range resp.Ns {
		ns, ok := rr.(*dns.NS)
		if !ok || ns.Hdr.Class != dns.ClassINET || !dnsname.EqualFold(ns.Hdr.Name, owner) {
			continue
		}
		if first || ns.Hdr.Ttl < ttl {
			ttl, first = ns.Hdr.Ttl, false
		}
		if n := lower(ns.Ns); !slices.Contains(d.ns, n) && len(d.ns) < maxNSPerZone {
			d.ns = append(d.ns, n)
		}
	}
	for _, rr := range resp.Extra {
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA.To16())
		default:
			continue
		}
		n := lower(rr.Header().Name)
		if !a.IsValid() || rr.Header().Class != dns.ClassINET || !slices.Contains(d.ns, n) {
			continue
		}
		glue := d.glue
		if !dnsname.IsSubDomain(parent.zone, n) {
			// Glue outside the parent's zone is no data the parent may
			// vouch for (RFC 2181 5.4.1): never cached as the name's
			// address nor used while the name can be resolved. It is kept
			// to reach this delegation's servers when their names need
			// each other's addresses (the parent chooses where the
			// delegation leads anyway).
			if d.oobGlue == nil {
				d.oobGlue = map[string][]netip.Addr{}
			}
			glue = d.oobGlue
		}
		if len(glue[n]) < maxGluePerNS && !slices.Contains(glue[n], a) {
			glue[n] = append(glue[n], a)
		}
	}
	d.expires = now.Add(capTTL(ttl, r.cfg.MaxTTL))
	return d
}

// learnChildNS returns d updated with the zone's own NS set when resp, a
// non-referral reply from one of d's servers, carries it (in the answer to
// an NS question at the apex, or in authority): RFC 2181 5.4.1 ranks the
// child's authoritative data above the parent's delegation, so later
// questions go to the servers the zone itself names (a parent's stale NS
// set gives way). Addresses come from the reply's in-zone records and
// the glue d had. Root hints and stub zones (never expiring) are kept.
// Seen again, the same set changes nothing (its expiry is not renewed).
func (r *Resolver) learnChildNS(resp *dns.Msg, d *delegation, now time.Time) *delegation {
	if d.expires.IsZero() {
		return d
	}
	var ns []string
	var ttl uint32
	for _, sec := range [2][]dns.RR{resp.Answer, resp.Ns} {
		for _, rr := range sec {
			v, ok := rr.(*dns.NS)
			if !ok || v.Hdr.Class != dns.ClassINET || !dnsname.EqualFold(v.Hdr.Name, d.zone) {
				continue
			}
			if n := lower(v.Ns); !slices.Contains(ns, n) && len(ns) < maxNSPerZone {
				if len(ns) == 0 || v.Hdr.Ttl < ttl {
					ttl = v.Hdr.Ttl
				}
				ns = append(ns, n)
			}
		}
		if len(ns) > 0 {
			break
		}
	}
	if len(ns) == 0 {
		return d
	}
	same := len(ns) == len(d.ns)
	for _, n := range ns {
		same = same && slices.Contains(d.ns, n)
	}
	if same && d.child {
		return d
	}
	nd := &delegation{zone: d.zone, ns: ns, glue: map[string][]netip.Addr{}, oobGlue: d.oobGlue, child: true}
	for _, n := range ns {
		if g := d.glue[n]; len(g) > 0 {
			nd.glue[n] = g
		}
	}
	for _, sec := range [2][]dns.RR{resp.Answer, resp.Extra} {
		for _, rr := range sec {
			n := lower(rr.Header().Name)
			if rr.Header().Class != dns.ClassINET || !slices.Contains(ns, n) || !dnsname.IsSubDomain(d.zone, n) || len(d.glue[n]) > 0 {
				continue
			}
			if a := appendAddrs(nil, []dns.RR{rr}); len(a) == 1 && len(nd.glue[n]) < maxGluePerNS && !slices.Contains(nd.glue[n], a[0]) {
				nd.glue[n] = append(nd.glue[n], a[0])
			}
		}
	}
	if !slices.ContainsFunc(ns, func(n string) bool { return len(nd.glue[n]) > 0 || !dnsname.IsSubDomain(d.zone, n) }) {
		return d // no way to reach the set's servers: keep the one that works
	}
	// Never past the delegation it replaces: servers the parent no longer
	// names must not keep their zone alive by repeating their own NS set
	// (ghost domains, CVE-2012-1192); when it ends the parent is asked.
	nd.expires = now.Add(capTTL(ttl, r.cfg.MaxTTL))
	if d.expires.Before(nd.expires) {
		nd.expires = d.expires
	}
	r.c.deleg.Add(nd.zone, nd)
	return nd
}

// closest returns the deepest delegation above or at name: a stub zone (an
// internal zone cut) or a cached one, else the root hints.
func (r *Resolver) closest(name string, now time.Time) *delegation {
	dyn := r.dyn.Load() // one load: stubs and hints of the same config
	for n := name; ; {
		if n == "." {
			break
		}
		if d, ok := dyn.stubs[n]; ok {
			return d
		}
		if d, ok := r.c.deleg.Get(n); ok && now.Before(d.expires) {
			return d
		}
		i, end := dns.NextLabel(n, 0)
		if end {
			break
		}
		n = n[i:]
	}
	return dyn.hints
}

// iterate follows referrals from the closest known delegation down to the
// servers of qname's zone and returns their reply and the zone.
func (r *Resolver) iterate(ctx context.Context, st *state, qname string, qtype uint16) (*dns.Msg, string, error) {
	start := qname
	if qtype == dns.TypeDS && qname != "." {
		// RFC 4035 3.1.4.1: the DS set is in the parent's zone; the
		// child's servers (a cached delegation of qname) do not hold it.
		// A top-level name's parent is the root.
		start = "."
		if i, end := dns.NextLabel(qname, 0); !end {
			start = qname[i:]
		}
	}
	d := r.closest(start, r.clock.Now())
	minimise := !r.cfg.DisableQNAMEMinimisation
	known := d.zone
	minimised := 0
	for step := 0; step < maxSteps; step++ {
		sname, stype := qname, qtype
		if minimise && known != qname && minimised < maxMinimise {
			if sname = oneMore(qname, known); sname != qname {
				stype = dns.TypeA
			}
		}
		isMin := sname != qname
		if isMin && r.existsInCache(sname, r.clock.Now()) {
			// Known from an earlier minimised query: not a zone cut.
			known = sname
			minimised++
			continue
		}
		resp, k, err := r.ask(ctx, st, d, sname, stype, isMin)
		if err != nil {
			if isMin && !fatal(ctx, err) {
				minimise = false // relaxed: ask the full name
				continue
			}
			return nil, d.zone, err
		}
		if k != kindReferral {
			d = r.learnChildNS(resp, d, r.clock.Now())
		}
		switch k {
		case kindReferral:
			nd := r.referral(resp, d, sname, stype, r.clock.Now())
			r.noteReferral(resp, d.zone, nd.zone)
			if old, ok := r.c.deleg.Peek(nd.zone); ok && old.child && r.clock.Now().Before(old.expires) {
				// RFC 2181 5.4.1: the child's own NS set outranks the
				// parent's referral while it lives.
				nd = old
			} else {
				r.c.deleg.Add(nd.zone, nd)
			}
			d = nd
			known = d.zone
		case kindNXDOMAIN:
			if !isMin {
				return resp, d.zone, nil
			}
			minimise = false
		default:
			if !isMin {
				return resp, d.zone, nil
			}
			// Cache what the minimised query taught (the name exists in
			// d's zone), so the next name below it skips the query.
			out := extract(resp, d.zone, sname, stype, false)
			if r.checkRRsets(&out, sname, stype) == nil {
				out.from = st.from
				r.store(&out, stype, r.clock.Now())
			}
			known = sname
			minimised++
		}
	}
	return nil, d.zone, fmt.Errorf("%s: %w", qname, errSteps)
}

// existsInCache reports whether name is known (fresh A data, a CNAME, or a
// NODATA for A) to exist.
func (r *Resolver) existsInCache(name string, now time.Time) bool {
	for _, t := range [...]uint16{dns.TypeA, dns.TypeCNAME} {
		if e, ok := r.c.rr.Peek(typeKey(name, t)); ok && e.fresh(now) {
			return true
		}
	}
	return false
}

// addrsFor returns the known addresses of NS name ns of d: glue, else fresh
// cached A/AAAA answers.
func (r *Resolver) addrsFor(d *delegation, ns string, now time.Time) []netip.Addr {
	if g := d.glue[ns]; len(g) > 0 {
		return g
	}
	var out []netip.Addr
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		e, ok := r.c.rr.Peek(typeKey(ns, t))
		if !ok || e.neg || !e.fresh(now) {
			continue
		}
		out = appendAddrs(out, e.rrs)
	}
	return out
}

func appendAddrs(out []netip.Addr, rrs []dns.RR) []netip.Addr {
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(v.A.To4()); ok {
				out = append(out, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(v.AAAA.To16()); ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// order appends the usable servers among addrs for zone to dst, fastest
// first: lame ones (for zone) and down ones are left out.
func (r *Resolver) order(dst []netip.AddrPort, zone string, qtype uint16, addrs []netip.Addr, port uint16, now time.Time) []netip.AddrPort {
	type cand struct {
		ap    netip.AddrPort
		score time.Duration
	}
	var buf [8]cand // the usual NS set fits: no allocation
	cs := buf[:0]
	peers := r.dyn.Load().peers
	for _, a := range addrs {
		if r.cfg.DisableIPv6 && a.Is6() && !a.Is4In6() {
			continue
		}
		ap := netip.AddrPortFrom(a.Unmap(), port)
		if !r.mayQuery(ap.Addr()) || slices.Contains(peers, ap) {
			continue
		}
		if slices.ContainsFunc(cs, func(c cand) bool { return c.ap == ap }) {
			continue
		}
		recLame := false
		if l, ok := r.c.servers.Peek(serverKey{ap, zone}); ok {
			l.mu.Lock()
			lame := now.Before(l.lameUntil)
			if qtype == dns.TypeA {
				lame = now.Before(l.lameAUntil)
			}
			recLame = now.Before(l.recLameUntil)
			l.mu.Unlock()
			if lame {
				continue
			}
		}
		score := time.Duration(rand.Int64N(int64(5 * time.Millisecond)))
		if s, ok := r.c.servers.Peek(serverKey{addr: ap}); ok {
			s.mu.Lock()
			down := now.Before(s.downUntil)
			if s.srtt > 0 {
				score = s.srtt
			}
			s.mu.Unlock()
			if down {
				continue
			}
		}
		if recLame {
			score += time.Hour // last: asked only when the others fail
		}
		cs = append(cs, cand{ap, score})
	}
	slices.SortFunc(cs, func(a, b cand) int { return cmp.Compare(a.score, b.score) })
	for _, c := range cs {
		dst = append(dst, c.ap)
	}
	return dst
}

// mayQuery reports whether iteration may send to a: never to an
// unspecified (0.0.0.0/8, ::), multicast or broadcast address, nor to
// loopback unless Config.QueryLocalhost (Unbound's do-not-query-address
// defaults and do-not-query-localhost): a delegation must not turn the
// resolver against its own host or a whole segment. Skipped at once, not
// waited on.
func (r *Resolver) mayQuery(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		if b[0] == 0 || a == broadcast4 {
			return false
		}
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return false
	}
	return r.cfg.QueryLocalhost || !a.IsLoopback()
}

var broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})

func (r *Resolver) port() uint16 {
	if r.cfg.Port != 0 {
		return r.cfg.Port
	}
	return 53
}

var (
	errLame = errors.New("lame or broken server")
	errBusy = errors.New("too many queries outstanding to the server")
)

// ask sends sname/stype to d's servers, best first, until one gives a
// usable reply. NS names without addresses are resolved only when the
// servers with addresses have all failed, and only within budget; glue
// outside the parent's zone is their last resort (a cycle), and NS names
// outside the zone whose glue failed are resolved for their current
// address (stale glue).
func (r *Resolver) ask(ctx context.Context, st *state, d *delegation, sname string, stype uint16, minimised bool) (*dns.Msg, kind, error) {
	now := r.clock.Now()
	var abuf [8]netip.Addr // the usual NS set fits: no allocation
	addrs := abuf[:0]
	var missing, glued []string
	for _, ns := range d.ns {
		if a := r.addrsFor(d, ns, now); len(a) > 0 {
			addrs = append(addrs, a...)
			if len(d.glue[ns]) > 0 && !dnsname.IsSubDomain(d.zone, ns) {
				glued = append(glued, ns)
			}
		} else {
			missing = append(missing, ns)
		}
	}
	var lastErr error // nil: no server tried (made at the end, not on every ask)
	var timedOut []netip.AddrPort
	var recLame *dns.Msg // a recursive server's answer: the last resort
	var recLameKind kind
	try := func(servers []netip.AddrPort) (*dns.Msg, kind, bool, error) {
		for _, srv := range servers {
			resp, err := r.exchange(ctx, st, srv, sname, stype, false, false)
			if err != nil {
				if fatal(ctx, err) {
					return nil, 0, true, err
				}
				if isTimeout(err) {
					timedOut = append(timedOut, srv)
				}
				lastErr = err
				continue
			}
			k := classify(resp, d.zone, sname, stype)
			if k != kindReferral && k != kindLame && k != kindBroken && resp.RecursionAvailable && !resp.Authoritative {
				// RA without AA to a question without RD: a recursive
				// server answering from its cache, not the zone's
				// authority ("recursion lame", as Unbound calls it). Its
				// reply is kept as the last resort; the zone's other
				// servers are asked first, now and for a while.
				r.markRecLame(srv, d.zone, r.cfg.LameTTL)
				if recLame == nil {
					recLame, recLameKind = resp, k
				}
				lastErr = fmt.Errorf("%s for zone %s: recursive, not authoritative: %w", srv, d.zone, errLame)
				continue
			}
			if k == kindLame || k == kindBroken {
				// A lame server is skipped for the zone a while. A broken
				// reply (SERVFAIL, FORMERR, NOTIMP) is about this question
				// only, and a minimised question may be what the server
				// mishandles (RFC 9156 4): both just move on to the next
				// server (RFC 1034 5.3.3 step 4).
				if k == kindLame && !minimised {
					r.markLame(srv, d.zone, stype, r.cfg.LameTTL)
				}
				lastErr = fmt.Errorf("%s for zone %s (rcode %s): %w", srv, d.zone, dns.RcodeToString[resp.Rcode], errLame)
				continue
			}
			return resp, k, true, nil
		}
		return nil, 0, false, nil
	}
	var sbuf [8]netip.AddrPort
	servers := r.order(sbuf[:0], d.zone, stype, addrs, r.port(), now)
	if resp, k, done, err := try(servers); done {
		return resp, k, err
	}
	looked := 0
	resolveNS := func(names []string, fallback bool) (*dns.Msg, kind, bool, error) {
		for _, ns := range names {
			cycle := slices.Contains(st.busy, ns) || st.depth >= r.cfg.MaxDepth
			if dnsname.IsSubDomain(d.zone, ns) && len(d.oobGlue[ns]) == 0 {
				continue // needs glue we were not given
			}
			var a []netip.Addr
			if !cycle && looked < r.cfg.MaxNSPerReferal && !dnsname.IsSubDomain(d.zone, ns) {
				if st.nsLookups >= r.cfg.MaxNSLookups {
					return nil, 0, true, st.budget("nslookups")
				}
				st.nsLookups++
				looked++
				var err error
				if a, err = r.lookupAddrs(ctx, st, ns); err != nil {
					if fatal(ctx, err) {
						return nil, 0, true, err
					}
					lastErr = err
				}
			}
			if len(a) == 0 && fallback {
				a = d.oobGlue[ns]
			}
			if len(a) == 0 {
				continue
			}
			more := r.order(nil, d.zone, stype, a, r.port(), r.clock.Now())
			// Each server once: an NS name's address may be one asked already.
			more = slices.DeleteFunc(more, func(ap netip.AddrPort) bool { return slices.Contains(servers, ap) })
			servers = append(servers, more...)
			if resp, k, done, err := try(more); done {
				return resp, k, done, err
			}
		}
		return nil, 0, false, nil
	}
	if resp, k, done, err := resolveNS(missing, true); done {
		return resp, k, err
	}
	// Every glue address failed: the glue of names outside the zone may
	// be stale (the host moved); their own zones know where they are now.
	if len(timedOut) > 0 && len(glued) > 0 {
		if resp, k, done, err := resolveNS(glued, false); done {
			return resp, k, err
		}
	}
	if len(servers) < 3 && len(timedOut) > 0 {
		retry := timedOut
		timedOut = nil
		if resp, k, done, err := try(retry); done {
			return resp, k, err
		}
	}
	if recLame != nil {
		return recLame, recLameKind, nil
	}
	if lastErr == nil && len(addrs) > 0 {
		lastErr = fmt.Errorf("zone %s: none of its %d server addresses may be asked (lame, down, or loopback, unspecified, multicast, broadcast or a peer of this cluster): %w", d.zone, len(addrs), ErrNoServers)
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("zone %s: %w", d.zone, ErrNoServers)
	}
	return nil, 0, lastErr
}

// lookupAddrs resolves an NS name (A, then AAAA if no A) within st's budget.
func (r *Resolver) lookupAddrs(ctx context.Context, st *state, ns string) ([]netip.Addr, error) {
	st.depth++
	st.busy = append(st.busy, ns)
	defer func() {
		st.depth--
		st.busy = st.busy[:len(st.busy)-1]
	}()
	var out []netip.Addr
	var firstErr error
	types := []uint16{dns.TypeA, dns.TypeAAAA}
	if r.cfg.DisableIPv6 {
		types = types[:1]
	}
	for _, t := range types {
		res, err := r.resolveChain(ctx, st, ns, t)
		if err != nil {
			if fatal(ctx, err) {
				return nil, err
			}
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		out = appendAddrs(out, res.answer)
		if len(out) > 0 {
			return out, nil
		}
	}
	if firstErr != nil {
		return nil, fmt.Errorf("address of %s: %w", ns, firstErr)
	}
	return nil, fmt.Errorf("address of %s: %w", ns, ErrNoServers)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// exchange sends one query to srv (UDP, then TCP if truncated) within the
// budget, measures it and checks the reply matches: its id, and its
// question, letter case included when the query went out with 0x20
// mixed case (see mixCase); a server that does not echo the case is asked
// again in lower case and remembered for no0x20TTL.
func (r *Resolver) exchange(ctx context.Context, st *state, srv netip.AddrPort, name string, qtype uint16, rd, forward bool) (*dns.Msg, error) {
	var m *dns.Msg
	var o *outQuery
	if r.direct != nil {
		o = queryPool.Get().(*outQuery)
		defer queryPool.Put(o)
	}
	buildQuery := func(qname string) {
		if o != nil {
			o.init(qname, qtype, rd)
			m = &o.m
		} else {
			m = newQuery(qname, qtype, rd)
		}
		r.setDNSSECBits(m, forward)
	}
	info := r.c.server(serverKey{addr: srv})
	// Outstanding queries per server are capped, tightly for a server that
	// has never answered or whose last query failed: a hanging upstream
	// cannot hold every resolution slot (seed 003).
	info.mu.Lock()
	limit := r.cfg.MaxPerServer
	switch {
	case info.fails > 0:
		limit = r.cfg.MaxPerFailingServer
	case info.srtt == 0:
		limit = 2 * r.cfg.MaxPerFailingServer
	}
	if info.outstanding >= limit {
		info.mu.Unlock()
		r.metrics.BudgetExhausted("server")
		return nil, fmt.Errorf("%s %s: %w", srv, name, errBusy)
	}
	info.outstanding++
	network := "udp"
	var dot *dotPool
	if forward {
		if dot = r.dyn.Load().dot[srv]; dot != nil {
			network = "tcp-tls"
		}
	}
	// 0x20 guards against off-path spoofing, which TLS already rules out.
	mixed := !r.cfg.Disable0x20 && dot == nil && !r.clock.Now().Before(info.noCaseUntil)
	info.mu.Unlock()
	defer func() {
		info.mu.Lock()
		info.outstanding--
		info.mu.Unlock()
	}()
	qname := name
	if mixed {
		qname = mixCase(name)
	}
	// RFC 6891 7: a server remembered as not knowing EDNS is asked
	// without it.
	info.mu.Lock()
	noEDNS := r.clock.Now().Before(info.noEDNSUntil)
	info.mu.Unlock()
	build := func(qname string) {
		buildQuery(qname)
		if noEDNS {
			m.Extra = nil
		}
	}
	build(qname)
	// At most four sends: UDP, UDP again without EDNS (FORMERR), UDP
	// again in lower case (a server that does not echo 0x20), TCP
	// (truncated).
	for try := 0; try < 4; try++ {
		if st.sends >= r.cfg.MaxSends {
			return nil, st.budget("sends")
		}
		now := r.clock.Now()
		if !now.Before(st.deadline) {
			return nil, fmt.Errorf("%s: %w", name, ErrDeadline)
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("%s: %w: %w", name, ErrDeadline, err)
		}
		st.sends++
		to := r.attemptTimeout(info)
		if left := st.deadline.Sub(now); left < to {
			to = left
		}
		r.metrics.UpstreamQuery(srv, network)
		var resp *dns.Msg
		var err error
		if dot != nil {
			resp, err = dot.exchange(ctx, time.Now().Add(to), m)
		} else if r.direct != nil {
			// The built-in transports take the attempt's deadline as it is:
			// no context (and its timer and cancel registration) per attempt.
			resp, err = r.direct.exchangeUntil(ctx, time.Now().Add(to), network, srv, m)
		} else {
			actx, cancel := context.WithTimeout(ctx, to)
			resp, err = r.net.Exchange(actx, network, srv, m)
			cancel()
		}
		if err != nil {
			timeout := isTimeout(err)
			if timeout {
				r.metrics.UpstreamTimeout(srv)
			}
			thr := downThreshold
			if forward {
				thr = 1
			}
			// A connection the server closed after serving it is not the
			// server failing (RFC 7766 6.2.3, 6.2.4: servers close connections,
			// idle or not, when they like): counting it would tighten
			// the outstanding cap to MaxPerFailingServer and refuse the
			// resolutions in flight (errBusy) until the next success.
			if !errors.Is(err, errConnServedLost) {
				r.failed(info, to, thr)
			}
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%s: %w: %w", name, ErrDeadline, ctx.Err())
			}
			return nil, fmt.Errorf("%s %s %s: %w", network, srv, name, err)
		}
		if resp.Response && resp.Id == m.Id && resp.Rcode == dns.RcodeFormatError && !noEDNS && resp.IsEdns0() == nil && !forward &&
			(len(resp.Question) == 0 || sameQuestion(m, resp)) {
			// RFC 6891 7: FORMERR without an OPT to a query with one (old
			// servers may not copy the question into it): the server does
			// not know EDNS. Once more without it, with a new id, and it is
			// remembered for a while (in the bounded server cache).
			r.succeeded(info, r.clock.Now().Sub(now))
			info.mu.Lock()
			info.noEDNSUntil = r.clock.Now().Add(noEDNSTTL)
			info.mu.Unlock()
			noEDNS = true
			build(qname)
			continue
		}
		if !resp.Response || resp.Opcode != dns.OpcodeQuery || resp.Id != m.Id || !sameQuestion(m, resp) {
			return nil, fmt.Errorf("%s %s %s: %w", network, srv, name, errMismatch)
		}
		rtt := r.clock.Now().Sub(now)
		r.succeeded(info, rtt)
		st.from = srv
		r.metrics.UpstreamRTT(srv, forward, rtt)
		if mixed {
			if resp.Question[0].Name != qname {
				// The same question in another case: a server that does
				// not echo the case (or a spoofer that guessed the port and
				// id but not the case). Ask again in lower case, with a new
				// id, and stop mixing for this server for a while.
				info.mu.Lock()
				info.noCaseUntil = r.clock.Now().Add(no0x20TTL)
				info.mu.Unlock()
				mixed = false
				qname = name
				build(name)
				continue
			}
			unmixCase(resp, qname, name)
		}
		if resp.Truncated && network == "udp" {
			network = "tcp"
			continue
		}
		if resp.Truncated {
			// Over TCP the whole reply fits (RFC 7766 5): a truncated one
			// is broken, not a partial answer to use.
			return nil, fmt.Errorf("%s %s: truncated over TCP: %w", srv, name, errMismatch)
		}
		return resp, nil
	}
	return nil, fmt.Errorf("%s %s: no usable reply after %d sends: %w", srv, name, 4, errMismatch)
}

// no0x20TTL is how long a server that did not echo a mixed-case question is
// asked in lower case only (its entry in the bounded server cache may go
// sooner).
const no0x20TTL = time.Hour

func (r *Resolver) attemptTimeout(s *serverInfo) time.Duration {
	s.mu.Lock()
	srtt := s.srtt
	s.mu.Unlock()
	if srtt == 0 {
		return r.cfg.InitialTimeout
	}
	return min(max(4*srtt, r.cfg.MinTimeout), r.cfg.UpstreamTimeout)
}

func (r *Resolver) failed(s *serverInfo, to time.Duration, threshold int) {
	now := r.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails++
	s.srtt = min(max(2*s.srtt, to), 2*r.cfg.UpstreamTimeout)
	if s.fails >= threshold {
		back := time.Second << min(s.fails-threshold, 6)
		s.downUntil = now.Add(min(back, time.Minute))
	}
}

func (r *Resolver) succeeded(s *serverInfo, rtt time.Duration) {
	rtt = max(rtt, time.Microsecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = 0
	s.downUntil = time.Time{}
	if s.srtt == 0 {
		s.srtt = rtt
	} else {
		s.srtt = (7*s.srtt + 3*rtt) / 10
	}
}

func (r *Resolver) markRecLame(srv netip.AddrPort, zone string, d time.Duration) {
	s := r.c.server(serverKey{srv, zone})
	s.mu.Lock()
	s.recLameUntil = r.clock.Now().Add(d)
	s.mu.Unlock()
}

// markLame skips srv for zone a while, for A questions or for the others:
// a server may be lame for one kind only (an AAAA question answered with an
// upward referral while A works), as Unbound's infra cache tells them apart.
func (r *Resolver) markLame(srv netip.AddrPort, zone string, qtype uint16, d time.Duration) {
	s := r.c.server(serverKey{srv, zone})
	s.mu.Lock()
	if qtype == dns.TypeA {
		s.lameAUntil = r.clock.Now().Add(d)
	} else {
		s.lameUntil = r.clock.Now().Add(d)
	}
	s.mu.Unlock()
}
