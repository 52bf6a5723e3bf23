package fastpath

import (
	"fmt"
	"testing"
	"time"

	"github.com/miekg/dns"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// response is what the chain would send for q: recursion available, the
// given rcode and records, an OPT when the query had one (with an EDE when
// ede is set).
func response(t testing.TB, q *dns.Msg, rcode int, ede bool, rrs ...string) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetReply(q)
	m.Rcode = rcode
	m.RecursionAvailable = true
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := rr.(*dns.SOA); ok {
			m.Ns = append(m.Ns, rr)
		} else {
			m.Answer = append(m.Answer, rr)
		}
	}
	if o := q.IsEdns0(); o != nil {
		m.SetEdns0(o.UDPSize(), o.Do())
		if ede {
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{InfoCode: dns.ExtendedErrorCodeStaleAnswer})
		}
	}
	return pack(t, m)
}

// admit stores resp as the second sighting of its question does (the
// first only passes the door keeper).
func admit(c *PacketCache, q *Query, resp []byte, gen uint64) bool {
	c.Store(q, resp, gen)
	return c.Store(q, resp, gen)
}

// TestDoorKeeper: a question's first answer is not kept, its second is.
func TestDoorKeeper(t *testing.T) {
	c := NewPacketCache(10)
	qm := query("once.example.", dns.TypeA, false, false)
	qm.RecursionDesired = true
	q := parsed(t, qm)
	resp := response(t, qm, dns.RcodeSuccess, false, "once.example. 300 IN A 192.0.2.1")
	if c.Store(&q, resp, c.Generation()) || c.Len() != 0 {
		t.Fatal("first sighting stored")
	}
	if !c.Store(&q, resp, c.Generation()) || c.Len() != 1 {
		t.Fatal("second sighting not stored")
	}
}

func TestPacketCache(t *testing.T) {
	clk := &clock{t: time.Unix(1e9, 0)}
	c := NewPacketCache(100)
	c.SetClock(clk.now)
	qm := query("Example.COM.", dns.TypeA, true, false)
	qm.RecursionDesired = true
	pkt := pack(t, qm)
	var q Query
	q.Parse(pkt)
	resp := response(t, qm, dns.RcodeSuccess, false, "example.com. 300 IN A 192.0.2.1", "example.com. 60 IN A 192.0.2.2")
	if !admit(c, &q, resp, c.Generation()) {
		t.Fatal("not stored")
	}
	buf := make([]byte, 4096)
	read := func(name string, id uint16) (*dns.Msg, bool) {
		m := query(name, dns.TypeA, true, false)
		m.RecursionDesired = true
		m.Id = id
		p := pack(t, m)
		var q Query
		q.Parse(p)
		n, _, ok := c.Write(buf, p, &q)
		if !ok {
			return nil, false
		}
		out := new(dns.Msg)
		if err := out.Unpack(buf[:n]); err != nil {
			t.Fatal(err)
		}
		return out, true
	}
	got, ok := read("example.com.", 7)
	if !ok || got.Id != 7 || got.Question[0].Name != "example.com." || len(got.Answer) != 2 || got.IsEdns0() == nil {
		t.Fatalf("hit: %v %v", ok, got)
	}
	clk.t = clk.t.Add(10*time.Second + 500*time.Millisecond)
	got, ok = read("EXAMPLE.com.", 8)
	if !ok || got.Answer[0].Header().Ttl != 290 || got.Answer[1].Header().Ttl != 50 {
		t.Fatalf("TTLs after 10.5 s: %v", got)
	}
	if got.Question[0].Name != "EXAMPLE.com." {
		t.Errorf("question case not the client's: %s", got.Question[0].Name)
	}
	clk.t = clk.t.Add(50 * time.Second) // past the 60 s record
	if _, ok := read("example.com.", 9); ok {
		t.Error("served past the smallest TTL")
	}
	// A new revision: nothing learnt before is served.
	clk.t = time.Unix(1e9, 0)
	admit(c, &q, resp, c.Generation())
	old := c.Generation()
	c.Purge()
	if _, ok := read("example.com.", 10); ok {
		t.Error("served after a purge")
	}
	c.Store(&q, resp, old) // past the door keeper, were the generation right
	if c.Store(&q, resp, old) {
		t.Error("stored a response learnt under the old generation")
	}
	if c.Len() != 0 {
		t.Errorf("len %d after purge", c.Len())
	}
}

