package dnssec

import (
	"strings"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// EDEUnsupportedNSEC3Iterations is RFC 9276 section 6's info code 27,
// reported with Insecure for NSEC3 iterations above the limit.
const EDEUnsupportedNSEC3Iterations uint16 = 27

// denialSet is the verified NSEC or NSEC3 records of one zone a proof may
// use.
type denialSet struct {
	zone  string // the signer, canonical
	nsec  []*dns.NSEC
	nsec3 []*dns.NSEC3

	signed [][]dns.RR // the verified RRsets with their RRSIGs (for aggressive use)
	soa    []dns.RR   // the zone's verified SOA RRset and RRSIGs, if the reply had it
}

func (d *denialSet) empty() bool { return len(d.nsec) == 0 && len(d.nsec3) == 0 }

// dsKind is what a proof about the DS RRset of a name says.
type dsKind uint8

const (
	dsUnproven      dsKind = iota
	dsInsecure             // a delegation without DS (or covered by opt-out): the child is unsigned
	dsNoDelegation         // no zone cut at the name: the parent's keys cover it
	dsProvenMissing        // the name does not exist at all
)

// --- NSEC (RFC 4035 section 5.4, RFC 6840 section 4) ---

// nsecCovers reports whether n proves that name does not exist between its
// owner and next name (canonical order, the zone's last NSEC wrapping to
// the apex).
func nsecCovers(n *dns.NSEC, name string) bool {
	owner, next := n.Hdr.Name, n.NextDomain
	after := compareNames(owner, name) < 0
	before := compareNames(name, next) < 0
	if compareNames(owner, next) < 0 {
		return after && before
	}
	return after || before
}

// delegationBlocks reports whether n, at an ancestor of name, is a
// delegation point or DNAME: such an NSEC comes from the parent side and
// proves nothing about names below it (RFC 6840 section 4.1).
func delegationBlocks(owner string, types []uint16, name string) bool {
	if !isStrictSubdomain(owner, name) {
		return false
	}
	return (hasType(types, dns.TypeNS) && !hasType(types, dns.TypeSOA)) || hasType(types, dns.TypeDNAME)
}

func (d *denialSet) nsecMatching(name string) *dns.NSEC {
	for _, n := range d.nsec {
		if equalNames(n.Hdr.Name, name) {
			return n
		}
	}
	return nil
}

func (d *denialSet) nsecCovering(name string) *dns.NSEC {
	for _, n := range d.nsec {
		if nsecCovers(n, name) && !delegationBlocks(n.Hdr.Name, n.TypeBitMap, name) {
			return n
		}
	}
	return nil
}

// nsecClosestEncloser is the closest encloser of name an NSEC covering it
// implies: the longer of the ancestors name shares with the NSEC's owner
// and with its next name (RFC 4035 section 5.4).
func nsecClosestEncloser(n *dns.NSEC, name string) string {
	a, b := commonAncestor(name, n.Hdr.Name), commonAncestor(name, n.NextDomain)
	if dns.CountLabel(b) > dns.CountLabel(a) {
		return b
	}
	return a
}

// nsecEmptyNonTerminal reports whether n proves name an empty non-terminal:
// it covers name and its next name is below name.
func nsecEmptyNonTerminal(n *dns.NSEC, name string) bool {
	return nsecCovers(n, name) && isStrictSubdomain(name, n.NextDomain)
}

// --- NSEC3 (RFC 5155 section 8) ---

// nsec3Params are the parameters of the NSEC3 chain a proof uses.
type nsec3Params struct {
	alg  uint8
	iter uint16
	salt string
}

// nsec3Records returns the NSEC3 records usable by a proof: hash algorithm 1
// and flags 0 or 1 (RFC 5155 section 8.2), all with the parameters of the
// first such record.
func (d *denialSet) nsec3Records() ([]*dns.NSEC3, nsec3Params, bool) {
	var out []*dns.NSEC3
	var p nsec3Params
	for _, n := range d.nsec3 {
		if n.Hash != dns.SHA1 || n.Flags > 1 {
			continue
		}
		np := nsec3Params{n.Hash, n.Iterations, strings.ToUpper(n.Salt)}
		if len(out) == 0 {
			p = np
		} else if np != p {
			continue
		}
		out = append(out, n)
	}
	return out, p, len(out) > 0
}

// nsec3Prover runs NSEC3 proofs over one zone's chain, hashing through the
// query's budget.
type nsec3Prover struct {
	b    *Budget
	zone string
	recs []*dns.NSEC3
	p    nsec3Params
}

// newNSEC3Prover returns the prover, or a non-Secure result when the chain
// cannot prove anything here: none usable (Bogus), or iterations above the
// limit (Insecure, RFC 9276 section 3.2).
func (d *denialSet) newNSEC3Prover(b *Budget) (*nsec3Prover, Result) {
	recs, p, ok := d.nsec3Records()
	if !ok {
		return nil, bogus(EDENSECMissing, "no usable NSEC3 record from %s", d.zone)
	}
	if int(p.iter) > b.limits.MaxNSEC3Iterations {
		return nil, insecure(EDEUnsupportedNSEC3Iterations, "NSEC3 of %s uses %d iterations, more than %d (RFC 9276)", d.zone, p.iter, b.limits.MaxNSEC3Iterations)
	}
	return &nsec3Prover{b: b, zone: d.zone, recs: recs, p: p}, Result{Status: Secure}
}

func ownerHash(n *dns.NSEC3) string {
	off, _ := dns.NextLabel(n.Hdr.Name, 0)
	if off == 0 {
		return ""
	}
	return strings.ToUpper(n.Hdr.Name[:off-1])
}

func (p *nsec3Prover) hash(name string) (string, error) {
	return p.b.hash(name, p.p.alg, p.p.iter, p.p.salt)
}

// match returns the NSEC3 record whose owner is name's hash.
func (p *nsec3Prover) match(name string) (*dns.NSEC3, error) {
	h, err := p.hash(name)
	if err != nil {
		return nil, err
	}
	for _, n := range p.recs {
		if ownerHash(n) == h {
			return n, nil
		}
	}
	return nil, nil
}

// cover returns the NSEC3 record whose hash interval holds name's hash.
func (p *nsec3Prover) cover(name string) (*dns.NSEC3, error) {
	h, err := p.hash(name)
	if err != nil {
		return nil, err
	}
	for _, n := range p.recs {
		owner, next := ownerHash(n), strings.ToUpper(n.NextDomain)
		if owner < next {
			if owner < h && h < next {
				return n, nil
			}
		} else if h > owner || h < next {
			return n, nil
		}
	}
	return nil, nil
}

// closestEncloser runs the closest encloser proof for name (RFC 5155
// section 8.3): the longest existing ancestor, and the NSEC3 covering the
// next closer name. ce is "" when unproven; exists when name itself
// matches.
func (p *nsec3Prover) closestEncloser(name string) (ce string, ncCover *dns.NSEC3, exists bool, err error) {
	for n := canonical(name); dnsname.IsSubDomain(p.zone, n); n = parentName(n) {
		m, err := p.match(n)
		if err != nil {
			return "", nil, false, err
		}
		if m != nil {
			if n == canonical(name) {
				return n, nil, true, nil
			}
			// The closest encloser must not be a delegation point or DNAME
			// of the parent side (RFC 5155 section 8.3, RFC 6840 section 4.1).
			if delegationBlocks(n, m.TypeBitMap, name) {
				return "", nil, false, nil
			}
			c, err := p.cover(nextCloser(name, n))
			if err != nil || c == nil {
				return "", nil, false, err
			}
			return n, c, false, nil
		}
		if n == "." {
			break
		}
	}
	return "", nil, false, nil
}

// --- proofs ---

func budgetResult(err error) Result {
	return limited("%v (NSEC3 hash computations)", err)
}

// proveNXDOMAIN checks that d proves name does not exist and no wildcard
// could have answered (RFC 4035 section 5.4, RFC 5155 section 8.4).
func proveNXDOMAIN(b *Budget, d *denialSet, name string) Result {
	if !dnsname.IsSubDomain(d.zone, name) {
		return bogus(EDENSECMissing, "denial records of %s cannot prove anything about %s", d.zone, name)
	}
	if len(d.nsec) > 0 {
		if d.nsecMatching(name) != nil {
			return bogus(EDEBogus, "NXDOMAIN for %s but an NSEC proves it exists", name)
		}
		n := d.nsecCovering(name)
		if n == nil {
			return bogus(EDENSECMissing, "no NSEC proves %s does not exist", name)
		}
		if nsecEmptyNonTerminal(n, name) {
			return bogus(EDEBogus, "NXDOMAIN for %s but an NSEC proves it an empty non-terminal", name)
		}
		wc := "*." + nsecClosestEncloser(n, name)
		if d.nsecMatching(wc) != nil {
			return bogus(EDEBogus, "NXDOMAIN for %s but the wildcard %s exists", name, wc)
		}
		if d.nsecCovering(wc) == nil {
			return bogus(EDENSECMissing, "no NSEC proves the wildcard %s does not exist", wc)
		}
		return Result{Status: Secure}
	}
	p, res := d.newNSEC3Prover(b)
	if p == nil {
		return res
	}
	ce, nc, exists, err := p.closestEncloser(name)
	if err != nil {
		return budgetResult(err)
	}
	if exists {
		return bogus(EDEBogus, "NXDOMAIN for %s but an NSEC3 proves it exists", name)
	}
	if ce == "" {
		return bogus(EDENSECMissing, "no NSEC3 closest encloser proof for %s", name)
	}
	c, err := p.cover("*." + ce)
	if err != nil {
		return budgetResult(err)
	}
	if c == nil {
		return bogus(EDENSECMissing, "no NSEC3 proves the wildcard *.%s does not exist", ce)
	}
	return optOut(nc, name, d.zone)
}

// optOut is the status of a proof whose next closer name nc covers: an
// opt-out span may hold unsigned delegations, so the proof says nothing
// secure about names below it (RFC 5155 section 9.2; Unbound returns
// insecure for NXDOMAIN, wildcard and wildcard NODATA proofs alike).
func optOut(nc *dns.NSEC3, name, zone string) Result {
	if nc != nil && nc.Flags&1 == 1 {
		return insecure(0, "%s is covered by an opt-out NSEC3 of %s", name, zone)
	}
	return Result{Status: Secure}
}

// proveNODATA checks that d proves name exists without type qtype (RFC 4035
// section 5.4, RFC 5155 sections 8.5-8.7), including the empty
// non-terminal and wildcard cases. A DS query answered by opt-out is
// Insecure (RFC 5155 section 8.6).
func proveNODATA(b *Budget, d *denialSet, name string, qtype uint16) Result {
	if !dnsname.IsSubDomain(d.zone, name) {
		return bogus(EDENSECMissing, "denial records of %s cannot prove anything about %s", d.zone, name)
	}
	typeOK := func(types []uint16, owner string) Result {
		switch {
		case hasType(types, qtype):
			return bogus(EDEBogus, "NODATA for %s %s but the denial record says the type exists", name, dns.TypeToString[qtype])
		case hasType(types, dns.TypeCNAME):
			return bogus(EDEBogus, "NODATA for %s but the denial record says it is a CNAME", name)
		case qtype == dns.TypeDS && hasType(types, dns.TypeSOA) && owner != ".":
			// The child apex's record cannot deny the parent's DS.
			return bogus(EDEBogus, "NODATA for %s DS proven from the child side", name)
		case qtype != dns.TypeDS && hasType(types, dns.TypeNS) && !hasType(types, dns.TypeSOA):
			// A delegation point's record only speaks for DS (RFC 6840 4.4).
			return bogus(EDEBogus, "NODATA for %s %s proven by a delegation point's record", name, dns.TypeToString[qtype])
		}
		return Result{Status: Secure}
	}
	if len(d.nsec) > 0 {
		if n := d.nsecMatching(name); n != nil {
			return typeOK(n.TypeBitMap, n.Hdr.Name)
		}
		n := d.nsecCovering(name)
		if n == nil {
			return bogus(EDENSECMissing, "no NSEC proves %s has no %s", name, dns.TypeToString[qtype])
		}
		if nsecEmptyNonTerminal(n, name) {
			return Result{Status: Secure}
		}
		wc := "*." + nsecClosestEncloser(n, name)
		if w := d.nsecMatching(wc); w != nil {
			return typeOK(w.TypeBitMap, w.Hdr.Name)
		}
		return bogus(EDENSECMissing, "no NSEC proves %s has no %s", name, dns.TypeToString[qtype])
	}
	p, res := d.newNSEC3Prover(b)
	if p == nil {
		return res
	}
	m, err := p.match(name)
	if err != nil {
		return budgetResult(err)
	}
	if m != nil {
		return typeOK(m.TypeBitMap, name)
	}
	ce, nc, _, err := p.closestEncloser(name)
	if err != nil {
		return budgetResult(err)
	}
	if ce == "" {
		return bogus(EDENSECMissing, "no NSEC3 proves %s has no %s", name, dns.TypeToString[qtype])
	}
	if qtype == dns.TypeDS && nc.Flags&1 == 1 {
		return insecure(0, "%s is covered by an opt-out NSEC3 of %s", name, d.zone)
	}
	w, err := p.match("*." + ce)
	if err != nil {
		return budgetResult(err)
	}
	if w != nil {
		if r := typeOK(w.TypeBitMap, "*."+ce); r.Status != Secure {
			return r
		}
		return optOut(nc, name, d.zone)
	}
	return bogus(EDENSECMissing, "no NSEC3 proves %s has no %s", name, dns.TypeToString[qtype])
}

// proveNoCloserMatch checks that an answer expanded from wildcard (as its
// RRSIG's labels say) was right to be: no name closer to qname exists (RFC
// 4035 section 5.3.4, RFC 5155 section 8.8).
func proveNoCloserMatch(b *Budget, d *denialSet, name, wildcard string) Result {
	ce := strings.TrimPrefix(wildcard, "*.")
	if !isStrictSubdomain(ce, name) || !dnsname.IsSubDomain(d.zone, name) {
		return bogus(EDEBogus, "wildcard %s cannot have answered %s", wildcard, name)
	}
	if len(d.nsec) > 0 {
		if d.nsecCovering(name) == nil {
			return bogus(EDENSECMissing, "no NSEC proves %s has no closer match than %s", name, wildcard)
		}
		return Result{Status: Secure}
	}
	p, res := d.newNSEC3Prover(b)
	if p == nil {
		return res
	}
	c, err := p.cover(nextCloser(name, ce))
	if err != nil {
		return budgetResult(err)
	}
	if c == nil {
		return bogus(EDENSECMissing, "no NSEC3 proves %s has no closer match than %s", name, wildcard)
	}
	return optOut(c, name, d.zone)
}

// proveDS says what d, the parent zone's verified denial records, proves
// about the DS RRset of name.
func proveDS(b *Budget, d *denialSet, name string) (dsKind, Result) {
	if !isStrictSubdomain(d.zone, name) {
		return dsUnproven, bogus(EDEBogus, "the DS of %s cannot be denied by %s", name, d.zone)
	}
	kind := func(types []uint16) (dsKind, Result) {
		switch {
		case hasType(types, dns.TypeDS):
			return dsUnproven, bogus(EDEBogus, "%s has a DS record yet none was returned", name)
		case hasType(types, dns.TypeSOA):
			return dsUnproven, bogus(EDEBogus, "the DS of %s was denied from the child side", name)
		case hasType(types, dns.TypeNS):
			return dsInsecure, Result{Status: Secure}
		}
		return dsNoDelegation, Result{Status: Secure}
	}
	if len(d.nsec) > 0 {
		if n := d.nsecMatching(name); n != nil {
			return kind(n.TypeBitMap)
		}
		if n := d.nsecCovering(name); n != nil {
			if nsecEmptyNonTerminal(n, name) {
				return dsNoDelegation, Result{Status: Secure}
			}
			return dsProvenMissing, Result{Status: Secure}
		}
		return dsUnproven, bogus(EDENSECMissing, "no NSEC proves %s has no DS", name)
	}
	p, res := d.newNSEC3Prover(b)
	if p == nil {
		return dsUnproven, res
	}
	m, err := p.match(name)
	if err != nil {
		return dsUnproven, budgetResult(err)
	}
	if m != nil {
		return kind(m.TypeBitMap)
	}
	ce, nc, _, err := p.closestEncloser(name)
	if err != nil {
		return dsUnproven, budgetResult(err)
	}
	if ce == "" {
		return dsUnproven, bogus(EDENSECMissing, "no NSEC3 proves %s has no DS", name)
	}
	if nc.Flags&1 == 1 {
		// RFC 5155 section 8.9: an opt-out span may hide an unsigned
		// delegation.
		return dsInsecure, insecure(0, "%s is covered by an opt-out NSEC3 of %s", name, d.zone)
	}
	return dsProvenMissing, Result{Status: Secure}
}
