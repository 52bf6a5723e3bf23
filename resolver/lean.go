package resolver

import (
	"encoding/binary"

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
// (FuzzLeanUnpack compares them) except that Ns and Extra are nil.

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
	lr.q[0] = dns.Question{
		Name:   reuse(name, qname, ""),
		Qtype:  binary.BigEndian.Uint16(msg[off:]),
		Qclass: binary.BigEndian.Uint16(msg[off+2:]),
	}
	off += 4

	// Answer: decoded.
	qtype := q.Question[0].Qtype
	answers := false
	prev := ""
	lr.m.Answer = lr.ans[:0]
	for i := 0; i < ancount; i++ {
		if off == len(msg) {
			return nil, false // the count lies: Msg.Unpack's business
		}
		if name, off, ok = readName(msg, off, nbuf[:0], true); !ok || off+10 > len(msg) {
			return nil, false
		}
		h := dns.RR_Header{
			Name:     reuse(name, qname, prev),
			Rrtype:   binary.BigEndian.Uint16(msg[off:]),
			Class:    binary.BigEndian.Uint16(msg[off+2:]),
			Ttl:      binary.BigEndian.Uint32(msg[off+4:]),
			Rdlength: binary.BigEndian.Uint16(msg[off+8:]),
		}
		prev = h.Name
		off += 10
		end := off + int(h.Rdlength)
		if end > len(msg) {
			return nil, false
		}
		var rr dns.RR
		if h.Rrtype == dns.TypeA && h.Rdlength == 4 {
			rr = newA(h, msg[off:end])
		} else {
			var err error
			if rr, _, err = dns.UnpackRRWithHeader(h, msg[:end], off); err != nil {
				return nil, false
			}
		}
		off = end
		lr.m.Answer = append(lr.m.Answer, rr)
		if h.Rrtype == qtype && h.Class == dns.ClassINET && dnsname.EqualFold(h.Name, qname) {
			answers = true
		}
	}
	if !answers {
		return nil, false
	}

	// Authority and additional: checked, not decoded. Msg.Unpack ORs the
	// extended rcode of the last OPT into Rcode.
	for i := 0; i < nscount; i++ {
		if off, _, _, ok = checkRR(msg, off); !ok {
			return nil, false
		}
	}
	var ext uint32
	for i := 0; i < arcount; i++ {
		var isOPT bool
		var ttl uint32
		if off, isOPT, ttl, ok = checkRR(msg, off); !ok {
			return nil, false
		}
		if isOPT {
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

// checkRR checks the record at off the way Msg.Unpack would decode it,
// without decoding it, and returns the offset after it, whether it is an
// OPT and its TTL. ok is false when it is malformed or of a type whose data
// checkRR does not check.
func checkRR(msg []byte, off int) (next int, isOPT bool, ttl uint32, ok bool) {
	if off == len(msg) {
		return 0, false, 0, false
	}
	if _, off, ok = readName(msg, off, nil, false); !ok || off+10 > len(msg) {
		return 0, false, 0, false
	}
	typ := binary.BigEndian.Uint16(msg[off:])
	ttl = binary.BigEndian.Uint32(msg[off+4:])
	rdlen := int(binary.BigEndian.Uint16(msg[off+8:]))
	off += 10
	end := off + rdlen
	if end > len(msg) {
		return 0, false, 0, false
	}
	switch {
	case typ == dns.TypeOPT:
		// Options: Msg.Unpack checks each one; not done here.
		return end, true, ttl, rdlen == 0
	case rdlen == 0:
		return end, false, ttl, true // no data: Msg.Unpack accepts it for every type
	case typ == dns.TypeA:
		return end, false, ttl, rdlen == 4
	case typ == dns.TypeAAAA:
		return end, false, ttl, rdlen == 16
	case typ == dns.TypeNS || typ == dns.TypeCNAME || typ == dns.TypePTR:
		_, n, ok := readName(msg[:end], off, nil, false)
		return end, false, ttl, ok && n == end
	case typ == dns.TypeSOA:
		_, n, ok := readName(msg[:end], off, nil, false)
		if ok {
			_, n, ok = readName(msg[:end], n, nil, false)
		}
		return end, false, ttl, ok && n+20 == end
	}
	return 0, false, 0, false
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

// reuse returns name as a string: a or b when it equals one (no
// allocation), else a new string.
func reuse(name []byte, a, b string) string {
	if string(name) == a {
		return a
	}
	if string(name) == b {
		return b
	}
	return string(name)
}
