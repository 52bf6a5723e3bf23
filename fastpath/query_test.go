package fastpath

import (
	"bytes"
	"testing"

	"github.com/miekg/dns"
)

func pack(t testing.TB, m *dns.Msg) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parsed is qm as the fast path parses it; the test stops if it does not.
func parsed(t testing.TB, qm *dns.Msg) Query {
	t.Helper()
	var q Query
	if !q.Parse(pack(t, qm)) {
		t.Fatalf("the fast path does not parse %v", qm)
	}
	return q
}

func query(name string, qtype uint16, edns bool, do bool) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if edns {
		m.SetEdns0(1232, do)
	}
	return m
}

func TestParse(t *testing.T) {
	withCookie := query("www.Corp.Internal.", dns.TypeA, true, false)
	withCookie.IsEdns0().Option = append(withCookie.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})
	notQuery := query("x.", dns.TypeA, false, false)
	notQuery.Opcode = dns.OpcodeNotify
	response := query("x.", dns.TypeA, false, false)
	response.Response = true
	twoQ := query("x.", dns.TypeA, false, false)
	twoQ.Question = append(twoQ.Question, twoQ.Question[0])
	v1 := query("x.", dns.TypeA, true, false)
	v1.IsEdns0().SetVersion(1)
	withAnswer := query("x.", dns.TypeA, false, false)
	withAnswer.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "x.", Rrtype: dns.TypeA, Class: dns.ClassINET}}}

	tests := []struct {
		name     string
		wire     []byte
		ok       bool
		qname    string // lower-case presentation form when ok
		edns, do bool
		size     uint16
	}{
		{"plain", pack(t, query("www.corp.internal.", dns.TypeA, false, false)), true, "www.corp.internal.", false, false, 0},
		{"case folded", pack(t, query("WwW.CoRp.InTeRnAl.", dns.TypeAAAA, false, false)), true, "www.corp.internal.", false, false, 0},
		{"edns do", pack(t, query("a.b.", dns.TypeTXT, true, true)), true, "a.b.", true, true, 1232},
		{"edns option ignored", pack(t, withCookie), true, "www.corp.internal.", true, false, 1232},
		{"root", pack(t, query(".", dns.TypeNS, false, false)), true, ".", false, false, 0},
		{"notify", pack(t, notQuery), false, "", false, false, 0},
		{"response", pack(t, response), false, "", false, false, 0},
		{"two questions", pack(t, twoQ), false, "", false, false, 0},
		{"edns version 1", pack(t, v1), false, "", false, false, 0},
		{"answer section", pack(t, withAnswer), false, "", false, false, 0},
		{"short", []byte{1, 2, 3}, false, "", false, false, 0},
		{"truncated name", pack(t, query("www.corp.internal.", dns.TypeA, false, false))[:20], false, "", false, false, 0},
		{"trailing garbage", append(pack(t, query("x.", dns.TypeA, false, false)), 0), false, "", false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Query
			if got := q.Parse(tt.wire); got != tt.ok {
				t.Fatalf("Parse = %v, want %v", got, tt.ok)
			}
			if !tt.ok {
				return
			}
			want, _ := wireName(tt.qname)
			if !bytes.Equal(q.Name(), []byte(want)) {
				t.Errorf("name %q, want %q", q.Name(), want)
			}
			if q.EDNS != tt.edns || q.DO != tt.do || q.UDPSize != tt.size {
				t.Errorf("edns=%v do=%v size=%d, want %v %v %d", q.EDNS, q.DO, q.UDPSize, tt.edns, tt.do, tt.size)
			}
		})
	}
}

// FuzzParse: Parse never panics or reads out of bounds, and whatever it
// accepts miekg/dns unpacks to the same question.
func FuzzParse(f *testing.F) {
	f.Add(pack(f, query("www.corp.internal.", dns.TypeA, false, false)))
	f.Add(pack(f, query("a.b.", dns.TypeTXT, true, true)))
	f.Add([]byte{0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 41, 2, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var q Query
		if !q.Parse(pkt) {
			return
		}
		m := new(dns.Msg)
		if err := m.Unpack(pkt); err != nil {
			// miekg is stricter about rdata of unknown OPT options; a
			// query it cannot unpack goes to the slow path anyway (which
			// answers FORMERR), so only check what both accept.
			return
		}
		if len(m.Question) != 1 || m.Question[0].Qtype != q.QType || m.Question[0].Qclass != q.QClass {
			t.Fatalf("question %v vs qtype %d class %d", m.Question, q.QType, q.QClass)
		}
		w, err := wireName(m.Question[0].Name)
		if err == nil && w != string(q.Name()) {
			t.Fatalf("name %q vs %q", q.Name(), w)
		}
		if (m.IsEdns0() != nil) != q.EDNS {
			t.Fatalf("edns %v vs %v", m.IsEdns0() != nil, q.EDNS)
		}
	})
}
