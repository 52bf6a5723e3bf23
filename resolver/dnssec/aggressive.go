package dnssec

import (
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// Aggressive keeps the NSEC records of secure denials, per zone, so that
// other names inside a proven gap are answered without a query (RFC 8198).
// NSEC3 denials are not kept: RFC 8198 allows them, but an opt-out span
// proves nothing about unsigned delegations inside it, and each lookup
// would cost hashes. Only records Validate verified are added; each is trusted
// for at most its TTL, the SOA minimum and its signature's lifetime (RFC
// 8198 section 5.4). Safe for concurrent use.
type Aggressive struct {
	zones   *lru.Cache[string, *aggZone]
	perZone int
}

type aggZone struct {
	mu   sync.Mutex
	soa  []dns.RR // the SOA RRset and its RRSIGs, for the synthesised answer
	recs []aggRecord
}

type aggRecord struct {
	set     []dns.RR // the NSEC or NSEC3 record and its RRSIGs
	expires time.Time
}

// NewAggressive keeps up to zones zones and perZone records in each
// (defaults 10000 and 64).
func NewAggressive(zones, perZone int) *Aggressive {
	if zones <= 0 {
		zones = 10000
	}
	if perZone <= 0 {
		perZone = 64
	}
	c, _ := lru.New[string, *aggZone](zones)
	return &Aggressive{zones: c, perZone: perZone}
}

// add stores the verified denial records of one reply (sets of zone) and
// its SOA RRset, trusted until until.
func (a *Aggressive) add(zone string, soa []dns.RR, sets [][]dns.RR, until time.Time) {
	if a == nil || len(sets) == 0 {
		return
	}
	z, ok := a.zones.Get(zone)
	if !ok {
		z = &aggZone{}
		if prev, found, _ := a.zones.PeekOrAdd(zone, z); found {
			z = prev
		}
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if len(soa) > 0 {
		z.soa = soa
	}
next:
	for _, s := range sets {
		for i, r := range z.recs {
			if equalNames(r.set[0].Header().Name, s[0].Header().Name) {
				z.recs[i] = aggRecord{set: s, expires: until}
				continue next
			}
		}
		if len(z.recs) >= a.perZone {
			z.recs = z.recs[1:] // the oldest goes
		}
		z.recs = append(z.recs, aggRecord{set: s, expires: until})
	}
}

// Lookup answers qname/qtype from the stored records of zone when they
// prove it: rcode NXDOMAIN or NOERROR (NODATA) and the authority section
// to send (the SOA and the denial records with their RRSIGs). ok is false
// when the records prove nothing about qname; NSEC3 proofs spend b.
func (a *Aggressive) Lookup(b *Budget, zone, qname string, qtype uint16, now time.Time) (rcode int, authority []dns.RR, ok bool) {
	if a == nil {
		return 0, nil, false
	}
	zone, qname = canonical(zone), canonical(qname)
	z, found := a.zones.Get(zone)
	if !found || !dnsname.IsSubDomain(zone, qname) {
		return 0, nil, false
	}
	z.mu.Lock()
	d := &denialSet{zone: zone}
	var used []dns.RR
	live := z.recs[:0]
	for _, r := range z.recs {
		if !now.Before(r.expires) {
			continue
		}
		live = append(live, r)
		switch x := r.set[0].(type) {
		case *dns.NSEC:
			d.nsec = append(d.nsec, x)
		case *dns.NSEC3:
			d.nsec3 = append(d.nsec3, x)
		}
		used = append(used, r.set...)
	}
	z.recs = live
	soa := z.soa
	z.mu.Unlock()
	if d.empty() || len(soa) == 0 {
		return 0, nil, false
	}
	// Only the records a proof needs go out: NSEC ones matching or covering
	// qname or its wildcard; for NSEC3 the whole (bounded) set.
	if r := proveNXDOMAIN(b, d, qname); r.Status == Secure {
		return dns.RcodeNameError, append(append([]dns.RR{}, soa...), relevant(used, qname)...), true
	}
	if r := proveNODATA(b, d, qname, qtype); r.Status == Secure {
		return dns.RcodeSuccess, append(append([]dns.RR{}, soa...), relevant(used, qname)...), true
	}
	return 0, nil, false
}

// relevant trims NSEC records to those matching or covering qname or a
// wildcard above it; NSEC3 sets are returned whole.
func relevant(sets []dns.RR, qname string) []dns.RR {
	var out []dns.RR
	keep := false
	for _, rr := range sets {
		switch x := rr.(type) {
		case *dns.NSEC:
			keep = equalNames(x.Hdr.Name, qname) || nsecCovers(x, qname) ||
				nsecCovers(x, "*."+nsecClosestEncloser(x, qname)) || equalNames(x.Hdr.Name, "*."+nsecClosestEncloser(x, qname))
		case *dns.NSEC3:
			keep = true
		}
		if keep {
			out = append(out, rr)
		}
	}
	return out
}

// LookupName is Lookup in the deepest zone at or above qname that has
// stored records (one map lookup per label).
func (a *Aggressive) LookupName(b *Budget, qname string, qtype uint16, now time.Time) (rcode int, authority []dns.RR, ok bool) {
	if a == nil {
		return 0, nil, false
	}
	for n := canonical(qname); ; n = parentName(n) {
		if a.zones.Contains(n) {
			return a.Lookup(b, n, qname, qtype, now)
		}
		if n == "." {
			return 0, nil, false
		}
	}
}
