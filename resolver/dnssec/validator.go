package dnssec

import (
	"context"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// Fetcher resolves the DS and DNSKEY RRsets the chain of trust needs. The
// resolver implements it: Fetch asks with DO=1 and does not validate the
// reply itself; DS questions go to the parent side of the zone cut (RFC
// 4035 section 4.2). zone is the zone whose servers gave the reply (the
// resolver's bailiwick for it): the validator uses it to tell which zone
// an unsigned reply comes from.
type Fetcher interface {
	Fetch(ctx context.Context, name string, qtype uint16) (reply *dns.Msg, zone string, err error)
}

// Config configures a Validator. Zero values take the defaults on each
// field.
type Config struct {
	Anchors  *Anchors         // nil: the IANA root KSKs (RootAnchors)
	Negative *NegativeAnchors // RFC 7646; nil: none
	// Internal are the node's own zones (absolute names). Data at or below
	// one is validated only when a trust anchor sits at or below that zone
	// (like Unbound's domain-insecure): the root's chain cannot speak for
	// names the public DNS does not hold, and would call them bogus.
	Internal []string
	Limits   Limits
	Fetcher  Fetcher // used unless a query's Budget has its own (SetFetcher)

	// Now is the clock for cache lifetimes and, unless OverrideDate is
	// set, signature windows. Default time.Now.
	Now func() time.Time
	// OverrideDate, when not zero, is the instant every RRSIG validity
	// window is checked against, as Unbound's val-override-date: for tests
	// that replay recorded signatures only.
	OverrideDate time.Time

	KeyCacheSize int           // zones whose key status is cached; default 10000
	BogusTTL     time.Duration // how long a bogus chain is remembered (Unbound's val-bogus-ttl); default 60s
	MaxKeyTTL    time.Duration // cap on how long a validated key set is trusted without refetching; default 24h
	MaxDepth     int           // zone cuts followed from an anchor to one signer; default 32

	// Aggressive, when set, receives the NSEC records of every secure
	// denial for aggressive use (RFC 8198).
	Aggressive *Aggressive
}

// Validator validates responses against a chain of trust from its anchors,
// caching each zone's key status. Safe for concurrent use.
type Validator struct {
	cfg  Config
	keys *lru.Cache[string, keyEntry]
	seen *lru.Cache[[32]byte, struct{}] // signatures that verified (verifiedKey)
}

// keyEntry is what is known about one zone's keys.
type keyEntry struct {
	res     Result    // Secure, Insecure, Indeterminate or Bogus
	signer  string    // the zone the keys belong to (a name without a cut maps to its zone)
	keys    []zoneKey // usable keys when Secure
	expires time.Time
}

// New returns a Validator.
func New(cfg Config) (*Validator, error) {
	if cfg.Anchors == nil {
		cfg.Anchors = RootAnchors()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.KeyCacheSize <= 0 {
		cfg.KeyCacheSize = 10000
	}
	if cfg.BogusTTL <= 0 {
		cfg.BogusTTL = 60 * time.Second
	}
	if cfg.MaxKeyTTL <= 0 {
		cfg.MaxKeyTTL = 24 * time.Hour
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = 32
	}
	internal := make([]string, 0, len(cfg.Internal))
	for _, z := range cfg.Internal {
		internal = append(internal, canonical(z))
	}
	cfg.Internal = internal
	cfg.Limits.setDefaults()
	c, err := lru.New[string, keyEntry](cfg.KeyCacheSize)
	if err != nil {
		return nil, fmt.Errorf("dnssec: key cache: %w", err)
	}
	seen, err := lru.New[[32]byte, struct{}](4 * cfg.KeyCacheSize)
	if err != nil {
		return nil, fmt.Errorf("dnssec: signature cache: %w", err)
	}
	return &Validator{cfg: cfg, keys: c, seen: seen}, nil
}

// fetcher is where b's chain fetches go.
func (v *Validator) fetcher(b *Budget) Fetcher {
	if b.fetcher != nil {
		return b.fetcher
	}
	if v.cfg.Fetcher == nil {
		return noFetcher{}
	}
	return v.cfg.Fetcher
}

type noFetcher struct{}

func (noFetcher) Fetch(context.Context, string, uint16) (*dns.Msg, string, error) {
	return nil, "", errors.New("no fetcher configured")
}

// NewBudget is the budget of one client query under the validator's limits.
func (v *Validator) NewBudget() *Budget {
	b := NewBudget(v.cfg.Limits)
	b.seen = v.seen
	return b
}

// BogusTTL is how long a bogus result may be cached.
func (v *Validator) BogusTTL() time.Duration { return v.cfg.BogusTTL }

// sigTime is the instant signature windows are checked against.
func (v *Validator) sigTime() time.Time {
	if !v.cfg.OverrideDate.IsZero() {
		return v.cfg.OverrideDate
	}
	return v.cfg.Now()
}

// Covers reports whether data at name is validated at all: a trust anchor
// is at or above it, no negative trust anchor is, and it is not in an
// internal zone without an anchor of its own.
func (v *Validator) Covers(name string) bool {
	_, done := v.preCheck(canonical(name))
	return !done
}

// preCheck is the result for name before any signature is looked at:
// Insecure under a negative trust anchor, Indeterminate without an anchor;
// ok=false when validation must proceed.
func (v *Validator) preCheck(name string) (Result, bool) {
	if nta, ok := v.cfg.Negative.Covers(name); ok {
		return Result{Status: Insecure, Why: "negative trust anchor " + nta}, true
	}
	anchor, ok := v.cfg.Anchors.Closest(name)
	if !ok {
		return Result{Status: Indeterminate, Why: "no trust anchor covers " + name}, true
	}
	for _, z := range v.cfg.Internal {
		if dnsname.IsSubDomain(z, name) && !dnsname.IsSubDomain(z, anchor) {
			return Result{Status: Indeterminate, Why: "internal zone " + z + " has no trust anchor of its own"}, true
		}
	}
	return Result{}, false
}

// Validate validates reply, the answer to qname/qtype from the servers of
// zone ("" when unknown: a forwarder's reply): every RRset of the answer section, the wildcard proofs of expanded
// ones, and for NXDOMAIN and NODATA (also at the end of a CNAME chain) the
// denial in the authority section. Referrals are not validated here (the
// chain fetches DS itself). b is the client query's budget.
func (v *Validator) Validate(ctx context.Context, b *Budget, qname string, qtype uint16, reply *dns.Msg, zone string) Result {
	return v.validate(ctx, b, qname, qtype, reply, zone, true)
}

// ValidatePartial is Validate for a reply whose CNAME chain continues
// beyond it (its target is resolved by another question): the RRsets and
// wildcard proofs are validated, but the end of the chain is not expected
// here, so its absence is no NODATA to prove.
func (v *Validator) ValidatePartial(ctx context.Context, b *Budget, qname string, qtype uint16, reply *dns.Msg, zone string) Result {
	return v.validate(ctx, b, qname, qtype, reply, zone, false)
}

func (v *Validator) validate(ctx context.Context, b *Budget, qname string, qtype uint16, reply *dns.Msg, zone string, complete bool) Result {
	qname = canonical(qname)
	if zone != "" {
		zone = canonical(zone)
	}
	if r, done := v.preCheck(qname); done {
		return r
	}
	if qtype == dns.TypeRRSIG {
		// An RRSIG RRset has no signature of its own (RFC 4035 section
		// 2.2): nothing to validate, and never AD.
		return Result{Status: Indeterminate, Why: "RRSIG queries are not validated"}
	}
	res := Result{Status: Secure}
	answer := groupRRsets(reply.Answer)
	target := qname
	var wildcards []wildcardUse
	dnames := map[string]*dns.DNAME{}
	for _, s := range answer {
		if d, ok := s.rrs[0].(*dns.DNAME); ok && len(s.sigs) > 0 {
			dnames[canonical(d.Hdr.Name)] = d
		}
	}
	for _, s := range answer {
		if c, ok := s.rrs[0].(*dns.CNAME); ok && equalNames(c.Hdr.Name, target) && qtype != dns.TypeCNAME && qtype != dns.TypeANY {
			target = canonical(c.Target)
			// RFC 6672 section 5.3.1: the CNAME a DNAME synthesises is
			// unsigned; it is as good as the DNAME when it matches it.
			if len(s.sigs) == 0 && synthesised(c, dnames) {
				continue
			}
		}
		r, ver := v.validateRRset(ctx, b, s, zone)
		res = worse(res, r)
		if r.Status == Bogus {
			return res
		}
		if ver.wildcard != "" {
			wildcards = append(wildcards, wildcardUse{name: canonical(s.name), wildcard: ver.wildcard})
		}
	}
	negative := complete && reply.Rcode == dns.RcodeNameError
	nodata := complete && reply.Rcode == dns.RcodeSuccess && !hasRRset(answer, target, qtype) && !isReferral(reply) &&
		!(qtype == dns.TypeANY && len(answer) > 0)
	if len(wildcards) == 0 && !negative && !nodata {
		return res
	}
	sets, r := v.denialSets(ctx, b, reply.Ns, zone)
	res = worse(res, r)
	if res.Status == Bogus {
		return res
	}
	for _, w := range wildcards {
		d := pickSet(sets, w.name)
		if d == nil {
			return worse(res, v.missingDenial(ctx, b, w.name, zone, "no NSEC/NSEC3 proves no closer match than "+w.wildcard+" for "+w.name))
		}
		res = worse(res, proveNoCloserMatch(b, d, w.name, w.wildcard))
	}
	if negative || nodata {
		d := pickSet(sets, target)
		if d == nil {
			return worse(res, v.missingDenial(ctx, b, target, zone, "no NSEC/NSEC3 record proves the denial of "+target))
		}
		var r Result
		if negative {
			r = proveNXDOMAIN(b, d, target)
		} else {
			r = proveNODATA(b, d, target, qtype)
		}
		res = worse(res, r)
		if res.Status == Secure && len(d.nsec3) == 0 {
			// RFC 8198 section 5.4: trusted no longer than the negative TTL.
			until := earlier(res.Until, v.cfg.Now().Add(time.Duration(negativeTTL(reply))*time.Second))
			v.cfg.Aggressive.add(d.zone, d.soa, d.signed, until)
		}
	}
	return res
}

// Aggressive is the store of validated denial records Validate fills
// (nil when aggressive use is off).
func (v *Validator) Aggressive() *Aggressive { return v.cfg.Aggressive }

func sigsAsRRs(sigs []*dns.RRSIG) []dns.RR {
	out := make([]dns.RR, len(sigs))
	for i, s := range sigs {
		out[i] = s
	}
	return out
}

type wildcardUse struct{ name, wildcard string }

// missingDenial is the result of a denial without verified NSEC/NSEC3
// records for name: Bogus when name's zone is signed, its status otherwise.
func (v *Validator) missingDenial(ctx context.Context, b *Budget, name, zone, why string) Result {
	if r, done := v.preCheck(name); done {
		return r
	}
	e := v.keysForData(ctx, b, name, zone)
	if e.res.Status != Secure {
		return e.res
	}
	return bogus(EDENSECMissing, "%s", why)
}

// keysForData is the key status of the zone unsigned data at name came
// from. zone is the zone whose servers sent it (the iterator knows); when
// it is "" (a forwarder's reply) or not above name, the zone is found by
// walking down from the closest trust anchor, one DS question per label
// (each cached), as far as the chain stays secure.
func (v *Validator) keysForData(ctx context.Context, b *Budget, name, zone string) keyEntry {
	if zone != "" && dnsname.IsSubDomain(zone, name) {
		return v.keysFor(ctx, b, zone, 0)
	}
	anchor, _ := v.cfg.Anchors.Closest(name)
	e := v.keysFor(ctx, b, anchor, 0)
	labels := dns.CountLabel(name)
	for n := dns.CountLabel(anchor) + 1; n <= labels && e.res.Status == Secure; n++ {
		e = v.keysFor(ctx, b, ancestorWithLabels(name, n), 0)
	}
	return e
}

// validateRRset validates one RRset of a reply from zone.
func (v *Validator) validateRRset(ctx context.Context, b *Budget, s rrset, zone string) (Result, verified) {
	if r, done := v.preCheck(s.name); done {
		return r, verified{}
	}
	// RFC 4035 section 5.3.1: the signer is the zone holding the RRset, so
	// at or above its owner.
	signer := ""
	for _, sig := range s.sigs {
		if dnsname.IsSubDomain(sig.SignerName, s.name) {
			signer = canonical(sig.SignerName)
			break
		}
	}
	if signer == "" {
		e := v.keysForData(ctx, b, s.name, zone)
		if e.res.Status != Secure {
			return e.res, verified{}
		}
		return bogus(EDERRSIGsMissing, "%s %s from the signed zone %s has no RRSIG", s.name, dns.TypeToString[s.rtype], e.signer), verified{}
	}
	e := v.keysFor(ctx, b, signer, 0)
	if e.res.Status != Secure {
		return e.res, verified{}
	}
	ver, r := verifyRRset(b, v.sigTime(), s.rrs, s.sigs, e.signer, e.keys)
	if r.Status == Secure {
		r.Until = earlier(r.Until, e.expires)
	}
	return r, ver
}

// denialSets verifies the NSEC, NSEC3 and SOA RRsets of an authority
// section and returns the verified NSEC/NSEC3 records per signer.
func (v *Validator) denialSets(ctx context.Context, b *Budget, ns []dns.RR, zone string) (map[string]*denialSet, Result) {
	res := Result{Status: Secure}
	sets := map[string]*denialSet{}
	for _, s := range groupRRsets(ns) {
		if s.rtype != dns.TypeNSEC && s.rtype != dns.TypeNSEC3 && s.rtype != dns.TypeSOA {
			continue
		}
		r, ver := v.validateRRset(ctx, b, s, zone)
		if r.Status == Bogus {
			return nil, r
		}
		res = worse(res, r)
		if r.Status != Secure {
			continue
		}
		if ver.wildcard != "" {
			// A denial record expanded from a wildcard could be renamed at
			// will: it proves nothing.
			continue
		}
		signer := canonical(s.sigs[0].SignerName)
		for _, sig := range s.sigs {
			if dnsname.IsSubDomain(sig.SignerName, s.name) {
				signer = canonical(sig.SignerName)
				break
			}
		}
		d := sets[signer]
		if d == nil {
			d = &denialSet{zone: signer}
			sets[signer] = d
		}
		set := append(append([]dns.RR{}, s.rrs...), sigsAsRRs(s.sigs)...)
		if s.rtype == dns.TypeSOA {
			d.soa = set
			continue
		}
		d.signed = append(d.signed, set)
		for _, rr := range s.rrs {
			switch x := rr.(type) {
			case *dns.NSEC:
				d.nsec = append(d.nsec, x)
			case *dns.NSEC3:
				d.nsec3 = append(d.nsec3, x)
			}
		}
	}
	return sets, res
}

// pickSet returns the denial records of the deepest signer holding name.
func pickSet(sets map[string]*denialSet, name string) *denialSet {
	var best *denialSet
	for z, d := range sets {
		if dnsname.IsSubDomain(z, name) && (best == nil || dns.CountLabel(z) > dns.CountLabel(best.zone)) {
			best = d
		}
	}
	return best
}

func synthesised(c *dns.CNAME, dnames map[string]*dns.DNAME) bool {
	for owner, d := range dnames {
		if isStrictSubdomain(owner, c.Hdr.Name) {
			prefix := canonical(c.Hdr.Name)
			prefix = prefix[:len(prefix)-len(owner)]
			return equalNames(prefix+canonical(d.Target), c.Target)
		}
	}
	return false
}

func isReferral(m *dns.Msg) bool {
	if len(m.Answer) > 0 {
		return false
	}
	hasNS := false
	for _, rr := range m.Ns {
		switch rr.Header().Rrtype {
		case dns.TypeSOA:
			return false
		case dns.TypeNS:
			hasNS = true
		}
	}
	return hasNS
}

// rrset is one RRset of a section with the RRSIGs covering it.
type rrset struct {
	name  string // canonical owner
	rtype uint16
	rrs   []dns.RR
	sigs  []*dns.RRSIG
}

// groupRRsets splits a section into RRsets (owner, type, class), each with
// its RRSIGs, in first-appearance order. OPT and RRSIGs covering nothing
// present are dropped.
func groupRRsets(section []dns.RR) []rrset {
	type key struct {
		name  string
		rtype uint16
		class uint16
	}
	idx := map[key]int{}
	var out []rrset
	for _, rr := range section {
		h := rr.Header()
		if h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeOPT {
			continue
		}
		k := key{canonical(h.Name), h.Rrtype, h.Class}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, rrset{name: k.name, rtype: k.rtype})
		}
		out[i].rrs = append(out[i].rrs, rr)
	}
	for _, rr := range section {
		sig, ok := rr.(*dns.RRSIG)
		if !ok {
			continue
		}
		if i, ok := idx[key{canonical(sig.Hdr.Name), sig.TypeCovered, sig.Hdr.Class}]; ok {
			out[i].sigs = append(out[i].sigs, sig)
		}
	}
	return out
}

