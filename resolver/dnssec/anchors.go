package dnssec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// rootAnchorsText are the IANA root zone KSKs as DS records
// (https://data.iana.org/root-anchors/root-anchors.xml): KSK-2017 (tag
// 20326) and KSK-2024 (tag 38696), both valid so a rollover between them
// never makes the root bogus. The digests match the root-anchors.xml IANA
// publishes and the anchors Unbound's unbound-anchor, PowerDNS Recursor and
// CoreDNS carry.
var rootAnchorsText = []string{
	". 172800 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D",
	". 172800 IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16",
}

// Anchors are the trust anchors (RFC 4033 section 5): per zone, the DS
// records its DNSKEY RRset must match. A DNSKEY anchor is kept as its
// SHA-256 DS. Immutable once built.
type Anchors struct {
	ds map[string][]*dns.DS // canonical zone -> DS records
}

// RootAnchors are the IANA root KSKs built in.
func RootAnchors() *Anchors {
	var rrs []dns.RR
	for _, s := range rootAnchorsText {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic("dnssec: built-in root anchor: " + err.Error())
		}
		rrs = append(rrs, rr)
	}
	a, err := NewAnchors(rrs)
	if err != nil {
		panic("dnssec: built-in root anchor: " + err.Error())
	}
	return a
}

// AnchorsOrRoot is NewAnchors(rrs), or the built-in root anchors when rrs
// is empty (a repository without a trust anchor file).
func AnchorsOrRoot(rrs []dns.RR) (*Anchors, error) {
	if len(rrs) == 0 {
		return RootAnchors(), nil
	}
	return NewAnchors(rrs)
}

// CheckAnchor says what is wrong with rr as a trust anchor (a DS or a zone
// DNSKEY of class IN), or nil. dnsctl check and NewAnchors share it.
func CheckAnchor(rr dns.RR) error {
	h := rr.Header()
	if h.Class != dns.ClassINET {
		return fmt.Errorf("%s record of class %s: trust anchors are class IN", dns.TypeToString[h.Rrtype], dns.ClassToString[h.Class])
	}
	switch r := rr.(type) {
	case *dns.DS:
		if len(r.Digest) == 0 {
			return fmt.Errorf("DS record for %s has no digest", h.Name)
		}
	case *dns.DNSKEY:
		if r.Flags&dns.ZONE == 0 {
			return fmt.Errorf("DNSKEY record for %s is not a zone key (flags %d lack bit 7)", h.Name, r.Flags)
		}
		if r.Protocol != 3 {
			return fmt.Errorf("DNSKEY record for %s has protocol %d, not 3", h.Name, r.Protocol)
		}
		if r.Flags&dns.REVOKE != 0 {
			return fmt.Errorf("DNSKEY record for %s (tag %d) is revoked (RFC 5011)", h.Name, r.KeyTag())
		}
	default:
		return fmt.Errorf("%s record: trust anchors are DS or DNSKEY records", dns.TypeToString[h.Rrtype])
	}
	return nil
}

// NewAnchors builds trust anchors from DS and DNSKEY records (a trust
// anchor file's records, as Unbound's trust-anchor-file). It refuses the
// first record CheckAnchor refuses.
func NewAnchors(rrs []dns.RR) (*Anchors, error) {
	a := &Anchors{ds: map[string][]*dns.DS{}}
	for _, rr := range rrs {
		if err := CheckAnchor(rr); err != nil {
			return nil, err
		}
		zone := canonical(rr.Header().Name)
		switch r := rr.(type) {
		case *dns.DS:
			a.ds[zone] = append(a.ds[zone], r)
		case *dns.DNSKEY:
			ds := r.ToDS(dns.SHA256)
			if ds == nil {
				return nil, fmt.Errorf("DNSKEY record for %s (tag %d) cannot be hashed", r.Hdr.Name, r.KeyTag())
			}
			a.ds[zone] = append(a.ds[zone], ds)
		}
	}
	return a, nil
}

// At returns the anchor DS records of exactly zone.
func (a *Anchors) At(zone string) []*dns.DS {
	if a == nil {
		return nil
	}
	return a.ds[canonical(zone)]
}

// Closest returns the deepest anchored zone at or above name.
func (a *Anchors) Closest(name string) (string, bool) {
	if a == nil {
		return "", false
	}
	for n := canonical(name); ; n = parentName(n) {
		if _, ok := a.ds[n]; ok {
			return n, true
		}
		if n == "." {
			return "", false
		}
	}
}

// Zones lists the anchored zones, sorted.
func (a *Anchors) Zones() []string {
	if a == nil {
		return nil
	}
	out := make([]string, 0, len(a.ds))
	for z := range a.ds {
		out = append(out, z)
	}
	sort.Strings(out)
	return out
}

// NegativeAnchors are the names below which nothing is validated (RFC 7646
// negative trust anchors): data at or below them is Insecure.
type NegativeAnchors struct {
	names []string // canonical
}

// NewNegativeAnchors builds the set; names must be absolute.
func NewNegativeAnchors(names []string) (*NegativeAnchors, error) {
	n := &NegativeAnchors{}
	for _, s := range names {
		if !dns.IsFqdn(s) {
			return nil, fmt.Errorf("negative trust anchor %q is not an absolute name (add the final dot)", s)
		}
		if _, ok := dns.IsDomainName(s); !ok {
			return nil, fmt.Errorf("negative trust anchor %q is not a domain name", s)
		}
		n.names = append(n.names, canonical(s))
	}
	return n, nil
}

// Covers reports whether name is at or below a negative trust anchor, and
// which one.
func (n *NegativeAnchors) Covers(name string) (string, bool) {
	if n == nil {
		return "", false
	}
	for _, a := range n.names {
		if dnsname.IsSubDomain(a, name) {
			return a, true
		}
	}
	return "", false
}

// String lists the names, for logs.
func (n *NegativeAnchors) String() string {
	if n == nil {
		return ""
	}
	return strings.Join(n.names, " ")
}
