package dnssec

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestAncestorWithLabels(t *testing.T) {
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"a.b.example.", 0, "."},
		{"a.b.example.", 1, "example."},
		{"a.b.example.", 2, "b.example."},
		{"a.b.example.", 3, "a.b.example."},
		{"a.b.example.", 9, "a.b.example."},
		{"*.wild.example.", 2, "wild.example."},
		{`a\.b.c.example.`, 2, "c.example."},
		{`a\.b.c.example.`, 3, `a\.b.c.example.`},
		{".", 1, "."},
		{".", 0, "."},
	}
	for _, tc := range tests {
		if got := ancestorWithLabels(tc.name, tc.n); got != tc.want {
			t.Errorf("ancestorWithLabels(%q, %d) = %q, want %q", tc.name, tc.n, got, tc.want)
		}
	}
}

func TestIsSubdomain(t *testing.T) {
	for _, tc := range []struct {
		parent, child string
		want          bool
	}{
		{".", "example.", true},
		{".", ".", true},
		{"example.", ".", false},
		{"example.", "example.", true},
		{"example.", "EXAMPLE.", true},
		{"Example.", "a.b.eXample.", true},
		{"example.", "an-example.", false},
		{"b.example.", "a.b.example.", true},
		{"a.b.example.", "b.example.", false},
		{"wild.example.com.", "u0000001-abcdef12.WILD.example.COM.", true},
		{`b\.c.example.`, `a.b\.c.example.`, true},
		{"c.example.", `a.b\.c.example.`, false},
		{`c.example.`, `b\.c.example.`, false}, // one label, "b.c"
		{`\.c.example.`, `b\.c.example.`, false},
		{"example", "a.example", true},
		{"example.", "a.example", false}, // as dns.IsSubDomain: the last label keeps its dot
		{"\xc3\x89xample.", "\xc3\xa9xample.", false},
	} {
		if got := isSubdomain(tc.parent, tc.child); got != tc.want {
			t.Errorf("isSubdomain(%q, %q) = %v, want %v", tc.parent, tc.child, got, tc.want)
		}
		if ref := dns.IsSubDomain(tc.parent, tc.child); ref != tc.want {
			t.Errorf("dns.IsSubDomain(%q, %q) = %v: the case's want is not miekg's", tc.parent, tc.child, ref)
		}
	}
}

// The validator's isSubdomain allocates nothing for a name of a cold query.
func TestIsSubdomainAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		isSubdomain("wild.example.com.", "u0000001-abcdef12.wild.example.com.")
	}); n != 0 {
		t.Errorf("isSubdomain allocates %v times a call, want 0", n)
	}
}

// isSubdomain decides as dns.IsSubDomain for any pair of strings, names or
// not (beyond maxLabels labels it is dns.IsSubDomain).
func FuzzIsSubdomain(f *testing.F) {
	for _, s := range [][2]string{
		{"example.", "a.example."}, {".", "."}, {"", ""}, {"a..b.", "x.a..b."}, {`a\.`, `b.a\.`},
		{`\\.example.`, `x.\\.example.`}, {"..", "..."}, {"example.", "EXAMPLE."},
		{strings.Repeat("a.", 140), strings.Repeat("a.", 141)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, parent, child string) {
		want, panicked := func() (ok, panicked bool) {
			defer func() {
				if recover() != nil {
					panicked = true
				}
			}()
			return dns.IsSubDomain(parent, child), false
		}()
		if panicked {
			t.Skip("dns.IsSubDomain panics on this pair")
		}
		if got := isSubdomain(parent, child); got != want {
			t.Errorf("isSubdomain(%q, %q) = %v, dns.IsSubDomain says %v", parent, child, got, want)
		}
	})
}
