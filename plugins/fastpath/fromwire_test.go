package fastpath

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/fastpath"
)

// fromWireCases are queries the fast path parses (or nearly does): each is
// built by miekg/dns and then patched on the wire.
func fromWireCases(t testing.TB) map[string][]byte {
	t.Helper()
	build := func(name string, qtype uint16, edit func(m *dns.Msg), wire func(b []byte) []byte) []byte {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		if edit != nil {
			edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		if wire != nil {
			b = wire(b)
		}
		return b
	}
	edns := func(size uint16, do bool) func(m *dns.Msg) {
		return func(m *dns.Msg) { m.SetEdns0(size, do) }
	}
	setBits := func(bits uint16) func(b []byte) []byte {
		return func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[2:], binary.BigEndian.Uint16(b[2:])|bits)
			return b
		}
	}
	return map[string][]byte{
		"plain":          build("www.example.com.", dns.TypeA, nil, nil),
		"root":           build(".", dns.TypeNS, nil, nil),
		"mixed case":     build("WwW.ExAmPle.COM.", dns.TypeAAAA, nil, nil),
		"escapes":        build(`a\.b\032c\000d.example.`, dns.TypeTXT, nil, nil),
		"edns":           build("www.example.com.", dns.TypeA, edns(1232, false), nil),
		"edns do":        build("www.example.com.", dns.TypeMX, edns(4096, true), nil),
		"edns small":     build("www.example.com.", dns.TypeA, edns(100, false), nil),
		"no rd":          build("www.example.com.", dns.TypeA, func(m *dns.Msg) { m.RecursionDesired = false }, nil),
		"cd ad z":        build("www.example.com.", dns.TypeA, nil, setBits(1<<4|1<<5|1<<6)),
		"ra aa":          build("www.example.com.", dns.TypeA, nil, setBits(1<<7|1<<10)),
		"rcode bits":     build("www.example.com.", dns.TypeA, nil, setBits(5)),
		"chaos":          build("version.bind.", dns.TypeTXT, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }, nil),
		"extended rcode": build("www.example.com.", dns.TypeA, edns(1232, false), func(b []byte) []byte { b[len(b)-6] = 0x12; return b }),
		"edns flags":     build("www.example.com.", dns.TypeA, edns(1232, true), func(b []byte) []byte { b[len(b)-3] |= 0x7f; b[len(b)-4] |= 0x01; return b }),
		"edns with option": build("www.example.com.", dns.TypeA, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = []dns.EDNS0{&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}}
		}, nil),
	}
}

// TestFromWireMatchesUnpack: the request the slow path builds from a
// parsed query is the one dns.Msg.Unpack builds, field for field.
func TestFromWireMatchesUnpack(t *testing.T) {
	for name, pkt := range fromWireCases(t) {
		t.Run(name, func(t *testing.T) {
			var q fastpath.Query
			if !q.Parse(pkt) {
				t.Fatalf("the fast path does not parse %x", pkt)
			}
			checkFromWire(t, pkt, &q, name != "edns with option")
		})
	}
}

func checkFromWire(t *testing.T, pkt []byte, q *fastpath.Query, wantBuilt bool) {
	t.Helper()
	want := new(dns.Msg)
	wantErr := want.Unpack(pkt)
	cl := &call{q: *q}
	dh := dns.Header{Id: binary.BigEndian.Uint16(pkt), Bits: binary.BigEndian.Uint16(pkt[2:])}
	built := cl.fromWire(pkt, dh)
	if built != wantBuilt {
		t.Fatalf("fromWire built %v, want %v", built, wantBuilt)
	}
	if !built {
		return
	}
	if wantErr != nil {
		t.Fatalf("fromWire built a request Unpack refuses: %v", wantErr)
	}
	if !reflect.DeepEqual(&cl.msg, want) {
		t.Fatalf("fromWire:\n%#v\n%v\nUnpack:\n%#v\n%v", &cl.msg, &cl.msg, want, want)
	}
}

// FuzzFromWire: for any datagram the fast path parses, fromWire either
// declines or builds exactly what Unpack builds.
func FuzzFromWire(f *testing.F) {
	for _, pkt := range fromWireCases(f) {
		f.Add(pkt)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var q fastpath.Query
		if !q.Parse(pkt) {
			return
		}
		want := new(dns.Msg)
		wantErr := want.Unpack(pkt)
		cl := &call{q: q}
		dh := dns.Header{Id: binary.BigEndian.Uint16(pkt), Bits: binary.BigEndian.Uint16(pkt[2:])}
		if !cl.fromWire(pkt, dh) {
			return
		}
		if wantErr != nil {
			t.Fatalf("fromWire built a request Unpack refuses: %v", wantErr)
		}
		if !reflect.DeepEqual(&cl.msg, want) {
			t.Fatalf("fromWire:\n%v\nUnpack:\n%v", &cl.msg, want)
		}
	})
}
