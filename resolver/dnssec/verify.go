package dnssec

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// Limits bound the validation work of one client query (see the package
// doc for the defaults next to PowerDNS's and Unbound's).
type Limits struct {
	MaxValidations     int // signature verifications per client query; default 30
	MaxNSEC3Hashes     int // NSEC3 hash computations (iterations+1 per name) per client query; default 600
	MaxSigsPerRRset    int // RRSIGs tried per RRset; default 8
	MaxKeysPerTag      int // DNSKEYs with one tag and algorithm tried per RRSIG; default 2
	MaxDSPerZone       int // DS records considered per zone; default 8
	MaxNSEC3Iterations int // NSEC3 iterations above this make a proof insecure; default 150
}

func (l *Limits) setDefaults() {
	num := func(p *int, n int) {
		if *p <= 0 {
			*p = n
		}
	}
	num(&l.MaxValidations, 30)
	num(&l.MaxNSEC3Hashes, 600)
	num(&l.MaxSigsPerRRset, 8)
	num(&l.MaxKeysPerTag, 2)
	num(&l.MaxDSPerZone, 8)
	num(&l.MaxNSEC3Iterations, 150)
}

// errBudget is returned when a query's validation budget is spent.
var errBudget = errors.New("validation work limit reached")

// Budget is what one client query may still spend on validation. Not safe
// for concurrent use: one query validates in one goroutine.
type Budget struct {
	limits      Limits
	validations int                            // left
	hashes      int                            // left
	hashCache   []nsec3Hash                    // the first few hashes of a validation (most ask for one to three)
	hashMap     map[nsec3HashKey]string        // all of them, once there are more (up to the budget's 600)
	fetcher     Fetcher                        // this query's own, when set (SetFetcher)
	seen        *lru.Cache[[32]byte, struct{}] // signatures that verified (the Validator's), or nil
}

// SetFetcher makes the chain fetches of this query go through f instead of
// Config.Fetcher: the resolver passes one bound to the client question, so
// the fetches spend that question's upstream budget and deadline.
func (b *Budget) SetFetcher(f Fetcher) { b.fetcher = f }

// NewBudget is the full budget of one client query under l (zero fields
// take the defaults).
func NewBudget(l Limits) *Budget {
	l.setDefaults()
	return &Budget{limits: l, validations: l.MaxValidations, hashes: l.MaxNSEC3Hashes}
}

// Spent reports the verifications and NSEC3 hash computations used so far.
func (b *Budget) Spent() (validations, hashes int) {
	return b.limits.MaxValidations - b.validations, b.limits.MaxNSEC3Hashes - b.hashes
}

func (b *Budget) takeValidation() bool {
	if b.validations <= 0 {
		return false
	}
	b.validations--
	return true
}

type nsec3HashKey struct {
	name string
	alg  uint8
	iter uint16
	salt string
}

// maxListedHashes is how many hashes a validation keeps in order before it
// keeps them in a map.
const maxListedHashes = 8

// nsec3Hash is one hash a validation computed: a few of them, searched in
// order, cost a cold validation a few bytes where a map cost ~500.
type nsec3Hash struct {
	key  nsec3HashKey
	hash string
}

// hash is the NSEC3 hash of name (upper-case base32hex), counting
// iterations+1 computations against the budget; repeats are free.
func (b *Budget) hash(name string, alg uint8, iter uint16, salt string) (string, error) {
	k := nsec3HashKey{canonical(name), alg, iter, strings.ToUpper(salt)}
	if b.hashMap != nil {
		if h, ok := b.hashMap[k]; ok {
			return h, nil
		}
	} else {
		for _, c := range b.hashCache {
			if c.key == k {
				return c.hash, nil
			}
		}
	}
	cost := int(iter) + 1
	if b.hashes < cost {
		return "", errBudget
	}
	b.hashes -= cost
	h := dns.HashName(k.name, alg, iter, k.salt)
	if h == "" {
		return "", errors.New("NSEC3 hash failed")
	}
	switch {
	case b.hashMap != nil:
		b.hashMap[k] = h
	case len(b.hashCache) < maxListedHashes:
		b.hashCache = append(b.hashCache, nsec3Hash{k, h})
	default: // a search in order would cost quadratic time up to the budget
		b.hashMap = make(map[nsec3HashKey]string, 2*maxListedHashes)
		for _, c := range b.hashCache {
			b.hashMap[c.key] = c.hash
		}
		b.hashMap[k] = h
		b.hashCache = nil
	}
	return h, nil
}

