package resolver

import (
	"testing"

	"github.com/miekg/dns"
)

var subDomainCases = []struct {
	parent, child string
	want          bool
}{
	{".", ".", true},
	{".", "com.", true},
	{"com.", ".", false},
	{"example.com.", "example.com.", true},
	{"example.com.", "www.example.com.", true},
	{"Example.COM.", "a.b.www.example.com.", true},
	{"example.com.", "wwwexample.com.", false},
	{"example.com.", "com.", false},
	{"example.com.", "www.example.net.", false},
	{"example.com.", `a\.example.com.`, false},
	{"example.com.", `a\\.example.com.`, true},
	{"example.com.", `a\046example.com.`, false},
	{"b.example.com.", `a.b.example.com.`, true},
	{"example.com", "www.example.com.", false}, // not absolute: as dns.IsSubDomain
}

// TestIsSubDomain: the allocation-free check agrees with dns.IsSubDomain.
func TestIsSubDomain(t *testing.T) {
	for _, tc := range subDomainCases {
		if got := isSubDomain(tc.parent, tc.child); got != tc.want {
			t.Errorf("isSubDomain(%q, %q) = %v, want %v", tc.parent, tc.child, got, tc.want)
		}
		if miekg := dns.IsSubDomain(tc.parent, tc.child); miekg != tc.want {
			t.Errorf("dns.IsSubDomain(%q, %q) = %v: the table is wrong", tc.parent, tc.child, miekg)
		}
	}
	if n := testing.AllocsPerRun(100, func() { isSubDomain("example.com.", "a.b.www.example.com.") }); n != 0 {
		t.Errorf("isSubDomain allocates %v times", n)
	}
}

func FuzzIsSubDomain(f *testing.F) {
	for _, tc := range subDomainCases {
		f.Add(tc.parent, tc.child)
	}
	f.Fuzz(func(t *testing.T, parent, child string) {
		if _, ok := dns.IsDomainName(parent); !ok {
			return
		}
		if _, ok := dns.IsDomainName(child); !ok {
			return
		}
		if got, want := isSubDomain(parent, child), dns.IsSubDomain(parent, child); got != want {
			t.Fatalf("isSubDomain(%q, %q) = %v, dns.IsSubDomain says %v", parent, child, got, want)
		}
	})
}

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
