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