// supportedAlgorithm reports whether signatures of DNSKEY algorithm alg can
// be verified here (see the package doc: Ed448 cannot).
func supportedAlgorithm(alg uint8) bool {
	switch alg {
	case dns.RSASHA1, dns.RSASHA1NSEC3SHA1, dns.RSASHA256, dns.RSASHA512,
		dns.ECDSAP256SHA256, dns.ECDSAP384SHA384, dns.ED25519:
		return true
	}
	return false
}

// digestPreference ranks supported DS digest types; 0 = unsupported.
func digestPreference(t uint8) int {
	switch t {
	case dns.SHA384:
		return 3
	case dns.SHA256:
		return 2
	case dns.SHA1:
		return 1
	}
	return 0
}

// usableKey reports whether k may verify RRSIGs: protocol 3, the Zone Key
// bit set (RFC 4034 section 2.1.1), not revoked (RFC 5011 section 2.1).
func usableKey(k *dns.DNSKEY) bool {
	return k.Protocol == 3 && k.Flags&dns.ZONE != 0 && k.Flags&dns.REVOKE == 0
}

// validity classifies now against sig's window with RFC 1982 serial
// arithmetic (RFC 4034 section 3.1.5): 0 inside, <0 not yet valid, >0
// expired.
func validity(sig *dns.RRSIG, now time.Time) int {
	t := uint32(now.Unix())
	if int32(t-sig.Inception) < 0 {
		return -1
	}
	if int32(sig.Expiration-t) < 0 {
		return 1
	}
	return 0
}

// sigExpiry is sig's expiration as a time near now.
func sigExpiry(sig *dns.RRSIG, now time.Time) time.Time {
	d := int32(sig.Expiration - uint32(now.Unix()))
	return now.Add(time.Duration(d) * time.Second)
}

// verified is an RRset whose signature checked.
type verified struct {
	until time.Time
	// wildcard is the wildcard the RRset was expanded from ("" if none):
	// an RRSIG with fewer labels than its owner (RFC 4035 section 5.3.4).
	wildcard string
}

