package fastpath

import (
	"testing"

	"github.com/miekg/dns"
)

func TestCheckQuery(t *testing.T) {
	q := func(edit func(m *dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("www.corp.internal.", dns.TypeA)
		m.SetEdns0(1232, true)
		edit(m)
		return m
	}
	tests := []struct {
		name      string
		msg       *dns.Msg
		wantRcode int // -1: the query goes on to the chain
	}{
		{"plain", q(func(*dns.Msg) {}), -1},
		{"no EDNS", q(func(m *dns.Msg) { m.Extra = nil }), -1},
		{"no question", q(func(m *dns.Msg) { m.Question = nil }), dns.RcodeFormatError},
		{"two OPT in additional", q(func(m *dns.Msg) { m.Extra = append(m.Extra, m.Extra[0]) }), dns.RcodeFormatError},
		{"OPT in additional and answer", q(func(m *dns.Msg) { m.Answer = append(m.Answer, m.Extra[0]) }), dns.RcodeFormatError},
		{"EDNS version 1", q(func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }), dns.RcodeBadVers},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := checkQuery(tc.msg)
			if tc.wantRcode < 0 {
				if resp != nil {
					t.Fatalf("rejected with %v", resp)
				}
				return
			}
			if resp == nil || resp.Rcode != tc.wantRcode || !resp.Response || resp.Id != tc.msg.Id {
				t.Fatalf("got %v, want rcode %s", resp, dns.RcodeToString[tc.wantRcode])
			}
			b, err := resp.Pack()
			if err != nil {
				t.Fatal(err)
			}
			back := new(dns.Msg)
			if err := back.Unpack(b); err != nil || back.Rcode != tc.wantRcode {
				t.Fatalf("on the wire: %v %v", back, err)
			}
			if tc.wantRcode == dns.RcodeBadVers && back.IsEdns0().UDPSize() != advertisedUDPSize {
				t.Fatalf("BADVERS advertises %d", back.IsEdns0().UDPSize())
			}
		})
	}
}

func TestAcceptHeader(t *testing.T) {
	for opcode := 0; opcode < 16; opcode++ {
		dh := dns.Header{Bits: uint16(opcode) << 11, Qdcount: 1}
		want := dns.MsgRejectNotImplemented
		if opcode == dns.OpcodeQuery {
			want = dns.MsgAccept
		}
		if got := acceptHeader(dh); got != want {
			t.Errorf("opcode %d: %v, want %v", opcode, got, want)
		}
	}
	if got := acceptHeader(dns.Header{Bits: 1 << 15, Qdcount: 1}); got != dns.MsgIgnore {
		t.Errorf("a response: %v, want ignored", got)
	}
	if got := acceptHeader(dns.Header{Qdcount: 2}); got != dns.MsgReject {
		t.Errorf("two questions: %v, want FORMERR", got)
	}
}

// FuzzFrontDoor: whatever arrives, the front door's checks do not panic and
// every reply it builds packs.
func FuzzFrontDoor(f *testing.F) {
	m := new(dns.Msg)
	m.SetQuestion("www.corp.internal.", dns.TypeA)
	m.SetEdns0(1232, true)
	b, _ := m.Pack()
	f.Add(b)
	m.Extra = append(m.Extra, m.Extra[0])
	b, _ = m.Pack()
	f.Add(b)
	f.Add([]byte{0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		if len(pkt) < 12 {
			return
		}
		dh := wireHeader(pkt)
		var resp *dns.Msg
		switch acceptHeader(dh) {
		case dns.MsgIgnore:
			return
		case dns.MsgReject:
			resp = rejectMsg(dh, nil, dns.RcodeFormatError)
		case dns.MsgRejectNotImplemented:
			resp = rejectMsg(dh, nil, dns.RcodeNotImplemented)
		default:
			r := new(dns.Msg)
			if err := r.Unpack(pkt); err != nil {
				resp = rejectMsg(dh, r.Question, dns.RcodeFormatError)
			} else if resp = checkQuery(r); resp == nil {
				if len(r.Question) != 1 {
					t.Fatalf("a query with %d questions goes on to the chain", len(r.Question))
				}
				return
			}
		}
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("reply %v does not pack: %v", resp, err)
		}
	})
}