func hasRRset(sets []rrset, name string, qtype uint16) bool {
	for _, s := range sets {
		if s.name == name && (s.rtype == qtype || qtype == dns.TypeANY) {
			return true
		}
	}
	return false
}

// keysFor returns the key status of zone, building the chain from the
// closest trust anchor through DS and DNSKEY fetches and caching each
// zone's entry (bogus ones for BogusTTL; results cut short by a work limit
// not at all).
func (v *Validator) keysFor(ctx context.Context, b *Budget, zone string, depth int) keyEntry {
	zone = canonical(zone)
	if r, done := v.preCheck(zone); done {
		return keyEntry{res: r, signer: zone}
	}
	now := v.cfg.Now()
	if e, ok := v.keys.Get(zone); ok && now.Before(e.expires) {
		return e
	}
	if depth > v.cfg.MaxDepth {
		return keyEntry{res: bogus(EDEBogus, "chain of trust to %s is longer than %d zone cuts", zone, v.cfg.MaxDepth), signer: zone}
	}
	e := v.buildKeys(ctx, b, zone, depth)
	if e.res.limited || ctx.Err() != nil {
		return e
	}
	if e.expires.IsZero() {
		ttl := v.cfg.BogusTTL
		if e.res.Status != Bogus {
			ttl = v.cfg.MaxKeyTTL
		}
		e.expires = now.Add(ttl)
	}
	v.keys.Add(zone, e)
	return e
}

