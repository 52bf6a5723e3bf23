package syncer

import (
	"net/http/httptest"
	"testing"

	"github.com/gitops-dns/resolverd/node"
)

func TestCacheRequest(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  node.CacheFlush
		err   bool
	}{
		{"name=WWW.Example.com", node.CacheFlush{Name: "www.example.com."}, false},
		{"name=example.com.&subtree=1&type=aaaa", node.CacheFlush{Name: "example.com.", Subtree: true, Type: 28}, false},
		{"name=.&subtree=true", node.CacheFlush{Name: ".", Subtree: true}, false},
		{"", node.CacheFlush{}, true},
		{"name=a..b", node.CacheFlush{}, true},
		{"name=example.com&type=BOGUS", node.CacheFlush{}, true},
		{"name=example.com&subtree=yes", node.CacheFlush{}, true},
	} {
		got, err := cacheRequest(httptest.NewRequest("GET", "/cache?"+tc.query, nil))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%q: %+v, %v; want %+v, error %v", tc.query, got, err, tc.want, tc.err)
		}
	}
}
