package resolver

import (
	"encoding/base64"
	"encoding/binary"
	"unsafe"

	"github.com/gitops-dns/resolverd/internal/dnsname"
	"github.com/gitops-dns/resolverd/internal/wire"
	"github.com/miekg/dns"
)

// Lean decoding of upstream replies.
//
// Most replies a resolver reads answer the question: the answer section
// holds the asked type at the asked name. What else such a reply carries
// (the zone's NS records in authority, their addresses in additional, an
// OPT) is read by nothing in this package: classify and extract stop at
// the answer, the referral and negative-answer code never sees the reply.
// Yet dns.Msg.Unpack decodes all of it, about two thirds of the
// allocations of a cold resolution.
//
// leanUnpack decodes the header, the question and the answer section, and
// only walks the authority and additional sections to check that they are
// well formed. It succeeds only for a reply that Msg.Unpack accepts too
// and whose answer section answers the question with rcode NOERROR
// (extended rcode included); everything else (referrals, negative
// answers, CNAME chains, names with bytes that presentation form escapes,
// record types it does not know how to check, counts that end early)
// makes it report !ok and the caller unpacks the whole message with
// Msg.Unpack, as before. What it returns is what Msg.Unpack returns
// (FuzzLeanUnpack compares them) except that Extra is nil and Ns is nil
// too unless the authority section holds DNSSEC records (RRSIG, NSEC,
// NSEC3: a signed answer's wildcard proof), when Ns holds what the
// validator reads of it (validate): the SOA, NSEC and NSEC3 records and
// the RRSIGs that cover them. Its other records (the zone's NS set and
// its RRSIG, glue and its RRSIGs in additional) are checked, not decoded.
// A signed reply then costs what an unsigned one does plus its proof,
// instead of Msg.Unpack of a copy of the whole reply: four RRSIGs, each
// signature in base64, for the one wildcard answer W3 asks.
//
// Records are decoded as Msg.Unpack decodes them: miekg/dns's own
// UnpackRRWithHeader on the whole message, except A records (newA) and
// RRSIGs (leanRRSIG: one allocation for the record and its signature's
// base64, the same text).

// leanReply holds a decoded reply and room for its question and a short
// answer section in one allocation.
type leanReply struct {
	m   dns.Msg
	q   [1]dns.Question
	ans [4]dns.RR
}

// leanA is an A record and its address in one allocation (Msg.Unpack
// and dns.Copy make two).
type leanA struct {
	rr dns.A
	ip [4]byte
}

// newA returns an A record with header h and a copy of ip (4 bytes) in
// one allocation.
func newA(h dns.RR_Header, ip []byte) *dns.A {
	a := &leanA{rr: dns.A{Hdr: h}}
	copy(a.ip[:], ip)
	a.rr.A = a.ip[:]
	return &a.rr
}

// maxPointers is miekg/dns's bound on compression pointers in one name.
const maxPointers = (255+1)/2 - 2