// verifyRRset checks that one RRSIG of sigs over rrset verifies under one
// of keys, the validated DNSKEYs of zone signer. It tries at most
// MaxSigsPerRRset signatures and MaxKeysPerTag keys per signature, each
// verification taken from b. rrset must be one RRset (same owner, type,
// class), non-empty.
func verifyRRset(b *Budget, now time.Time, rrset []dns.RR, sigs []*dns.RRSIG, signer string, keys []zoneKey) (verified, Result) {
	h := rrset[0].Header()
	what := rrsetName{h.Name, h.Rrtype} // formatted only into an error
	if len(sigs) == 0 {
		return verified{}, bogus(EDERRSIGsMissing, "no RRSIG for %s", what)
	}
	ownerLabels := dns.CountLabel(h.Name)
	signerHolds := dnsname.IsSubDomain(signer, h.Name)
	var expired, notYet, tried, failed int
	var lastErr error
	for _, sig := range sigs {
		if tried >= b.limits.MaxSigsPerRRset {
			break
		}
		// RFC 4035 section 5.3.1: the RRSIG must cover this RRset, name the
		// zone's signer (at or above the owner), and have no more labels
		// than the owner.
		if sig.TypeCovered != h.Rrtype || sig.Hdr.Class != h.Class || !equalNames(sig.SignerName, signer) ||
			!signerHolds || int(sig.Labels) > ownerLabels || !supportedAlgorithm(sig.Algorithm) {
			continue
		}
		switch validity(sig, now) {
		case 1:
			expired++
			continue
		case -1:
			notYet++
			continue
		}
		n := 0
		for _, k := range keys {
			if n >= b.limits.MaxKeysPerTag {
				break
			}
			if k.Algorithm != sig.Algorithm || k.tag != sig.KeyTag || !usableKey(k.DNSKEY) {
				continue
			}
			n++
			if n == 1 {
				tried++
			}
			key, keyed := verifiedKey(&k, sig, rrset)
			if !keyed || b.seen == nil || !b.seen.Contains(key) {
				if !b.takeValidation() {
					return verified{}, limited("%s: %v (%d signature verifications)", what, errBudget, b.limits.MaxValidations)
				}
				if err := sig.Verify(k.DNSKEY, rrset); err != nil {
					failed++
					lastErr = err
					continue
				}
				if keyed && b.seen != nil {
					b.seen.Add(key, struct{}{})
				}
			}
			v := verified{until: sigExpiry(sig, now)}
			// RFC 4035 section 5.3.2: fewer labels than the owner (a
			// leading "*" not counted) means the RRset was expanded.
			if int(sig.Labels) < ownerLabels && !strings.HasPrefix(h.Name, "*.") {
				v.wildcard = "*." + ancestorWithLabels(canonical(h.Name), int(sig.Labels))
			}
			return v, secure(v.until)
		}
	}
	switch {
	case failed > 0:
		return verified{}, bogus(EDEBogus, "signature of %s by %s does not verify: %v", what, signer, lastErr)
	case expired > 0:
		return verified{}, bogus(EDESignatureExpired, "every RRSIG of %s by %s has expired", what, signer)
	case notYet > 0:
		return verified{}, bogus(EDESignatureNotYetValid, "every RRSIG of %s by %s is not yet valid", what, signer)
	}
	return verified{}, bogus(EDERRSIGsMissing, "no RRSIG of %s by %s matches a key of %s", what, signer, signer)
}

// verifiedKey identifies a verification by everything that decides its
// outcome: the key, the RRSIG (signature included) and the records as RFC
// 4035 section 5.3.2 rebuilds the signed data from them: owner names in
// lower case and, for an RRset expanded from a wildcard (fewer RRSIG
// labels than owner labels), the wildcard's own owner "*.<rest>"; no TTLs
// (the RRSIG's original TTL, in the key, stands in for them). Equal keys
// mean equal input to the cryptography, so a signature that verified once
// verifies again and is not checked a second time: a denial's NSEC3 shared
// by every name of its gap, and the one signature of a wildcard answered
// for every name below it. What depends on the name asked (the RRSIG
// labels against the owner's, the signer above it, the validity window,
// the wildcard's no-closer-match proof) is still checked each time, before
// this.
func verifiedKey(k *zoneKey, sig *dns.RRSIG, rrset []dns.RR) ([32]byte, bool) {
	sp := keyBufs.Get().(*keyBuf)
	defer keyBufs.Put(sp)
	owner := canonical(rrset[0].Header().Name)
	if int(sig.Labels) < dns.CountLabel(owner) {
		owner = "*." + ancestorWithLabels(owner, int(sig.Labels))
	}
	if len(sig.Signature) > 0xffff || len(sig.SignerName) > 0xffff {
		return [32]byte{}, false
	}
	// The key by its digest (zoneKey.id), then the RRSIG's RDATA field by
	// field, its signature as the text it was unpacked to (the same
	// signature is the same text): packing the RRSIG would decode that
	// text again, at each verification.
	in := append(sp.in[:0], k.id[:]...)
	in = binary.BigEndian.AppendUint16(in, sig.TypeCovered)
	in = append(in, sig.Algorithm, sig.Labels)
	in = binary.BigEndian.AppendUint32(in, sig.OrigTtl)
	in = binary.BigEndian.AppendUint32(in, sig.Expiration)
	in = binary.BigEndian.AppendUint32(in, sig.Inception)
	in = binary.BigEndian.AppendUint16(in, sig.KeyTag)
	in = binary.BigEndian.AppendUint16(in, uint16(len(sig.SignerName)))
	in = append(in, dnsname.Lower(sig.SignerName)...)
	in = binary.BigEndian.AppendUint16(in, uint16(len(sig.Signature)))
	in = append(in, sig.Signature...)
	ok := true
	for _, rr := range rrset {
		if in, ok = sp.appendRR(in, rr, owner); !ok {
			break
		}
	}
	sp.in = in[:0] // keep what grew
	if !ok {
		return [32]byte{}, false
	}
	return sha256.Sum256(in), true
}

