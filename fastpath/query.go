package fastpath

import (
	"encoding/binary"

	"github.com/gitops-dns/resolverd/internal/wire"
)

const (
	headerLen   = 12
	maxNameWire = 255
	typeOPT     = 41
	classINET   = 1
	// minUDPSize is what a client without EDNS can receive (RFC 1035).
	minUDPSize = 512
)

// Query is a parsed query: only the shapes the fast path answers parse
// (one question, class IN or other, no records but an optional OPT of EDNS
// version 0, no compression in the question). Everything else is left to
// the slow path, which handles every case.
type Query struct {
	ID     uint16
	Flags  uint16
	QType  uint16
	QClass uint16
	// QEnd is the offset just past the question in the packet.
	QEnd int
	// EDNS is set when the query carries an OPT record; UDPSize and DO
	// are its fields.
	EDNS    bool
	DO      bool
	UDPSize uint16

	nameLen int
	labels  int               // labels of name, the root's excluded
	name    [maxNameWire]byte // lower-cased wire name
}

// Name is the lower-cased question name in wire format (labels with their
// length octets, ending with the root's zero octet). It aliases q.
func (q *Query) Name() []byte { return q.name[:q.nameLen] }

// RD reports whether the query asks for recursion.
func (q *Query) RD() bool { return q.Flags&wire.FlagRD != 0 }

// Parse reads pkt into q and reports whether the query is one the fast
// path may answer. It never reads past pkt and does not allocate.
func (q *Query) Parse(pkt []byte) bool {
	if len(pkt) < headerLen+5 {
		return false
	}
	q.ID = binary.BigEndian.Uint16(pkt)
	q.Flags = binary.BigEndian.Uint16(pkt[2:])
	if q.Flags&(wire.FlagQR|wire.OpcodeMask|wire.FlagTC) != 0 {
		return false
	}
	qd := binary.BigEndian.Uint16(pkt[4:])
	an := binary.BigEndian.Uint16(pkt[6:])
	ns := binary.BigEndian.Uint16(pkt[8:])
	ar := binary.BigEndian.Uint16(pkt[10:])
	if qd != 1 || an != 0 || ns != 0 || ar > 1 {
		return false
	}
	off := headerLen
	n, labels := 0, 0
	for {
		if off >= len(pkt) {
			return false
		}
		l := int(pkt[off])
		if l&0xc0 != 0 { // a pointer or an extended label type
			return false
		}
		if n+1+l > maxNameWire || off+1+l > len(pkt) {
			return false
		}
		q.name[n] = byte(l)
		n++
		off++
		if l == 0 {
			break
		}
		labels++
		for _, c := range pkt[off : off+l] {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			q.name[n] = c
			n++
		}
		off += l
	}
	q.nameLen, q.labels = n, labels
	if off+4 > len(pkt) {
		return false
	}
	q.QType = binary.BigEndian.Uint16(pkt[off:])
	q.QClass = binary.BigEndian.Uint16(pkt[off+2:])
	off += 4
	q.QEnd = off
	q.EDNS, q.DO, q.UDPSize = false, false, 0
	if ar == 0 {
		return off == len(pkt)
	}
	// The OPT record: root owner, type 41, class = UDP size, TTL = extended
	// rcode, version, flags; then options, which the fast path ignores as
	// the chain does (no option is supported).
	if off+11 > len(pkt) || pkt[off] != 0 || binary.BigEndian.Uint16(pkt[off+1:]) != typeOPT {
		return false
	}
	if pkt[off+6] != 0 { // EDNS version: BADVERS is the slow path's job
		return false
	}
	rdlen := int(binary.BigEndian.Uint16(pkt[off+9:]))
	if off+11+rdlen != len(pkt) {
		return false
	}
	q.EDNS = true
	q.UDPSize = binary.BigEndian.Uint16(pkt[off+3:])
	q.DO = pkt[off+7]&0x80 != 0
	return true
}

// limit is the largest response the client can receive over UDP.
func (q *Query) limit() int {
	if !q.EDNS || q.UDPSize < minUDPSize {
		return minUDPSize
	}
	return int(q.UDPSize)
}

// writeResponse writes a response to q into dst: the query's id and
// question (as the client spelled it), flags and counts given, the body
// (answer, authority and additional records, compressed against a question
// at offset 12), and an OPT record when the query had one: the client's
// UDP size echoed, version 0, DO copied, no options — what the chain's
// SizeAndDo writes. It returns false when the response would not fit the
// client's limit or dst.
func writeResponse(dst, pkt []byte, q *Query, flags uint16, counts [3]uint16, body []byte) (int, bool) {
	size := q.QEnd + len(body)
	ar := counts[2]
	if q.EDNS {
		size += 11
		ar++
	}
	if size > q.limit() || size > len(dst) {
		return 0, false
	}
	dst = dst[:size]
	copy(dst, pkt[:2]) // id
	binary.BigEndian.PutUint16(dst[2:], flags|q.Flags&(wire.FlagRD|wire.FlagCD))
	binary.BigEndian.PutUint16(dst[4:], 1)
	binary.BigEndian.PutUint16(dst[6:], counts[0])
	binary.BigEndian.PutUint16(dst[8:], counts[1])
	binary.BigEndian.PutUint16(dst[10:], ar)
	copy(dst[headerLen:], pkt[headerLen:q.QEnd])
	n := q.QEnd + copy(dst[q.QEnd:], body)
	if q.EDNS {
		o := dst[n:]
		o[0] = 0
		binary.BigEndian.PutUint16(o[1:], typeOPT)
		binary.BigEndian.PutUint16(o[3:], q.UDPSize)
		o[5], o[6] = 0, 0 // extended rcode, version
		o[7] = 0
		if q.DO {
			o[7] = 0x80
		}
		o[8] = 0
		o[9], o[10] = 0, 0
		n += 11
	}
	return n, true
}