func (v *Validator) buildKeys(ctx context.Context, b *Budget, zone string, depth int) keyEntry {
	now := v.cfg.Now()
	ds := v.cfg.Anchors.At(zone)
	dsUntil := time.Time{}
	if len(ds) == 0 {
		c := v.chainDS(ctx, b, zone, depth)
		if c.entry != nil {
			return *c.entry
		}
		ds, dsUntil = c.ds, c.until
	}
	reply, _, err := v.fetcher(b).Fetch(ctx, zone, dns.TypeDNSKEY)
	if err != nil {
		r := bogus(EDEDNSKEYMissing, "cannot fetch the DNSKEY RRset of %s", zone)
		r.Cause = err
		return keyEntry{res: r, signer: zone}
	}
	var keys []dns.RR
	var sigs []*dns.RRSIG
	for _, s := range groupRRsets(reply.Answer) {
		if s.rtype == dns.TypeDNSKEY && s.name == zone {
			keys, sigs = s.rrs, s.sigs
		}
	}
	if len(keys) == 0 {
		return keyEntry{res: bogus(EDEDNSKEYMissing, "%s has DS records but no DNSKEY RRset (rcode %s)", zone, dns.RcodeToString[reply.Rcode]), signer: zone}
	}
	r := verifyDNSKEY(b, v.sigTime(), zone, keys, sigs, ds)
	e := keyEntry{res: r.res, signer: zone, keys: r.keys}
	if r.res.Status == Secure {
		ttl := time.Duration(minTTL(keys)) * time.Second
		if ttl > v.cfg.MaxKeyTTL {
			ttl = v.cfg.MaxKeyTTL
		}
		e.expires = earlier(earlier(now.Add(ttl), dsUntil), r.res.Until)
		e.res.Until = e.expires
	}
	return e
}