func TestPacketCacheRefuses(t *testing.T) {
	qm := query("example.com.", dns.TypeA, true, false)
	qm.RecursionDesired = true
	q := parsed(t, qm)
	good := response(t, qm, dns.RcodeSuccess, false, "example.com. 300 IN A 192.0.2.1")
	mutate := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	tests := []struct {
		name string
		resp []byte
		ok   bool
	}{
		{"answer", good, true},
		{"nxdomain with soa", response(t, qm, dns.RcodeNameError, false, "com. 900 IN SOA a. b. 1 2 3 4 900"), true},
		{"stale (EDE)", response(t, qm, dns.RcodeSuccess, true, "example.com. 30 IN A 192.0.2.1"), false},
		{"servfail", response(t, qm, dns.RcodeServerFailure, false), false},
		{"refused", response(t, qm, dns.RcodeRefused, false), false},
		{"nodata without soa", response(t, qm, dns.RcodeSuccess, false), false},
		{"zero ttl", response(t, qm, dns.RcodeSuccess, false, "example.com. 0 IN A 192.0.2.1"), false},
		{"truncated", mutate(func(b []byte) { b[2] |= 0x02 }), false},
		{"no recursion available", mutate(func(b []byte) { b[3] &^= 0x80 }), false},
		{"other question", response(t, query("example.net.", dns.TypeA, true, false), dns.RcodeSuccess, false, "example.net. 300 IN A 192.0.2.1"), false},
		{"cut short", good[:len(good)-3], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewPacketCache(10)
			if got := admit(c, &q, tt.resp, c.Generation()); got != tt.ok {
				t.Errorf("Store = %v, want %v", got, tt.ok)
			}
		})
	}
}

func TestPacketCacheKeyFlags(t *testing.T) {
	c := NewPacketCache(10)
	qm := query("example.com.", dns.TypeA, true, false)
	qm.RecursionDesired = true
	q := parsed(t, qm)
	admit(c, &q, response(t, qm, dns.RcodeSuccess, false, "example.com. 300 IN A 192.0.2.1"), c.Generation())
	for _, tc := range []struct {
		name string
		mod  func(m *dns.Msg)
	}{
		{"cd", func(m *dns.Msg) { m.CheckingDisabled = true }},
		// RFC 6840 5.7: AD set by the client asks for AD in the reply, so
		// an entry learnt without it must not answer (nor the reverse).
		{"ad", func(m *dns.Msg) { m.AuthenticatedData = true }},
		{"do", func(m *dns.Msg) { m.IsEdns0().SetDo() }},
		{"no rd", func(m *dns.Msg) { m.RecursionDesired = false }},
		{"aaaa", func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }},
	} {
		m := query("example.com.", dns.TypeA, true, false)
		m.RecursionDesired = true
		tc.mod(m)
		p := pack(t, m)
		var q2 Query
		q2.Parse(p)
		if _, _, ok := c.Write(make([]byte, 4096), p, &q2); ok {
			t.Errorf("%s: answered from an entry learnt for other flags", tc.name)
		}
	}
}

func TestPacketCacheBounded(t *testing.T) {
	c := NewPacketCache(64)
	for i := 0; i < 10000; i++ {
		qm := query(fmt.Sprintf("n%d.test.", i), dns.TypeA, false, false)
		qm.RecursionDesired = true
		q := parsed(t, qm)
		admit(c, &q, response(t, qm, dns.RcodeSuccess, false, qm.Question[0].Name+" 300 IN A 192.0.2.1"), c.Generation())
	}
	if c.Len() > 64+pcShards {
		t.Errorf("%d entries, bound 64 (+1 per shard)", c.Len())
	}
}