// leanUnpack decodes msg, a reply to q (one question), leanly. ok is false
// when msg is not a well-formed answer to q's question that it can decode
// (see above): the caller must then use Msg.Unpack.
func leanUnpack(msg []byte, q *dns.Msg) (*dns.Msg, bool) {
	if len(msg) < 12 || len(q.Question) != 1 {
		return nil, false
	}
	bits := binary.BigEndian.Uint16(msg[2:])
	if bits&wire.RcodeMask != dns.RcodeSuccess || binary.BigEndian.Uint16(msg[4:]) != 1 {
		return nil, false
	}
	ancount := int(binary.BigEndian.Uint16(msg[6:]))
	nscount := int(binary.BigEndian.Uint16(msg[8:]))
	arcount := int(binary.BigEndian.Uint16(msg[10:]))
	qname := q.Question[0].Name
	var nbuf [256]byte

	// Question.
	name, off, ok := readName(msg, 12, nbuf[:0], true)
	if !ok || off+4 > len(msg) {
		return nil, false
	}
	lr := &leanReply{}
	names := recentNames{qname: qname}
	lr.q[0] = dns.Question{
		Name:   names.name(name),
		Qtype:  binary.BigEndian.Uint16(msg[off:]),
		Qclass: binary.BigEndian.Uint16(msg[off+2:]),
	}
	off += 4

	// Answer: decoded.
	qtype := q.Question[0].Qtype
	answers := false
	lr.m.Answer = lr.ans[:0]
	for i := 0; i < ancount; i++ {
		var rr dns.RR
		if rr, off, ok = names.record(msg, off, &nbuf); !ok {
			return nil, false
		}
		lr.m.Answer = append(lr.m.Answer, rr)
		h := rr.Header()
		if h.Rrtype == qtype && h.Class == dns.ClassINET && dnsname.EqualFold(h.Name, qname) {
			answers = true
		}
	}
	if !answers {
		return nil, false
	}

	// Authority and additional: checked, not decoded, except the denial
	// records of a signed reply's authority. Msg.Unpack ORs the extended
	// rcode of the last OPT into Rcode.
	nsStart, signed := off, false
	for i := 0; i < nscount; i++ {
		var typ uint16
		if off, typ, _, ok = checkRR(msg, off, true); !ok {
			return nil, false
		}
		signed = signed || typ == dns.TypeRRSIG || typ == dns.TypeNSEC || typ == dns.TypeNSEC3
	}
	if signed {
		if lr.m.Ns, ok = names.denial(msg, nsStart, nscount, &nbuf); !ok {
			return nil, false
		}
	}
	var ext uint32
	for i := 0; i < arcount; i++ {
		var typ uint16
		var ttl uint32
		if off, typ, ttl, ok = checkRR(msg, off, false); !ok {
			return nil, false
		}
		if typ == dns.TypeOPT {
			ext = ttl >> 24
		}
	}
	if ext != 0 {
		return nil, false // an extended rcode: not NOERROR
	}

	m := &lr.m
	m.MsgHdr = wire.MsgHdr(binary.BigEndian.Uint16(msg), bits) // rcode NOERROR: checked above
	m.Question = lr.q[:]
	return m, true
}

// recentNames are names a reply repeats, each a string already: the
// question's, the last owner's and the last RRSIG signer's. A record
// whose name is one of them reuses its string.
type recentNames struct {
	qname, owner, signer string
}

func (n *recentNames) name(b []byte) string {
	switch string(b) {
	case n.qname:
		return n.qname
	case n.owner:
		return n.owner
	case n.signer:
		return n.signer
	}
	return string(b)
}

// record decodes the record at off as Msg.Unpack would and returns the
// offset after it; ok is false when it is malformed or has a name that
// presentation form escapes.
func (n *recentNames) record(msg []byte, off int, nbuf *[256]byte) (rr dns.RR, next int, ok bool) {
	if off == len(msg) {
		return nil, 0, false // the count lies: Msg.Unpack's business
	}
	var name []byte
	if name, off, ok = readName(msg, off, nbuf[:0], true); !ok || off+10 > len(msg) {
		return nil, 0, false
	}
	h := dns.RR_Header{
		Name:     n.name(name),
		Rrtype:   binary.BigEndian.Uint16(msg[off:]),
		Class:    binary.BigEndian.Uint16(msg[off+2:]),
		Ttl:      binary.BigEndian.Uint32(msg[off+4:]),
		Rdlength: binary.BigEndian.Uint16(msg[off+8:]),
	}
	n.owner = h.Name
	off += 10
	end := off + int(h.Rdlength)
	if end > len(msg) {
		return nil, 0, false
	}
	switch {
	case h.Rrtype == dns.TypeA && h.Rdlength == 4:
		return newA(h, msg[off:end]), end, true
	case h.Rrtype == dns.TypeRRSIG:
		if sig, ok := n.rrsig(h, msg, off, nbuf); ok {
			return sig, end, true
		}
	}
	// The message cut at the record's end, as Msg.Unpack cuts it.
	rr, _, err := dns.UnpackRRWithHeader(h, msg[:end], off)
	if err != nil {
		return nil, 0, false
	}
	return rr, end, true
}

