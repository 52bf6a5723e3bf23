package dnssec

import "testing"

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

// TestEqualNames: names are equal with ASCII case ignored (RFC 4343
// section 3), not folded beyond ASCII, and with or without the final dot;
// isStrictSubdomain excludes the name itself by the same rule.
func TestEqualNames(t *testing.T) {
	tests := []struct {
		a, b   string
		equal  bool
		strict bool // isStrictSubdomain(a, b)
	}{
		{"example.", "EXAMPLE.", true, false},
		{"example", "Example.", true, false},
		{"k.example.", "\u212a.example.", false, false}, // the Kelvin sign is not "k"
		{"example.", "\u212a.example.", false, true},
		{"example.", "www.example.", false, true},
		{"www.example.", "example.", false, false},
		{"ß.example.", "ss.example.", false, false},
	}
	for _, tc := range tests {
		if got := equalNames(tc.a, tc.b); got != tc.equal {
			t.Errorf("equalNames(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.equal)
		}
		if got := isStrictSubdomain(tc.a, tc.b); got != tc.strict {
			t.Errorf("isStrictSubdomain(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.strict)
		}
	}
}

// TestCanonicalKeepsOctets: canonical lowers ASCII letters only and keeps
// every other octet, UTF-8 or not (RFC 4034 section 6.2).
func TestCanonicalKeepsOctets(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"WWW.Example.COM", "www.example.com."},
		{"\xff\xfe.Example.", "\xff\xfe.example."},
		{"\u212a.example.", "\u212a.example."},
	} {
		if got := canonical(tc.in); got != tc.want {
			t.Errorf("canonical(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
