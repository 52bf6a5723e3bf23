package resolver

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// leanCase is a reply to "www.example.com." and whether the lean decoder
// must take it.
type leanCase struct {
	name  string
	qtype uint16
	wire  []byte
	lean  bool
}

// leanCases are replies to "www.example.com. A" (or AAAA) and whether the
// lean decoder must take them (else Msg.Unpack does).
func leanCases(t testing.TB) []leanCase {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	msg := func(qtype uint16, rcode int, ans, ns, extra []string, edit func(*dns.Msg)) []byte {
		m := new(dns.Msg)
		m.SetQuestion("www.example.com.", qtype)
		m.Id = 4242
		m.Response, m.Authoritative, m.Rcode = true, true, rcode
		for _, s := range ans {
			m.Answer = append(m.Answer, rr(s))
		}
		for _, s := range ns {
			m.Ns = append(m.Ns, rr(s))
		}
		for _, s := range extra {
			m.Extra = append(m.Extra, rr(s))
		}
		if edit != nil {
			edit(m)
		}
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	withOPT := func(m *dns.Msg) { m.SetEdns0(1232, false) }
	authNS := []string{"example.com. 3600 NS ns1.example.com.", "example.com. 3600 NS ns2.example.com."}
	glue := []string{"ns1.example.com. 3600 A 192.0.2.53", "ns2.example.com. 3600 AAAA 2001:db8::53"}
	answerA := []string{"www.example.com. 300 A 192.0.2.1"}
	type tc = leanCase
	full := msg(dns.TypeA, dns.RcodeSuccess, answerA, authNS, glue, withOPT)
	// A signed wildcard answer as NSD gives it with DO: the answer and
	// its RRSIG, the NSEC3 that proves no closer match and its RRSIG, the
	// zone's NS set and its RRSIG, glue and its RRSIG, the OPT.
	sig := func(owner, covered string, labels int, signature string) string {
		return owner + " 300 RRSIG " + covered + " 13 " + fmt.Sprint(labels) + " 300 20270106210917 20261028210917 59197 example.com. " + signature
	}
	p256 := "efGR1/hpSKQGiGRVeNUah+kg4NHdMLpB98OYd01rJ1XH3I9VGEFm/wpdnZRWXbloa9yDi+PvsqKt2e21uYx0XA=="
	rsa := strings.Repeat("AwEAAc", 56) + "AA=="
	nsec3 := "mm0fn5h2v003eerq50hno3lthgtvo745.example.com. 300 NSEC3 1 0 0 - RK68O5CR2SNAMIEAV02HO8QC8MMSBR3K CNAME RRSIG"
	signedAns := []string{"www.example.com. 300 A 192.0.2.1", sig("www.example.com.", "A", 2, p256)}
	signedNs := []string{nsec3, sig("mm0fn5h2v003eerq50hno3lthgtvo745.example.com.", "NSEC3", 3, p256), "example.com. 300 NS ns1.example.com.", sig("example.com.", "NS", 2, p256)}
	signedGlue := []string{"ns1.example.com. 300 A 192.0.2.53", sig("ns1.example.com.", "A", 3, p256)}
	withDO := func(m *dns.Msg) { m.SetEdns0(1232, true) }
	return []tc{
		{"answer with NS, glue and OPT (NSD's shape)", dns.TypeA, full, true},
		{"signed wildcard answer with its NSEC3 proof (NSD's shape with DO)", dns.TypeA, msg(dns.TypeA, 0, signedAns, signedNs, signedGlue, withDO), true},
		{"signed answer, NSEC proof, RSA signatures (longer than 64 octets)", dns.TypeA, msg(dns.TypeA, 0, []string{"www.example.com. 300 A 192.0.2.1", sig("www.example.com.", "A", 2, rsa)},
			[]string{"example.com. 300 NSEC zzz.example.com. A NS SOA RRSIG NSEC DNSKEY", sig("example.com.", "NSEC", 2, rsa), "example.com. 300 SOA ns1.example.com. h.example.com. 1 2 3 4 5", sig("EXAMPLE.com.", "SOA", 2, rsa)}, nil, withDO), true},
		{"signed answer, NS set and its RRSIG only", dns.TypeA, msg(dns.TypeA, 0, signedAns, signedNs[2:], nil, withDO), true},
		{"RRSIG without a signature", dns.TypeA, msg(dns.TypeA, 0, []string{"www.example.com. 300 A 192.0.2.1", sig("www.example.com.", "A", 2, "")}, signedNs[:2], nil, nil), true},
		{"RRSIG whose signer is compressed", dns.TypeA, msg(dns.TypeA, 0, signedAns, signedNs, nil, func(m *dns.Msg) { m.Compress = true }), true},
		{"RRSIG cut before its signer ends", dns.TypeA, func() []byte {
			b := msg(dns.TypeA, 0, []string{"www.example.com. 300 A 192.0.2.1"}, nil, []string{sig("x.example.com.", "A", 3, "")}, nil)
			// The last record's RDATA: 18 octets of fields and the
			// signer (13 octets). Cut the RDATA, and the message, 8
			// octets into the signer.
			rd := len(b) - 31
			binary.BigEndian.PutUint16(b[rd-2:], 18+8)
			return b[:rd+18+8]
		}(), false},
		{"DNSKEY in authority (not checked)", dns.TypeA, msg(dns.TypeA, 0, signedAns, []string{"example.com. 300 DNSKEY 257 3 13 " + p256}, nil, nil), false},
		{"NSEC3 cut short in authority", dns.TypeA, func() []byte {
			b := msg(dns.TypeA, 0, signedAns, signedNs[:1], nil, nil)
			return b[:len(b)-2]
		}(), false},

		{"two A records", dns.TypeA, msg(dns.TypeA, 0, []string{"www.example.com. 300 A 192.0.2.1", "www.example.com. 300 A 192.0.2.2"}, nil, nil, nil), true},
		{"owner in other case (0x20)", dns.TypeA, msg(dns.TypeA, 0, []string{"WwW.Example.COM. 300 A 192.0.2.1"}, nil, nil, nil), true},
		{"AAAA answer", dns.TypeAAAA, msg(dns.TypeAAAA, 0, []string{"www.example.com. 300 AAAA 2001:db8::1"}, authNS, nil, withOPT), true},
		{"CNAME then the answer", dns.TypeA, msg(dns.TypeA, 0, []string{"www.example.com. 300 CNAME web.example.com.", "web.example.com. 300 A 192.0.2.1", "www.example.com. 300 A 192.0.2.9"}, nil, nil, nil), true},
		{"negative SOA in authority", dns.TypeA, msg(dns.TypeA, 0, answerA, []string{"example.com. 300 SOA ns1.example.com. h.example.com. 1 2 3 4 5"}, nil, nil), true},
		{"truncated", dns.TypeA, msg(dns.TypeA, 0, answerA, nil, nil, func(m *dns.Msg) { m.Truncated = true }), true},
		{"A record without data", dns.TypeA, msg(dns.TypeA, 0, answerA, nil, []string{"x.example.com. 300 A 192.0.2.7"}, func(m *dns.Msg) { m.Extra[0] = &dns.A{Hdr: m.Extra[0].(*dns.A).Hdr} }), true},

		{"referral", dns.TypeA, msg(dns.TypeA, 0, nil, authNS, glue, withOPT), false},
		{"NXDOMAIN", dns.TypeA, msg(dns.TypeA, dns.RcodeNameError, nil, []string{"example.com. 300 SOA ns1.example.com. h.example.com. 1 2 3 4 5"}, nil, nil), false},
		{"answer with rcode SERVFAIL", dns.TypeA, msg(dns.TypeA, dns.RcodeServerFailure, answerA, nil, nil, nil), false},
		{"answer with an extended rcode in the OPT", dns.TypeA, msg(dns.TypeA, 0, answerA, nil, nil, func(m *dns.Msg) { m.SetEdns0(1232, false); m.Rcode = dns.RcodeBadVers }), false},
		{"CNAME only", dns.TypeA, msg(dns.TypeA, 0, []string{"www.example.com. 300 CNAME other.net."}, nil, nil, nil), false},
		{"another name's A only", dns.TypeA, msg(dns.TypeA, 0, []string{"web.example.com. 300 A 192.0.2.1"}, nil, nil, nil), false},
		{"answer of class CH", dns.TypeA, msg(dns.TypeA, 0, []string{"www.example.com. 300 CH A 192.0.2.1"}, nil, nil, nil), false},
		{"MX in additional (not checked)", dns.TypeA, msg(dns.TypeA, 0, answerA, nil, []string{"example.com. 300 MX 10 mx.example.com."}, nil), false},
		{"OPT with an option", dns.TypeA, msg(dns.TypeA, 0, answerA, nil, nil, func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_EDE{InfoCode: 3})
		}), false},
		{"escaped byte in a name", dns.TypeA, msg(dns.TypeA, 0, []string{`w\.w.example.com. 300 A 192.0.2.1`, "www.example.com. 300 A 192.0.2.1"}, nil, nil, nil), false},
		{"authority count beyond the data", dns.TypeA, func() []byte {
			b := msg(dns.TypeA, 0, answerA, nil, nil, nil)
			b[9] = 2
			return b
		}(), false},
		{"cut inside the additional section", dns.TypeA, full[:len(full)-3], false},
		{"two questions", dns.TypeA, msg(dns.TypeA, 0, answerA, nil, nil, func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), false},
		{"header only", dns.TypeA, full[:12], false},
	}
}

