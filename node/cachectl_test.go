package node

import "testing"

func TestCacheFlushMatches(t *testing.T) {
	for _, tc := range []struct {
		f     CacheFlush
		name  string
		qtype uint16
		want  bool
	}{
		{CacheFlush{Name: "example.com."}, "example.com.", 1, true},
		{CacheFlush{Name: "example.com."}, "www.example.com.", 1, false},
		{CacheFlush{Name: "example.com.", Subtree: true}, "www.example.com.", 1, true},
		{CacheFlush{Name: "example.com.", Subtree: true}, "example.com.", 28, true},
		// A label boundary, not a string suffix.
		{CacheFlush{Name: "example.com.", Subtree: true}, "badexample.com.", 1, false},
		{CacheFlush{Name: ".", Subtree: true}, "anything.org.", 1, true},
		{CacheFlush{Name: "example.com.", Type: 28}, "example.com.", 1, false},
		{CacheFlush{Name: "example.com.", Type: 28}, "example.com.", 28, true},
		// A name error answers every type: a type flush drops it too.
		{CacheFlush{Name: "example.com.", Type: 28}, "example.com.", 0, true},
	} {
		if got := tc.f.Matches(tc.name, tc.qtype); got != tc.want {
			t.Errorf("%+v.Matches(%s, %d) = %v, want %v", tc.f, tc.name, tc.qtype, got, tc.want)
		}
	}
}
