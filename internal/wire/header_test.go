package wire

import (
	"testing"

	"github.com/miekg/dns"
)

// MsgHdr reads every field of the flags word as miekg's unpacking does.
func TestMsgHdr(t *testing.T) {
	all := dns.MsgHdr{Id: 0xbeef, Response: true, Opcode: dns.OpcodeNotify, Authoritative: true, Truncated: true,
		RecursionDesired: true, RecursionAvailable: true, Zero: true, AuthenticatedData: true, CheckingDisabled: true,
		Rcode: dns.RcodeRefused}
	for _, want := range []dns.MsgHdr{all, {Id: 1}, {Id: 2, RecursionDesired: true, Rcode: dns.RcodeNameError}} {
		m := &dns.Msg{MsgHdr: want}
		wire, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if got := MsgHdr(uint16(wire[0])<<8|uint16(wire[1]), uint16(wire[2])<<8|uint16(wire[3])); got != want {
			t.Errorf("MsgHdr = %+v, want %+v", got, want)
		}
	}
}