func TestLeanUnpack(t *testing.T) {
	for _, tc := range leanCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			q := newQuery("www.example.com.", tc.qtype, false)
			got, ok := leanUnpack(tc.wire, q)
			if ok != tc.lean {
				t.Fatalf("lean decoding: %v, want %v", ok, tc.lean)
			}
			if ok {
				sameAsUnpack(t, tc.wire, q, got)
			}
		})
	}
}

// sameAsUnpack fails unless got is what Msg.Unpack makes of wire, Ns and
// Extra left out, and answers q.
func sameAsUnpack(t testing.TB, wire []byte, q, got *dns.Msg) {
	t.Helper()
	want := new(dns.Msg)
	if err := want.Unpack(wire); err != nil {
		t.Fatalf("lean decoding took a message Msg.Unpack rejects: %v", err)
	}
	if got.MsgHdr != want.MsgHdr {
		t.Fatalf("header %+v, Msg.Unpack %+v", got.MsgHdr, want.MsgHdr)
	}
	if want.Rcode != dns.RcodeSuccess {
		t.Fatalf("rcode %d taken", want.Rcode)
	}
	if len(got.Question) != 1 || len(want.Question) != 1 || got.Question[0] != want.Question[0] {
		t.Fatalf("question %v, Msg.Unpack %v", got.Question, want.Question)
	}
	if len(got.Answer) != len(want.Answer) {
		t.Fatalf("%d answers, Msg.Unpack %d", len(got.Answer), len(want.Answer))
	}
	answered := false
	for i := range got.Answer {
		g, w := got.Answer[i], want.Answer[i]
		if *g.Header() != *w.Header() || g.String() != w.String() {
			t.Fatalf("answer %d: %v, Msg.Unpack %v", i, g, w)
		}
		h := w.Header()
		if h.Rrtype == q.Question[0].Qtype && h.Class == dns.ClassINET && dnsname.EqualFold(h.Name, q.Question[0].Name) {
			answered = true
		}
	}
	if !answered {
		t.Fatal("taken without an answer to the question")
	}
	if got.Extra != nil {
		t.Fatalf("additional %v decoded", got.Extra)
	}
	// The authority: nil, or with DNSSEC records in it what the validator
	// reads of it, as Msg.Unpack decodes it.
	var denial []dns.RR
	signed := false
	for _, rr := range want.Ns {
		switch x := rr.(type) {
		case *dns.RRSIG:
			signed = true
			if denialType(x.TypeCovered) {
				denial = append(denial, rr)
			}
		case *dns.NSEC, *dns.NSEC3:
			signed = true
			denial = append(denial, rr)
		case *dns.SOA:
			denial = append(denial, rr)
		}
	}
	if !signed {
		if got.Ns != nil {
			t.Fatalf("authority %v decoded", got.Ns)
		}
		return
	}
	if len(got.Ns) != len(denial) {
		t.Fatalf("authority %v, want %v of Msg.Unpack's", got.Ns, denial)
	}
	for i := range denial {
		if *got.Ns[i].Header() != *denial[i].Header() || got.Ns[i].String() != denial[i].String() {
			t.Fatalf("authority record %d: %v, Msg.Unpack %v", i, got.Ns[i], denial[i])
		}
	}
}

