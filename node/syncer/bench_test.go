package syncer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// BenchmarkApply1M applies a revision whose zone holds 1,000,000 records
// while a DNS server answers from the served snapshot under a closed-loop
// query load (4 clients), and reports the apply time, the p99 query latency
// during the apply (and before it), and the heap the revision takes.
//
//	go test -run ^$ -bench Apply1M -benchtime 1x -timeout 30m ./node/syncer
func BenchmarkApply1M(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("GITOPS_BENCH_RECORDS"); s != "" {
		fmt.Sscan(s, &n)
	}
	repo := newTestRepo(b)
	bigZone := func(serial int, www string) string {
		var sb strings.Builder
		sb.Grow(n * 40)
		sb.WriteString(zone(serial, www))
		for i := 0; i < n; i++ {
			fmt.Fprintf(&sb, "h%07d IN A 198.18.%d.%d\n", i, (i>>8)&1, i&255)
		}
		return sb.String()
	}
	repo.write("zones/corp.internal.zone", bigZone(2026112101, "198.18.5.80"))
	repo.commit("1M records")
	g, _ := newTestGitOps(b, repo.dir, filepath.Join(b.TempDir(), "state"))
	g.cfg.Probes = false
	addr := serveDNS(b, g)

	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		b.Fatalf("first apply: %+v", a)
	}
	first := time.Since(t0)
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		repo.write("zones/corp.internal.zone", bigZone(2026112102+i, fmt.Sprintf("198.18.5.%d", 81+i%100)))
		id := repo.commit("change one record")
		type sample struct {
			at  time.Time
			lat time.Duration
		}
		var stop atomic.Bool
		var mu sync.Mutex
		var samples []sample
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				c := &dns.Client{Timeout: 2 * time.Second}
				var mine []sample
				for j := 0; !stop.Load(); j++ {
					m := new(dns.Msg)
					m.SetQuestion(fmt.Sprintf("h%07d.corp.internal.", (j*7919+w)%n), dns.TypeA)
					s := time.Now()
					if _, _, err := c.Exchange(m, addr); err != nil {
						mine = append(mine, sample{s, 2 * time.Second})
						continue
					}
					mine = append(mine, sample{s, time.Since(s)})
				}
				mu.Lock()
				samples = append(samples, mine...)
				mu.Unlock()
			}(w)
		}
		time.Sleep(time.Second) // baseline: the load alone
		s := time.Now()
		a := g.SyncOnce(bg)
		applyTime := time.Since(s)
		end := time.Now()
		stop.Store(true)
		wg.Wait()
		if a.Result != ResultApplied || served(g) != id {
			b.Fatalf("apply: %+v", a)
		}
		var base, during []time.Duration
		for _, x := range samples {
			if x.at.Before(s) {
				base = append(base, x.lat)
			} else if x.at.Before(end) {
				during = append(during, x.lat)
			}
		}
		pct := func(l []time.Duration, p int) float64 {
			if len(l) == 0 {
				return 0
			}
			slices.Sort(l)
			return float64(l[len(l)*p/100].Microseconds())
		}
		b.ReportMetric(pct(base, 99), "us-p99-query-idle")
		b.ReportMetric(pct(during, 99), "us-p99-query-during-apply")
		b.ReportMetric(pct(during, 50), "us-p50-query-during-apply")
		b.ReportMetric(float64(len(during)), "queries-during-apply")
		var lost int
		for _, l := range during {
			if l >= 2*time.Second {
				lost++
			}
		}
		b.ReportMetric(float64(lost), "queries-unanswered")
		b.ReportMetric(applyTime.Seconds(), "s/apply")
	}
	b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/(1<<20), "MiB-heap/revision")
	b.ReportMetric(first.Seconds(), "s/first-apply")
}
