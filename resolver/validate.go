package resolver

import (
	"context"
	"fmt"
	"time"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
	"github.com/gitops-dns/resolverd/resolver/dnssec"
)

// DNSSEC validation (package dnssec does the proofs; this file is the glue).
//
// With a validator set (Config.DNSSEC, SetDNSSEC) every upstream query
// carries DO (and CD towards forwarders, RFC 6840 5.9), every reply a
// client question causes is validated before it is cached, and cached
// RRsets and negative answers keep their RRSIGs and NSEC/NSEC3 proofs and
// their security status. Bogus data is cached for at most the validator's
// bogus TTL (60 s): a client with CD=0 gets SERVFAIL and the reason (an
// error wrapping *ValidationError), a client with CD=1 the data. Resolve's
// reply has AD set when every part of it is secure, and carries the DNSSEC
// records; the caller strips them (and AD) for clients that did not ask
// (RFC 4035 3.2.1, RFC 6840 5.7). Stale answers (RFC 8767) never get AD.
// Replies cached by minimised queries are not validated: a client question
// for them is a miss.

// ValidationError is the cause of a SERVFAIL for bogus data.
type ValidationError struct {
	Result dnssec.Result
}

func (e *ValidationError) Error() string { return "DNSSEC validation failed: " + e.Result.String() }

// security is what is known about the security of cached data: an entry's,
// or a whole reply's (the least secure of its parts).
type security struct {
	checked bool // validated (false: cached by a minimised query, or validation off)
	status  dnssec.Status
	bogus   *dnssec.Result // why, when status is Bogus
}

// merge folds part into the security of a reply made of several parts.
func (s *security) merge(part security) {
	if !part.checked {
		s.checked = false
	}
	rank := func(st dnssec.Status) int {
		switch st {
		case dnssec.Secure:
			return 0
		case dnssec.Insecure:
			return 1
		case dnssec.Indeterminate:
			return 2
		}
		return 3
	}
	if rank(part.status) > rank(s.status) {
		s.status, s.bogus = part.status, part.bogus
	}
}

// fullySecure is the starting point of merge.
func fullySecure() security { return security{checked: true, status: dnssec.Secure} }

// SetDNSSEC turns validation on with cfg (its Fetcher and Now are the
// resolver's own) or off (nil). A change drops the RRset cache: what is
// cached was validated under the old anchors.
func (r *Resolver) SetDNSSEC(cfg *dnssec.Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cfg == nil {
		if r.val.Swap(nil) != nil {
			r.c.rr.Purge()
		}
		return nil
	}
	c := *cfg
	c.Fetcher = nil // each query brings its own (chainFetcher)
	c.Now = r.clock.Now
	if c.Aggressive == nil {
		c.Aggressive = dnssec.NewAggressive(0, 0)
	}
	v, err := dnssec.New(c)
	if err != nil {
		return err
	}
	r.val.Store(v)
	r.c.rr.Purge()
	return nil
}

// validator is the current validator, nil when validation is off.
func (r *Resolver) validator() *dnssec.Validator { return r.val.Load() }

// setDNSSECBits asks for DNSSEC records (DO) when validating, and for
// unvalidated data from forwarders (CD, RFC 6840 5.9): we validate it.
func (r *Resolver) setDNSSECBits(m *dns.Msg, forward bool) {
	if r.validator() == nil {
		return
	}
	for _, rr := range m.Extra {
		if opt, ok := rr.(*dns.OPT); ok {
			opt.SetDo()
		}
	}
	if forward {
		m.CheckingDisabled = true
	}
}

// chainFetcher resolves the DS and DNSKEY RRsets the validator needs on
// behalf of one client question: within its budget and deadline, DS from
// the parent side (iterate does that), unvalidated.
type chainFetcher struct {
	r  *Resolver
	st *state
}

func (f chainFetcher) Fetch(ctx context.Context, name string, qtype uint16) (*dns.Msg, string, error) {
	name = lower(name)
	if qtype == dns.TypeDS {
		if h, ok := f.r.dsHints.Get(name); ok && f.r.clock.Now().Before(h.expires) {
			return h.reply, h.parent, nil
		}
	}
	if rule := f.r.forwardRule(name); rule != nil {
		resp, err := f.r.forwardReply(ctx, f.st, rule, name, qtype)
		return resp, "", err
	}
	return f.r.iterate(ctx, f.st, name, qtype)
}