// zoneKey is a validated DNSKEY with what verifyRRset asks of it for every
// RRset it checks, computed once when its zone's keys are validated: its
// tag (dns.DNSKEY.KeyTag packs the key again at each call) and the digest
// of its owner and RDATA that stands for it in verifiedKey.
type zoneKey struct {
	*dns.DNSKEY
	tag uint16
	id  [32]byte
}

// newZoneKeys makes the zoneKeys of keys.
func newZoneKeys(keys ...*dns.DNSKEY) []zoneKey {
	out := make([]zoneKey, len(keys))
	sp := keyBufs.Get().(*keyBuf)
	defer keyBufs.Put(sp)
	for i, k := range keys {
		out[i] = zoneKey{DNSKEY: k, tag: k.KeyTag()}
		in, ok := sp.appendRR(sp.in[:0], k, canonical(k.Hdr.Name))
		sp.in = in[:0]
		if !ok {
			// A key that does not pack cannot verify (sig.Verify packs
			// it too): an id no packed key has keeps it apart.
			out[i].id = [32]byte{0: 0xff}
			continue
		}
		out[i].id = sha256.Sum256(in)
	}
	return out
}

// rrsetName names an RRset in an error: its owner and type, formatted
// only when an error is made.
type rrsetName struct {
	owner string
	rtype uint16
}

func (n rrsetName) String() string { return n.owner + " " + dns.TypeToString[n.rtype] }

// keyBuf is verifiedKey's scratch: the hash input, and room to pack one
// record (its wire form is at most 64 KiB; DNSSEC records fit in far less).
type keyBuf struct {
	in   []byte
	pack [dns.MaxMsgSize]byte
}

var keyBufs = sync.Pool{New: func() any { return new(keyBuf) }}

// appendRR appends to in owner (length-prefixed), then rr's type, class
// and length-prefixed RDATA from its uncompressed wire form: the owner it
// was packed with and its TTL are left out.
func (sp *keyBuf) appendRR(in []byte, rr dns.RR, owner string) ([]byte, bool) {
	n, err := dns.PackRR(rr, sp.pack[:], 0, nil, false)
	if err != nil {
		return in, false
	}
	buf := sp.pack[:n]
	// Skip the packed owner: uncompressed labels up to the root's zero.
	i := 0
	for i < n && buf[i] != 0 {
		i += int(buf[i]) + 1
	}
	i++ // the zero
	if i+10 > n {
		return in, false
	}
	in = binary.BigEndian.AppendUint16(in, uint16(len(owner)))
	in = append(in, owner...)
	in = append(in, buf[i:i+4]...) // type, class
	in = append(in, buf[i+8:]...)  // RDLENGTH, RDATA (the TTL skipped)
	return in, true
}

// dnskeyResult is the outcome of checking a zone's DNSKEY RRset against
// the DS records that vouch for it.
type dnskeyResult struct {
	keys []zoneKey // usable keys of a Secure zone
	res  Result
}