// rrsigFixed is the length of an RRSIG's RDATA before its signer's name
// (RFC 4034 section 3.1).
const rrsigFixed = 18

// leanRRSIG is an RRSIG and the base64 text of a signature of up to 64
// octets (ECDSA P-256, Ed25519) in one allocation; Msg.Unpack makes three.
type leanRRSIG struct {
	rr  dns.RRSIG
	b64 [88]byte
}

// rrsig decodes the RRSIG RDATA at off (header h) as miekg/dns does: the
// fixed fields, the signer's name (compression allowed, as it allows,
// inside the message cut at the record's end, as it cuts it) and the rest
// of the RDATA as the signature, in standard base64. ok is false for a
// shape it leaves to miekg/dns: RDATA that ends before the signer's name
// does, or a signer that presentation form escapes.
func (n *recentNames) rrsig(h dns.RR_Header, msg []byte, off int, nbuf *[256]byte) (*dns.RRSIG, bool) {
	end := off + int(h.Rdlength)
	if int(h.Rdlength) < rrsigFixed {
		return nil, false
	}
	signer, sigAt, ok := readName(msg[:end], off+rrsigFixed, nbuf[:0], true)
	if !ok {
		return nil, false
	}
	f := msg[off : off+rrsigFixed]
	sig := msg[sigAt:end]
	l := &leanRRSIG{}
	l.rr = dns.RRSIG{
		Hdr:         h,
		TypeCovered: binary.BigEndian.Uint16(f),
		Algorithm:   f[2],
		Labels:      f[3],
		OrigTtl:     binary.BigEndian.Uint32(f[4:]),
		Expiration:  binary.BigEndian.Uint32(f[8:]),
		Inception:   binary.BigEndian.Uint32(f[12:]),
		KeyTag:      binary.BigEndian.Uint16(f[16:]),
		SignerName:  n.name(signer),
	}
	n.signer = l.rr.SignerName
	var b []byte
	if k := base64.StdEncoding.EncodedLen(len(sig)); k <= len(l.b64) {
		b = l.b64[:k]
	} else {
		b = make([]byte, k)
	}
	base64.StdEncoding.Encode(b, sig)
	if len(b) > 0 {
		// b is written once, here, and never again: the string may
		// share its bytes (as strings.Builder's String does).
		l.rr.Signature = unsafe.String(&b[0], len(b))
	}
	return &l.rr, true
}

// denialType reports whether the validator reads records of type t from
// a signed reply's authority section (validate): the SOA and the denial
// records, and the RRSIGs over them.
func denialType(t uint16) bool {
	return t == dns.TypeSOA || t == dns.TypeNSEC || t == dns.TypeNSEC3
}

// denial decodes the count records at off of an authority section that
// checkRR passed: those of a denialType, and RRSIGs covering one.
func (n *recentNames) denial(msg []byte, off, count int, nbuf *[256]byte) ([]dns.RR, bool) {
	var out []dns.RR
	for i := 0; i < count; i++ {
		typ, covered, next, ok := peekRR(msg, off)
		if !ok {
			return nil, false
		}
		if denialType(typ) || typ == dns.TypeRRSIG && denialType(covered) {
			var rr dns.RR
			if rr, next, ok = n.record(msg, off, nbuf); !ok {
				return nil, false
			}
			out = append(out, rr)
		}
		off = next
	}
	return out, true
}

// peekRR returns the type of the record at off, the type an RRSIG covers
// (0 for another type or an RRSIG too short to say) and the offset after
// it.
func peekRR(msg []byte, off int) (typ, covered uint16, next int, ok bool) {
	if _, off, ok = readName(msg, off, nil, false); !ok || off+10 > len(msg) {
		return 0, 0, 0, false
	}
	typ = binary.BigEndian.Uint16(msg[off:])
	rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
	off += 10
	if off+rdlen > len(msg) {
		return 0, 0, 0, false
	}
	if typ == dns.TypeRRSIG && rdlen >= 2 {
		covered = binary.BigEndian.Uint16(msg[off:])
	}
	return typ, covered, off + rdlen, true
}

