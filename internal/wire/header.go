package wire

import "github.com/miekg/dns"

// The flags word: the second 16-bit word of a DNS header (RFC 1035 4.1.1; AD and CD: RFC
// 4035 3.2; Z must be zero): the bits the fast path, the resolver's lean
// response parser and the fast path plugin read and write without building
// a dns.Msg.
const (
	FlagQR     = 1 << 15
	OpcodeMask = 0xf << 11
	FlagAA     = 1 << 10
	FlagTC     = 1 << 9
	FlagRD     = 1 << 8
	FlagRA     = 1 << 7
	FlagZ      = 1 << 6
	FlagAD     = 1 << 5
	FlagCD     = 1 << 4
	RcodeMask  = 0xf
)

// MsgHdr is the dns.MsgHdr of a header with id and flags word bits.
func MsgHdr(id, bits uint16) dns.MsgHdr {
	return dns.MsgHdr{
		Id:                 id,
		Response:           bits&FlagQR != 0,
		Opcode:             int(bits&OpcodeMask) >> 11,
		Authoritative:      bits&FlagAA != 0,
		Truncated:          bits&FlagTC != 0,
		RecursionDesired:   bits&FlagRD != 0,
		RecursionAvailable: bits&FlagRA != 0,
		Zero:               bits&FlagZ != 0,
		AuthenticatedData:  bits&FlagAD != 0,
		CheckingDisabled:   bits&FlagCD != 0,
		Rcode:              int(bits & RcodeMask),
	}
}