// FuzzLeanUnpack: whatever the lean decoder takes, Msg.Unpack takes too and
// decodes to the same header, question and answer section, which answers
// the question.
func FuzzLeanUnpack(f *testing.F) {
	for _, tc := range leanCases(f) {
		f.Add(tc.wire, tc.qtype == dns.TypeAAAA)
	}
	f.Fuzz(func(t *testing.T, wire []byte, aaaa bool) {
		qtype := dns.TypeA
		if aaaa {
			qtype = dns.TypeAAAA
		}
		q := newQuery("www.example.com.", qtype, false)
		if got, ok := leanUnpack(wire, q); ok {
			sameAsUnpack(t, wire, q, got)
		}
	})
}

// BenchmarkUnpackReply compares the lean decoder with Msg.Unpack on NSD's
// reply shapes: an A answer with two NS, glue and an OPT; and a signed
// wildcard answer with its NSEC3 proof (W3's, when validating).
func BenchmarkUnpackReply(b *testing.B) {
	cases := leanCases(b)
	for _, shape := range []struct{ name, reply string }{
		{"unsigned", "answer with NS, glue and OPT (NSD's shape)"},
		{"signed", "signed wildcard answer with its NSEC3 proof (NSD's shape with DO)"},
	} {
		i := slices.IndexFunc(cases, func(c leanCase) bool { return c.name == shape.reply })
		if i < 0 {
			b.Fatalf("no case %q", shape.reply)
		}
		wire := cases[i].wire
		q := newQuery("www.example.com.", dns.TypeA, false)
		b.Run(shape.name+"/lean", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := leanUnpack(wire, q); !ok {
					b.Fatal("not taken")
				}
			}
		})
		b.Run(shape.name+"/Msg.Unpack", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := new(dns.Msg).Unpack(wire); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLeanRepliesOwnedByCaller: through the default transport (real UDP
// sockets) an answer taken by the lean decoder is cached, and a caller that
// modifies its reply in place (address bytes, header) changes neither the
// cache nor a later reply.
func TestLeanRepliesOwnedByCaller(t *testing.T) {
	rs := startResponder(t, false, func(rs *responder, q *dns.Msg, from net.Addr) {
		r := new(dns.Msg)
		r.SetReply(q)
		r.Authoritative = true
		qn := q.Question[0].Name
		if q.Question[0].Qtype == dns.TypeA {
			r.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: qn, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(192, 0, 2, 1).To4()}}
		}
		r.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 300}, Ns: "a.root.test."}}
		r.Extra = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "a.root.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.IPv4(127, 0, 0, 1).To4()}}
		r.SetEdns0(1232, false)
		rs.send(r, from)
	})
	hints := mustRRs(t, ".", ". NS a.root.test.\na.root.test. A "+rs.addr.Addr().String())
	r, err := New(Config{RootHints: hints, Port: rs.addr.Port(), HealthInterval: -1, DisableIPv6: true, QueryLocalhost: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	q := dns.Question{Name: "www.example.com.", Qtype: dns.TypeA, Qclass: dns.ClassINET}
	for i := 0; i < 3; i++ {
		m, err := r.Resolve(context.Background(), q)
		if err != nil || len(m.Answer) != 1 {
			t.Fatalf("round %d: %v %v", i, err, m)
		}
		a := m.Answer[0].(*dns.A)
		if !a.A.Equal(net.IPv4(192, 0, 2, 1)) || a.Hdr.Name != q.Name {
			t.Fatalf("round %d: %v, want www.example.com. A 192.0.2.1 (an earlier caller's change showed)", i, a)
		}
		a.A[0], a.A[3] = 6, 6
		a.Hdr.Name = "evil.test."
	}
	if n := len(rs.sourcePorts()); n != 3 {
		t.Fatalf("%d upstream queries, want 3 (com., example.com., the name) and then the cache", n)
	}
}
