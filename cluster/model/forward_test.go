package model

import "testing"

func TestSortForward(t *testing.T) {
	rules := []ForwardRule{{Zone: "."}, {Zone: "example."}, {Zone: "a.b.example."}, {Zone: "b.example."}}
	SortForward(rules)
	want := []string{"a.b.example.", "b.example.", "example.", "."}
	for i, w := range want {
		if rules[i].Zone != w {
			t.Fatalf("order %v", rules)
		}
	}
	if r := MatchForward(rules, "X.B.Example"); r == nil || r.Zone != "b.example." {
		t.Errorf("match = %v", r)
	}
}

func TestShortID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"3426a0ca2177c7f1e0d5b1a3f5e9c2d4b6a8e0f2", "3426a0ca2177"},
		{"3426a0ca2177", "3426a0ca2177"},
		{"3426a0c", "3426a0c"},
		{"", ""},
	} {
		if got := ShortID(tc.in); got != tc.want {
			t.Errorf("ShortID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
