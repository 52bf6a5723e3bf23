package gitrepo

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkFetchChange is the fetch of a one-record change in a repo of
// 10 zone-like files of N lines (N = GITOPS_BENCH_RECORDS, default
// 20,000) over a local path, shallow, as the node fetches (issue 21).
func BenchmarkFetchChange(b *testing.B) {
	n := 20_000
	if s := os.Getenv("GITOPS_BENCH_RECORDS"); s != "" {
		fmt.Sscan(s, &n)
	}
	src := newSrcRepo(b)
	for i := range 10 {
		src.commit(fmt.Sprintf("zones/z%d.zone", i), bigZone(i, n, ""), nil)
	}
	r := Remote{URL: src.dir, Depth: 1, Timeout: time.Minute}
	s, err := OpenStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Fetch(bg, r, "master"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		h := src.commit("zones/z3.zone", bigZone(3, n, fmt.Sprintf("changed IN A 10.9.9.%d\n", i%256)), nil)
		b.StartTimer()
		got, err := s.Fetch(bg, r, "master")
		if err != nil || got != h {
			b.Fatalf("fetch: %v %v, want %v", got, err, h)
		}
	}
}
