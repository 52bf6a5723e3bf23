package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

// TestOneMore: the ancestor one label below the known zone.
func TestOneMore(t *testing.T) {
	for _, tc := range []struct{ qname, known, want string }{
		{"a.b.example.com.", "example.com.", "b.example.com."},
		{"a.b.example.com.", ".", "com."},
		{"b.example.com.", "example.com.", "b.example.com."},
		{"example.com.", "example.com.", "example.com."},
		{".", ".", "."},
		{"com.", ".", "com."},
	} {
		if got := oneMore(tc.qname, tc.known); got != tc.want {
			t.Errorf("oneMore(%q, %q) = %q, want %q", tc.qname, tc.known, got, tc.want)
		}
	}
}

// TestNewQuery: the one-allocation query packs to the same bytes as the
// message miekg/dns builds (RD as asked, EDNS0 with our buffer size), and
// ids differ between queries.
func TestNewQuery(t *testing.T) {
	for _, rd := range []bool{false, true} {
		got := newQuery("www.example.com.", dns.TypeAAAA, rd)
		want := new(dns.Msg)
		want.SetQuestion("www.example.com.", dns.TypeAAAA)
		want.RecursionDesired = rd
		want.SetEdns0(ednsBufSize, false)
		want.Id = got.Id
		gb, err := got.Pack()
		if err != nil {
			t.Fatal(err)
		}
		wb, _ := want.Pack()
		if string(gb) != string(wb) {
			t.Errorf("rd=%v: packed %x, want %x", rd, gb, wb)
		}
	}
	seen := map[uint16]bool{}
	for i := 0; i < 64; i++ {
		seen[newQuery("a.", dns.TypeA, false).Id] = true
	}
	if len(seen) < 32 {
		t.Errorf("64 queries used %d ids", len(seen))
	}
}