// verifyDNSKEY checks zone's DNSKEY RRset (with its RRSIGs) against ds, the
// DS records from the parent or a trust anchor (RFC 4035 section 5.2). DS
// records with unsupported digests or algorithms are ignored; if none is
// left the zone is Insecure (RFC 4035 section 5.2, RFC 6840 section 5.2).
// When SHA-256 or SHA-384 DS records exist, SHA-1 ones are ignored (RFC
// 4509 section 3).
func verifyDNSKEY(b *Budget, now time.Time, zone string, dnskeys []dns.RR, sigs []*dns.RRSIG, ds []*dns.DS) dnskeyResult {
	best := 0
	anyAlg, anyDigest := false, false
	for _, d := range ds {
		if supportedAlgorithm(d.Algorithm) {
			anyAlg = true
		}
		if p := digestPreference(d.DigestType); p > 0 {
			anyDigest = true
			if supportedAlgorithm(d.Algorithm) && p > best {
				best = p
			}
		}
	}
	if best == 0 {
		if !anyAlg {
			return dnskeyResult{res: insecure(EDEUnsupportedAlgorithm, "DS records of %s name only unsupported DNSKEY algorithms", zone)}
		}
		if !anyDigest {
			return dnskeyResult{res: insecure(EDEUnsupportedDigest, "DS records of %s use only unsupported digest types", zone)}
		}
		return dnskeyResult{res: insecure(EDEUnsupportedAlgorithm, "no DS record of %s has both a supported algorithm and digest", zone)}
	}
	var keys []*dns.DNSKEY
	for _, rr := range dnskeys {
		if k, ok := rr.(*dns.DNSKEY); ok && equalNames(k.Hdr.Name, zone) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return dnskeyResult{res: bogus(EDEDNSKEYMissing, "%s has DS records but no DNSKEY records", zone)}
	}
	// Each key's tag and id, once: every DS asks for the tags, and the
	// zone's entry keeps them for every RRset it verifies.
	zks := newZoneKeys(keys...)
	considered, matched := 0, 0
	var last Result
	for _, d := range ds {
		if digestPreference(d.DigestType) != best || !supportedAlgorithm(d.Algorithm) {
			continue
		}
		if considered >= b.limits.MaxDSPerZone {
			break
		}
		considered++
		n := 0
		for i, k := range zks {
			if k.Algorithm != d.Algorithm || k.tag != d.KeyTag || k.Protocol != 3 || k.Flags&dns.ZONE == 0 {
				continue
			}
			if n >= b.limits.MaxKeysPerTag {
				break
			}
			n++
			kd := k.ToDS(d.DigestType)
			if kd == nil || !strings.EqualFold(kd.Digest, d.Digest) {
				continue
			}
			matched++
			// The key the parent vouches for must sign the DNSKEY RRset
			// (a revoked one cannot: RFC 5011 section 2.1).
			v, res := verifyRRset(b, now, dnskeys, sigsByTag(sigs, k.tag), zone, zks[i:i+1])
			if res.Status == Secure {
				usable := slices.DeleteFunc(zks, func(k zoneKey) bool { return !usableKey(k.DNSKEY) })
				return dnskeyResult{keys: usable, res: secure(v.until)}
			}
			last = res
			if res.limited {
				return dnskeyResult{res: res}
			}
		}
	}
	if matched == 0 {
		return dnskeyResult{res: bogus(EDEDNSKEYMissing, "no DNSKEY of %s matches its DS records", zone)}
	}
	return dnskeyResult{res: last}
}

func sigsByTag(sigs []*dns.RRSIG, tag uint16) []*dns.RRSIG {
	var out []*dns.RRSIG
	for _, s := range sigs {
		if s.KeyTag == tag {
			out = append(out, s)
		}
	}
	return out
}