// dsChain is what the DS step of the chain found: either the DS records
// to check the zone's keys with, or the zone's final entry.
type dsChain struct {
	ds    []*dns.DS
	until time.Time
	entry *keyEntry
}

// chainDS fetches and validates the DS RRset of zone (or its denial) with
// the keys of the parent zone that signed it.
func (v *Validator) chainDS(ctx context.Context, b *Budget, zone string, depth int) dsChain {
	final := func(e keyEntry) dsChain { return dsChain{entry: &e} }
	reply, respZone, err := v.fetcher(b).Fetch(ctx, zone, dns.TypeDS)
	if err != nil {
		r := bogus(EDEBogus, "cannot fetch the DS RRset of %s", zone)
		r.Cause = err
		return final(keyEntry{res: r, signer: zone})
	}
	if reply.Rcode != dns.RcodeSuccess && reply.Rcode != dns.RcodeNameError {
		return final(keyEntry{res: bogus(EDEBogus, "DS query for %s answered %s", zone, dns.RcodeToString[reply.Rcode]), signer: zone})
	}
	// parentOf is the zone an unsigned reply came from: the responding
	// zone when it is above zone, else zone's parent name.
	parentOf := func() string {
		if isStrictSubdomain(respZone, zone) {
			return canonical(respZone)
		}
		return parentName(zone)
	}
	for _, s := range groupRRsets(reply.Answer) {
		if s.rtype != dns.TypeDS || s.name != zone {
			continue
		}
		signer := signerAbove(s.sigs, zone)
		if signer == "" {
			pe := v.keysFor(ctx, b, parentOf(), depth+1)
			if pe.res.Status != Secure {
				return final(inherit(pe, zone))
			}
			return final(keyEntry{res: bogus(EDERRSIGsMissing, "DS RRset of %s from the signed zone %s has no RRSIG", zone, pe.signer), signer: zone})
		}
		pe := v.keysFor(ctx, b, signer, depth+1)
		if pe.res.Status != Secure {
			return final(inherit(pe, zone))
		}
		_, r := verifyRRset(b, v.sigTime(), s.rrs, s.sigs, pe.signer, pe.keys)
		if r.Status != Secure {
			return final(keyEntry{res: r, signer: zone})
		}
		var ds []*dns.DS
		for _, rr := range s.rrs {
			ds = append(ds, rr.(*dns.DS))
		}
		ttl := time.Duration(minTTL(s.rrs)) * time.Second
		return dsChain{ds: ds, until: earlier(v.cfg.Now().Add(ttl), earlier(r.Until, pe.expires))}
	}
	// No DS: the parent must prove it.
	signer := ""
	for _, s := range groupRRsets(reply.Ns) {
		if s.rtype == dns.TypeNSEC || s.rtype == dns.TypeNSEC3 {
			if signer = signerAbove(s.sigs, zone); signer != "" {
				break
			}
		}
	}
	if signer == "" {
		pe := v.keysFor(ctx, b, parentOf(), depth+1)
		if pe.res.Status != Secure {
			return final(inherit(pe, zone))
		}
		return final(keyEntry{res: bogus(EDENSECMissing, "no signed NSEC/NSEC3 proves %s (below the signed zone %s) has no DS", zone, pe.signer), signer: zone})
	}
	pe := v.keysFor(ctx, b, signer, depth+1)
	if pe.res.Status != Secure {
		return final(inherit(pe, zone))
	}
	sets, r := v.denialSets(ctx, b, reply.Ns, signer)
	if r.Status == Bogus {
		return final(keyEntry{res: r, signer: zone})
	}
	d := sets[signer]
	if d == nil {
		return final(keyEntry{res: bogus(EDENSECMissing, "no verified NSEC/NSEC3 of %s for the DS of %s", signer, zone), signer: zone})
	}
	kind, r := proveDS(b, d, zone)
	until := earlier(v.cfg.Now().Add(time.Duration(denialTTL(reply))*time.Second), pe.expires)
	switch {
	case r.Status == Bogus:
		return final(keyEntry{res: r, signer: zone})
	case kind == dsInsecure || r.Status == Insecure:
		why := r.Why
		if why == "" {
			why = fmt.Sprintf("%s proves %s is an unsigned delegation", signer, zone)
		}
		return final(keyEntry{res: Result{Status: Insecure, EDE: r.EDE, Why: why}, signer: zone, expires: until})
	case kind == dsNoDelegation:
		// No zone cut here: the parent's keys sign this name's data.
		e := pe
		e.expires = earlier(until, pe.expires)
		return final(e)
	}
	return final(keyEntry{res: bogus(EDEBogus, "%s proves %s does not exist, yet data claims to come from it", signer, zone), signer: zone})
}