// dsHint is what a referral said about the DS RRset of the zone it
// delegates to: the DS records and their RRSIGs, or the NSEC/NSEC3 records
// (with theirs) denying them, as the reply to a DS question the parent
// would give. The validator checks it like any fetched reply, so a hint is
// only a saved round trip, never trusted as such.
type dsHint struct {
	reply   *dns.Msg
	parent  string
	expires time.Time
}

// noteReferral keeps the DS information of a referral from the servers of
// parent to child (RFC 4035 3.1.4: a signed parent sends it with DO).
func (r *Resolver) noteReferral(resp *dns.Msg, parent, child string) {
	if r.validator() == nil {
		return
	}
	m := &dns.Msg{}
	m.SetQuestion(child, dns.TypeDS)
	m.Response, m.Authoritative = true, true
	var ttl uint32
	first := true
	for _, rr := range resp.Ns {
		h := rr.Header()
		if h.Class != dns.ClassINET || !dnsname.IsSubDomain(parent, h.Name) {
			continue
		}
		keep := false
		switch x := rr.(type) {
		case *dns.DS:
			keep = dnsname.EqualFold(h.Name, child)
			if keep {
				m.Answer = append(m.Answer, rr)
			}
		case *dns.NSEC, *dns.NSEC3:
			keep = true
			m.Ns = append(m.Ns, rr)
		case *dns.RRSIG:
			switch x.TypeCovered {
			case dns.TypeDS:
				if dnsname.EqualFold(h.Name, child) {
					m.Answer = append(m.Answer, rr)
				}
			case dns.TypeNSEC, dns.TypeNSEC3:
				m.Ns = append(m.Ns, rr)
			}
		}
		if keep && (first || h.Ttl < ttl) {
			ttl, first = h.Ttl, false
		}
	}
	if first {
		return // an unsigned parent's referral: nothing to keep
	}
	r.dsHints.Add(child, dsHint{reply: m, parent: parent, expires: r.clock.Now().Add(capTTL(ttl, r.cfg.MaxTTL))})
}

// budget is st's validation budget, made on first use.
func (r *Resolver) budget(v *dnssec.Validator, st *state) *dnssec.Budget {
	if st.vb == nil {
		st.vb = v.NewBudget()
		st.vb.SetFetcher(chainFetcher{r: r, st: st})
	}
	return st.vb
}

// validate validates resp, the reply about name/qtype from the servers of
// zone ("" for a forwarder), and records in out its status and the DNSSEC
// records that go with what out holds: the RRSIGs of the chain's RRsets,
// and for a negative answer the SOA's RRSIGs and the NSEC/NSEC3 proof.
//
// What is validated is what the resolver keeps: the chain extract read
// (with the RRSIGs covering it) and the authority section's SOA, NSEC and
// NSEC3 records inside zone; whatever else a server sent is not used and
// cannot make an answer bogus.
func (r *Resolver) validate(ctx context.Context, st *state, v *dnssec.Validator, resp *dns.Msg, zone, name string, qtype uint16, out *outcome) {
	owners := map[rrKey]bool{}
	for _, rr := range out.chain {
		h := rr.Header()
		owners[typeKey(lower(h.Name), h.Rrtype)] = true
	}
	for _, rr := range resp.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok && owners[typeKey(lower(sig.Hdr.Name), sig.TypeCovered)] {
			out.sigs = append(out.sigs, sig)
		}
	}
	var ns []dns.RR
	for _, rr := range resp.Ns {
		h := rr.Header()
		if zone != "" && !dnsname.IsSubDomain(zone, h.Name) {
			continue
		}
		switch x := rr.(type) {
		case *dns.SOA, *dns.NSEC, *dns.NSEC3:
			ns = append(ns, rr)
		case *dns.RRSIG:
			if x.TypeCovered == dns.TypeNSEC || x.TypeCovered == dns.TypeNSEC3 || x.TypeCovered == dns.TypeSOA {
				ns = append(ns, rr)
			}
		}
	}
	kept := &dns.Msg{MsgHdr: resp.MsgHdr, Question: resp.Question, Answer: append(out.chain[:len(out.chain):len(out.chain)], out.sigs...), Ns: ns}
	validate := v.Validate
	if out.status == statusFollow {
		validate = v.ValidatePartial // the chain's target is another question
	}
	res := validate(ctx, r.budget(v, st), name, qtype, kept, zone)
	out.sec = security{checked: true, status: res.Status}
	if res.Status == dnssec.Bogus {
		out.sec.bogus = &res
	}
	if res.Status == dnssec.Secure && !res.Until.IsZero() {
		out.until = res.Until
	}
	if out.status != statusNXDOMAIN && out.status != statusNODATA && !hasWildcardSig(out.sigs) {
		return
	}
	// The authority records that prove the denial (or the wildcard
	// expansion), kept to hand to DO clients: SOA signatures, NSEC, NSEC3.
	for _, rr := range ns {
		if rr.Header().Rrtype != dns.TypeSOA { // the SOA itself is out.soa
			out.proof = append(out.proof, rr)
		}
	}
}

