package dnsname

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
	{"example.", "EXAMPLE.", true},
	{"wild.example.com.", "u0000001-abcdef12.WILD.example.COM.", true},
	{`b\.c.example.`, `a.b\.c.example.`, true},
	{"c.example.", `a.b\.c.example.`, false}, // one label, "b.c"
	{`\.c.example.`, `b\.c.example.`, false},
	{"example", "a.example", true},                // neither absolute: dns.IsSubDomain's answer
	{"example.", "a.example", false},              // as dns.IsSubDomain: the last label keeps its dot
	{"\xc3\x89xample.", "\xc3\xa9xample.", false}, // no fold beyond ASCII (RFC 4343)
	{"example.com", "www.example.com.", false},    // not absolute: as dns.IsSubDomain
}

// TestIsSubDomain: the allocation-free check agrees with dns.IsSubDomain.
func TestIsSubDomain(t *testing.T) {
	for _, tc := range subDomainCases {
		if got := IsSubDomain(tc.parent, tc.child); got != tc.want {
			t.Errorf("IsSubDomain(%q, %q) = %v, want %v", tc.parent, tc.child, got, tc.want)
		}
		if miekg := dns.IsSubDomain(tc.parent, tc.child); miekg != tc.want {
			t.Errorf("dns.IsSubDomain(%q, %q) = %v: the table is wrong", tc.parent, tc.child, miekg)
		}
	}
	if n := testing.AllocsPerRun(100, func() { IsSubDomain("example.com.", "a.b.www.example.com.") }); n != 0 {
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
		if got, want := IsSubDomain(parent, child), dns.IsSubDomain(parent, child); got != want {
			t.Fatalf("IsSubDomain(%q, %q) = %v, dns.IsSubDomain says %v", parent, child, got, want)
		}
	})
}

func TestEqualFold(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"Example.COM.", "example.com.", true},
		{"example.com.", "example.co.", false},
		{"a-z", "A-Z", true},
		{"@[", "`{", false}, // the octets beside the letters do not fold
		{"\xc3\x89", "\xc3\xa9", false},
		{"", "", true},
	} {
		if got := EqualFold(tc.a, tc.b); got != tc.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestLower(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Example.COM.", "example.com."},
		{"example.com.", "example.com."},
		{"@[`{AZ", "@[`{az"},                   // only the letters move
		{"\u212a.example.", "\u212a.example."}, // the Kelvin sign stays (strings.ToLower: "k.example.")
		{"\xc3\x89COLE.", "\xc3\x89cole."},     // É stays É
		{"\xff\xfeA", "\xff\xfea"},             // not UTF-8: octets as they are
		{"", ""},
	} {
		if got := Lower(tc.in); got != tc.want {
			t.Errorf("Lower(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Lower("already.lower.") }); n != 0 {
		t.Errorf("Lower of a lower-case name allocates %v times", n)
	}
}

// FuzzLower: Lower agrees with EqualFold (the result folds equal to the
// input), keeps the length and every octet that is not an upper-case ASCII
// letter, and leaves none of those.
func FuzzLower(f *testing.F) {
	f.Add("Example.COM.")
	f.Add("\u212a.example.")
	f.Fuzz(func(t *testing.T, s string) {
		l := Lower(s)
		if len(l) != len(s) || !EqualFold(l, s) {
			t.Fatalf("Lower(%q) = %q", s, l)
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if l[i] != c {
				t.Fatalf("Lower(%q)[%d] = %q, want %q", s, i, l[i], c)
			}
		}
	})
}
