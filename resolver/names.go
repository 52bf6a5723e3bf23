package resolver

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// oneMore returns the ancestor of qname one label below known (qname when
// known has as many labels or more).
func oneMore(qname, known string) string {
	skip := dns.CountLabel(qname) - dns.CountLabel(known) - 1
	if skip < 0 {
		return qname
	}
	off := 0
	for i := 0; i < skip; i++ {
		off, _ = dns.NextLabel(qname, off)
	}
	return qname[off:]
}

// newID returns a random message id from crypto/rand (dns.Id without its
// allocation).
func newID() uint16 {
	ids.mu.Lock()
	if ids.next+2 > len(ids.buf) { // randomBytes may leave one byte
		_, _ = rand.Read(ids.buf[:]) // never fails (crypto/rand panics instead)
		ids.next = 0
	}
	id := binary.BigEndian.Uint16(ids.buf[ids.next:])
	ids.next += 2
	ids.mu.Unlock()
	return id
}

// randomBytes fills b from the same batched crypto/rand output as newID.
func randomBytes(b []byte) {
	ids.mu.Lock()
	for len(b) > 0 {
		if ids.next == len(ids.buf) {
			_, _ = rand.Read(ids.buf[:])
			ids.next = 0
		}
		n := copy(b, ids.buf[ids.next:])
		ids.next += n
		b = b[n:]
	}
	ids.mu.Unlock()
}

// mixCase returns name with each ASCII letter's case chosen at random
// (0x20, draft-vixie-dnsext-dns0x20): a spoofer must now also guess one
// bit per letter, which an echoing server copies into its reply's
// question. name without letters is returned as it is.
func mixCase(name string) string {
	letters := 0
	for i := 0; i < len(name); i++ {
		if c := name[i] | 0x20; c >= 'a' && c <= 'z' {
			letters++
		}
	}
	if letters == 0 {
		return name
	}
	var rb [32]byte // 255 letters at most
	bits := rb[:(letters+7)/8]
	randomBytes(bits)
	var b strings.Builder
	b.Grow(len(name))
	k := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		if l := c | 0x20; l >= 'a' && l <= 'z' {
			if bits[k/8]&(1<<(k%8)) != 0 {
				c = l &^ 0x20 // upper
			} else {
				c = l
			}
			k++
		}
		b.WriteByte(c)
	}
	return b.String()
}

// unmixCase gives a reply that echoed the mixed-case question asked the
// name's own spelling back. Compression lets a server point any name of the
// reply into the question, so owner names and the names inside RFC 1035
// record data (the types servers compress, RFC 3597 4) may end with a
// suffix of our random spelling: each such suffix is respelled as in name,
// so that nothing cached or served carries our random case.
func unmixCase(resp *dns.Msg, asked, name string) {
	if asked == name {
		return
	}
	fix := func(s *string) {
		// The longest suffix of asked (at a label boundary) that *s ends
		// with, exactly as we spelled it.
		for off, end := 0, false; !end; off, end = dns.NextLabel(asked, off) {
			suf := asked[off:]
			if len(*s) >= len(suf) && (*s)[len(*s)-len(suf):] == suf {
				if cut := len(*s) - len(suf); cut == 0 || (*s)[cut-1] == '.' {
					*s = (*s)[:cut] + name[off:]
					return
				}
			}
		}
	}
	resp.Question[0].Name = name
	for _, sec := range [...][]dns.RR{resp.Answer, resp.Ns, resp.Extra} {
		for _, rr := range sec {
			fix(&rr.Header().Name)
			switch v := rr.(type) {
			case *dns.CNAME:
				fix(&v.Target)
			case *dns.DNAME:
				fix(&v.Target)
			case *dns.NS:
				fix(&v.Ns)
			case *dns.MX:
				fix(&v.Mx)
			case *dns.PTR:
				fix(&v.Ptr)
			case *dns.SOA:
				fix(&v.Ns)
				fix(&v.Mbox)
			case *dns.SRV:
				fix(&v.Target)
			}
		}
	}
}

// ids holds crypto/rand output for the next query ids: one read of the
// generator per 128 ids instead of one per id (each byte still used once).
var ids struct {
	mu   sync.Mutex
	buf  [256]byte
	next int
}

func init() { ids.next = len(ids.buf) }

// outQuery is an upstream query in one allocation: the message, its
// question and its OPT record (packing writes into the OPT, so each query
// has its own).
type outQuery struct {
	m     dns.Msg
	q     [1]dns.Question
	opt   dns.OPT
	extra [1]dns.RR
}

func newQuery(name string, qtype uint16, rd bool) *dns.Msg {
	o := &outQuery{}
	o.init(name, qtype, rd)
	return &o.m
}

func (o *outQuery) init(name string, qtype uint16, rd bool) {
	*o = outQuery{}
	o.m.Id = newID()
	o.m.RecursionDesired = rd
	o.q[0] = dns.Question{Name: name, Qtype: qtype, Qclass: dns.ClassINET}
	o.m.Question = o.q[:]
	o.opt.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: ednsBufSize}
	o.extra[0] = &o.opt
	o.m.Extra = o.extra[:]
}

// queryPool holds the upstream queries of exchanges through the default
// transport (udpPool), which keeps no reference to a query once the
// exchange returns. A Transport set in Config gets a new query each time:
// it may keep or modify what it is given.
var queryPool = sync.Pool{New: func() any { return new(outQuery) }}