// hasWildcardSig reports whether an RRSIG says its RRset was expanded from
// a wildcard (fewer labels than its owner, RFC 4035 5.3.4).
func hasWildcardSig(sigs []dns.RR) bool {
	for _, rr := range sigs {
		s := rr.(*dns.RRSIG)
		if int(s.Labels) < dns.CountLabel(s.Hdr.Name) && !isWildcardOwner(s.Hdr.Name) {
			return true
		}
	}
	return false
}

func isWildcardOwner(name string) bool { return len(name) >= 2 && name[0] == '*' && name[1] == '.' }

// sigsFor returns the RRSIGs of sigs that cover the RRset owner/rtype.
func sigsFor(sigs []dns.RR, owner string, rtype uint16) []dns.RR {
	var out []dns.RR
	for _, rr := range sigs {
		if s := rr.(*dns.RRSIG); s.TypeCovered == rtype && dnsname.EqualFold(s.Hdr.Name, owner) {
			out = append(out, rr)
		}
	}
	return out
}

// aggressive answers name/qtype from validated NSEC records of its zone
// (RFC 8198) when they prove it does not exist or has no such type.
func (r *Resolver) aggressive(st *state, name string, qtype uint16, now time.Time) (result, bool) {
	v := r.validator()
	if v == nil || !v.Covers(name) {
		return result{}, false
	}
	rcode, auth, ok := v.Aggressive().LookupName(r.budget(v, st), name, qtype, now)
	if !ok {
		return result{}, false
	}
	return result{rcode: rcode, ns: auth, sec: fullySecure()}, true
}

// bogusError is the error of a reply whose data is bogus.
func bogusError(name string, qtype uint16, res *dnssec.Result) error {
	return fmt.Errorf("%s %s: %w", name, dns.TypeToString[qtype], &ValidationError{Result: *res})
}

// expiry is when data of out cached at now for ttl expires: bogus data
// lives at most the bogus TTL (Unbound's val-bogus-ttl), validated data no
// longer than its signatures (RFC 4035 5.3.3).
func (r *Resolver) expiry(out *outcome, now time.Time, ttl time.Duration) time.Time {
	exp := now.Add(ttl)
	if out.sec.status == dnssec.Bogus {
		if v := r.validator(); v != nil && v.BogusTTL() < ttl {
			exp = now.Add(v.BogusTTL())
		}
	}
	if !out.until.IsZero() && out.until.Before(exp) {
		exp = out.until
	}
	return exp
}

// appendSigCopies appends copies of a cached entry's RRSIGs and proof
// records with their TTL set to ttl (RFC 4035 5.3.3: never above the
// data's).
func appendSigCopies(dst, sigs []dns.RR, ttl uint32) []dns.RR {
	if len(sigs) == 0 {
		return dst
	}
	return appendCopies(dst, sigs, ttl)
}

// secured finishes a reply with its security: AD when validation is on and
// every part is secure (not for CD clients); SERVFAIL and the reason when
// a part is bogus, unless the client set CD (RFC 4035 3.2.2).
func (r *Resolver) secured(m *dns.Msg, sec security, cd bool) (*dns.Msg, error) {
	if r.validator() == nil {
		return m, nil
	}
	if sec.status == dnssec.Bogus && !cd {
		m.Rcode = dns.RcodeServerFailure
		m.Answer, m.Ns = nil, nil
		res := dnssec.Result{Status: dnssec.Bogus, EDE: dns.ExtendedErrorCodeDNSBogus}
		if sec.bogus != nil {
			res = *sec.bogus
		}
		return m, bogusError(m.Question[0].Name, m.Question[0].Qtype, &res)
	}
	m.AuthenticatedData = sec.checked && sec.status == dnssec.Secure && !cd
	return m, nil
}