// checkRR checks the record at off the way Msg.Unpack would decode it,
// without decoding it, and returns the offset after it, its type and its
// TTL. ok is false when it is malformed or of a type whose data checkRR
// does not check. In an authority section (authority) NSEC and NSEC3
// records pass unchecked: a signed reply's are all decoded (denial), with
// miekg/dns's checks.
func checkRR(msg []byte, off int, authority bool) (next int, typ uint16, ttl uint32, ok bool) {
	if off == len(msg) {
		return 0, 0, 0, false
	}
	if _, off, ok = readName(msg, off, nil, false); !ok || off+10 > len(msg) {
		return 0, 0, 0, false
	}
	typ = binary.BigEndian.Uint16(msg[off:])
	ttl = binary.BigEndian.Uint32(msg[off+4:])
	rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
	off += 10
	end := off + rdlen
	if end > len(msg) {
		return 0, 0, 0, false
	}
	switch {
	case authority && (typ == dns.TypeNSEC || typ == dns.TypeNSEC3):
		return end, typ, ttl, true
	case typ == dns.TypeOPT:
		// Options: Msg.Unpack checks each one; not done here.
		return end, typ, ttl, rdlen == 0
	case rdlen == 0:
		return end, typ, ttl, true // no data: Msg.Unpack accepts it for every type
	case typ == dns.TypeA:
		return end, typ, ttl, rdlen == 4
	case typ == dns.TypeAAAA:
		return end, typ, ttl, rdlen == 16
	case typ == dns.TypeNS || typ == dns.TypeCNAME || typ == dns.TypePTR:
		_, n, ok := readName(msg[:end], off, nil, false)
		return end, typ, ttl, ok && n == end
	case typ == dns.TypeSOA:
		_, n, ok := readName(msg[:end], off, nil, false)
		if ok {
			_, n, ok = readName(msg[:end], n, nil, false)
		}
		return end, typ, ttl, ok && n+20 == end
	case typ == dns.TypeRRSIG:
		// The fixed fields, the signer's name inside the RDATA, the
		// signature (any octets: base64 takes them all).
		if rdlen < rrsigFixed {
			return 0, 0, 0, false
		}
		_, _, ok := readName(msg[:end], off+rrsigFixed, nil, false)
		return end, typ, ttl, ok
	}
	return 0, 0, 0, false
}

// readName reads the domain name at off as dns.UnpackDomainName does, with
// its bounds (255 octets, maxPointers pointers) and errors, and returns the
// offset after it. With build it appends the name in presentation form to
// buf; ok is then also false for a name with a byte that form escapes
// (the caller falls back to Msg.Unpack rather than reproduce the escaping).
func readName(msg []byte, off int, buf []byte, build bool) (name []byte, next int, ok bool) {
	next = -1
	budget := 255
	ptrs := 0
	for {
		if off >= len(msg) {
			return nil, 0, false
		}
		c := int(msg[off])
		off++
		switch c & 0xC0 {
		case 0x00:
			if c == 0 {
				if next < 0 {
					next = off
				}
				if build && len(buf) == 0 {
					buf = append(buf, '.')
				}
				return buf, next, true
			}
			if off+c > len(msg) {
				return nil, 0, false
			}
			budget -= c + 1
			if budget <= 0 {
				return nil, 0, false
			}
			if build {
				for _, b := range msg[off : off+c] {
					if b < ' ' || b > '~' || special(b) {
						return nil, 0, false
					}
				}
				buf = append(buf, msg[off:off+c]...)
				buf = append(buf, '.')
			}
			off += c
		case 0xC0:
			if off >= len(msg) {
				return nil, 0, false
			}
			c1 := int(msg[off])
			off++
			if next < 0 {
				next = off
			}
			if ptrs++; ptrs > maxPointers {
				return nil, 0, false
			}
			off = (c^0xC0)<<8 | c1
		default:
			return nil, 0, false
		}
	}
}

// special: the bytes presentation form escapes with a backslash.
func special(b byte) bool {
	switch b {
	case '.', ' ', '\'', '@', ';', '(', ')', '"', '\\':
		return true
	}
	return false
}