// inherit is a child zone's entry when its parent is not Secure: the same
// status (insecure below insecure, bogus below bogus).
func inherit(parent keyEntry, zone string) keyEntry {
	return keyEntry{res: parent.res, signer: zone, expires: parent.expires}
}

func minTTL(rrs []dns.RR) uint32 {
	m := uint32(0)
	for i, rr := range rrs {
		if t := rr.Header().Ttl; i == 0 || t < m {
			m = t
		}
	}
	return m
}

// negativeTTL is how long a denial may be trusted: the SOA's TTL capped by
// its minimum field (RFC 2308 section 5), 0 without a SOA.
func negativeTTL(m *dns.Msg) uint32 {
	for _, rr := range m.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return min(soa.Hdr.Ttl, soa.Minttl)
		}
	}
	return 0
}

// denialTTL is how long a proof from m's authority section holds: the
// shortest TTL of its NSEC/NSEC3 records, capped by the negative TTL when
// a SOA came with them (RFC 8198 section 5.4).
func denialTTL(m *dns.Msg) uint32 {
	ttl, found := uint32(0), false
	for _, rr := range m.Ns {
		if t := rr.Header().Rrtype; t == dns.TypeNSEC || t == dns.TypeNSEC3 {
			if h := rr.Header().Ttl; !found || h < ttl {
				ttl, found = h, true
			}
		}
	}
	for _, rr := range m.Ns {
		if _, ok := rr.(*dns.SOA); ok {
			return min(ttl, negativeTTL(m))
		}
	}
	return ttl
}

// signerAbove is the signer of the first of sigs signed strictly above
// zone (the parent side, where DS and its denial live: RFC 4035 5.2), ""
// if none is.
func signerAbove(sigs []*dns.RRSIG, zone string) string {
	for _, sig := range sigs {
		if isStrictSubdomain(sig.SignerName, zone) {
			return canonical(sig.SignerName)
		}
	}
	return ""
}