func BenchmarkPacketCacheHit(b *testing.B) {
	c := NewPacketCache(1000)
	qm := query("www.example.com.", dns.TypeA, false, false)
	qm.RecursionDesired = true
	pkt := pack(b, qm)
	var q Query
	q.Parse(pkt)
	admit(c, &q, response(b, qm, dns.RcodeSuccess, false, "www.example.com. 300 IN A 192.0.2.1"), c.Generation())
	buf := make([]byte, 4096)
	b.ReportAllocs()
	for b.Loop() {
		if !q.Parse(pkt) {
			b.Fatal("parse")
		}
		if _, _, ok := c.Write(buf, pkt, &q); !ok {
			b.Fatal("miss")
		}
	}
}

// FuzzStore: the packet cache parses responses the chain produced, but
// they carry upstream data: it must never panic, and what it stores must
// replay.
func FuzzStore(f *testing.F) {
	qm := query("example.com.", dns.TypeA, true, false)
	qm.RecursionDesired = true
	f.Add(response(f, qm, dns.RcodeSuccess, false, "example.com. 300 IN A 192.0.2.1"))
	f.Add(response(f, qm, dns.RcodeNameError, false, "com. 900 IN SOA a. b. 1 2 3 4 900"))
	pkt := pack(f, qm)
	f.Fuzz(func(t *testing.T, resp []byte) {
		var q Query
		q.Parse(pkt)
		c := NewPacketCache(4)
		if !admit(c, &q, resp, c.Generation()) {
			return
		}
		if _, _, ok := c.Write(make([]byte, 65535), pkt, &q); !ok {
			t.Fatal("stored but not served")
		}
	})
}

// TestPacketCacheNeverKeepsMetaTypes: an answer to a meta or reserved
// question type is never kept, even a well-formed NOERROR a chain marked
// fresh (issue 13: a TYPE0 answer must never be served again).
func TestPacketCacheNeverKeepsMetaTypes(t *testing.T) {
	for _, qt := range []uint16{0, dns.TypeOPT, dns.TypeTKEY, dns.TypeTSIG, dns.TypeIXFR, dns.TypeAXFR, dns.TypeMAILB, dns.TypeMAILA, 200, 65535} {
		qm := query("example.com.", qt, true, false)
		qm.RecursionDesired = true
		q := parsed(t, qm)
		resp := response(t, qm, dns.RcodeNameError, false, "com. 900 IN SOA a. b. 1 2 3 4 900")
		c := NewPacketCache(10)
		if admit(c, &q, resp, c.Generation()) || c.Len() != 0 {
			t.Errorf("TYPE%d: answer kept", qt)
		}
	}
}

func TestKeyQuestion(t *testing.T) {
	for _, tc := range []struct {
		key  string
		name string
		typ  uint16
		ok   bool
	}{
		{"\x03www\x07example\x03com\x00\x00\x01\x00\x01\x01", "www.example.com.", 1, true},
		{"\x00\x00\x1c\x00\x01\x00", ".", 28, true},
		{"\x03a.b\x00\x00\x01\x00\x01\x00", `a\.b.`, 1, true},
		{"\x09www\x00\x00\x01\x00\x01\x00", "", 0, false}, // label runs past the name
		{"\x00\x01", "", 0, false},
	} {
		name, typ, ok := keyQuestion(tc.key)
		if name != tc.name || typ != tc.typ || ok != tc.ok {
			t.Errorf("keyQuestion(%q) = %q, %d, %v; want %q, %d, %v", tc.key, name, typ, ok, tc.name, tc.typ, tc.ok)
		}
	}
}
