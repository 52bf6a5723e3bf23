package syncer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkApplyMemory measures the memory of applies (issue 17): the
// steady heap serving N records, the peak while N -> 2N applies, the steady
// heap serving 2N, and the process's RSS 1 s and 5 s after a rejected
// revision of 2N records (memory must go back within seconds). The peak
// must stay within 2x the steady state of the larger revision.
//
//	GITOPS_BENCH_RECORDS=1000000 go test -run ^$ -bench ApplyMemory -benchtime 1x -timeout 30m ./node/syncer
func BenchmarkApplyMemory(b *testing.B) {
	n := 100_000
	if s := os.Getenv("GITOPS_BENCH_RECORDS"); s != "" {
		fmt.Sscan(s, &n)
	}
	bigZone := func(serial, records int, extra string) string {
		var sb strings.Builder
		sb.Grow(records * 40)
		sb.WriteString(zone(serial, "198.18.5.80"))
		for i := 0; i < records; i++ {
			fmt.Fprintf(&sb, "h%07d IN A 198.18.%d.%d\n", i, (i>>8)&1, i&255)
		}
		sb.WriteString(extra)
		return sb.String()
	}
	for i := 0; i < b.N; i++ {
		repo := newTestRepo(b)
		repo.write("zones/corp.internal.zone", bigZone(2026112101, n, ""))
		repo.commit("N records")
		g, _ := newTestGitOps(b, repo.dir, filepath.Join(b.TempDir(), "state"))
		g.cfg.Probes = false
		g.cfg.Remote.Timeout = 10 * time.Minute // the fetch of 2N records whole, on a busy machine
		if a := g.SyncOnce(bg); a.Result != ResultApplied {
			b.Fatalf("first apply: %+v", a)
		}
		steadyN := heapAfterGC()

		repo.write("zones/corp.internal.zone", bigZone(2026112102, 2*n, ""))
		repo.commit("2N records")
		runtime.GC()
		peak := watchPeak()
		if a := g.SyncOnce(bg); a.Result != ResultApplied {
			b.Fatalf("2N apply: %+v", a)
		}
		peakHeap := peak()
		steady2N := heapAfterGC()
		rss2N := rssBytes()

		repo.write("zones/corp.internal.zone", bigZone(2026112103, 2*n, "bad IN A 300.1.1.1\n"))
		repo.commit("2N records, one broken")
		if a := g.SyncOnce(bg); a.Result != ResultRejected {
			b.Fatalf("broken apply: %+v", a)
		}
		rejected := time.Now()
		time.Sleep(time.Until(rejected.Add(time.Second)))
		rss1s := rssBytes()
		time.Sleep(time.Until(rejected.Add(5 * time.Second)))
		rss5s := rssBytes()

		mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
		b.ReportMetric(mib(steadyN), "MiB-heap-steady-N")
		b.ReportMetric(mib(steady2N), "MiB-heap-steady-2N")
		b.ReportMetric(mib(peakHeap), "MiB-heap-peak-N-to-2N")
		b.ReportMetric(float64(peakHeap)/float64(steady2N), "peak/steady-2N")
		b.ReportMetric(mib(rss2N), "MiB-rss-serving-2N")
		b.ReportMetric(mib(rss1s), "MiB-rss-1s-after-reject")
		b.ReportMetric(mib(rss5s), "MiB-rss-5s-after-reject")
	}
}

// heapAfterGC is the live heap after a collection.
func heapAfterGC() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// watchPeak samples the heap's object bytes every 5 ms (runtime/metrics:
// no stop-the-world) until the returned function is called, which returns
// the largest sample.
func watchPeak() func() uint64 {
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(stop); <-done; return peak.Load() }
}

// rssBytes is the process's resident set (VmRSS), 0 when unknown.
func rssBytes() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
