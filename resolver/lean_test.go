package resolver

import (
	"context"
	"net"
	"testing"

	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
)

// leanCases are replies to "www.example.com. A" (or AAAA) and whether the
// lean decoder must take them (else Msg.Unpack does).
func leanCases(t testing.TB) []struct {
	name  string
	qtype uint16
	wire  []byte
	lean  bool
} {
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
	type tc = struct {
		name  string
		qtype uint16
		wire  []byte
		lean  bool
	}
	full := msg(dns.TypeA, dns.RcodeSuccess, answerA, authNS, glue, withOPT)
	return []tc{
		{"answer with NS, glue and OPT (NSD's shape)", dns.TypeA, full, true},
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
	if got.Ns != nil || got.Extra != nil {
		t.Fatalf("authority %v and additional %v decoded", got.Ns, got.Extra)
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
// reply shape (A answer, two NS, glue, OPT).
func BenchmarkUnpackReply(b *testing.B) {
	wire := leanCases(b)[0].wire
	q := newQuery("www.example.com.", dns.TypeA, false)
	b.Run("lean", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, ok := leanUnpack(wire, q); !ok {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("Msg.Unpack", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := new(dns.Msg).Unpack(wire); err != nil {
				b.Fatal(err)
			}
		}
	})
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
