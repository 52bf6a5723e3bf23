package resolver

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// isSubDomain is dns.IsSubDomain(parent, child) for absolute names without
// its allocations (dns.Split of both names): child equals parent or ends
// with "." + parent at an unescaped label boundary, ASCII case ignored.
// Names that are not absolute go to dns.IsSubDomain.
func isSubDomain(parent, child string) bool {
	if !strings.HasSuffix(parent, ".") || !strings.HasSuffix(child, ".") {
		return dns.IsSubDomain(parent, child)
	}
	if parent == "." {
		return true
	}
	cut := len(child) - len(parent)
	if cut < 0 || !equalFold(child[cut:], parent) {
		return false
	}
	if cut == 0 {
		return true
	}
	if child[cut-1] != '.' {
		return false
	}
	// The dot must end a label, not be an escaped "\." inside one.
	slashes := 0
	for i := cut - 2; i >= 0 && child[i] == '\\'; i-- {
		slashes++
	}
	return slashes%2 == 0
}

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
	if ids.next == len(ids.buf) {
		_, _ = rand.Read(ids.buf[:]) // never fails (crypto/rand panics instead)
		ids.next = 0
	}
	id := binary.BigEndian.Uint16(ids.buf[ids.next:])
	ids.next += 2
	ids.mu.Unlock()
	return id
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
