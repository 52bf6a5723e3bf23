package gitops

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
)

// BenchmarkPropagation measures, on a 3-node cluster (three CoreDNS server
// blocks on 127.0.0.1-3, each with its own gitops and state dir, fetching
// from a real git daemon), the time from a commit on the remote to every
// node answering version.config. with it: on-demand (POST /sync to every
// node, as a merge webhook would) and by polling (1s interval).
//
//	go test -run ^$ -bench Propagation -benchtime 10x ./plugins/gitops
func BenchmarkPropagation(b *testing.B) {
	for _, mode := range []string{"on-demand", "poll-1s"} {
		b.Run(mode, func(b *testing.B) {
			repo := newBenchRepo(b)
			repo.write("clusters/dev.yaml", "name: dev\nenvironment: staging\ntrack: refs/heads/main\nnodes:\n"+
				"  - {name: n1, address: 127.0.0.1}\n  - {name: n2, address: 127.0.0.2}\n  - {name: n3, address: 127.0.0.3}\n"+
				"recursion:\n  allow: [127.0.0.0/8]\n")
			repo.commit("three nodes")
			daemon := gittest.StartDaemon(b, filepath.Dir(repo.dir))
			token := filepath.Join(b.TempDir(), "token")
			os.WriteFile(token, []byte("t0k\n"), 0o600)
			poll := "1s"
			if mode == "on-demand" {
				poll = "1h"
			}
			var corefile strings.Builder
			var dnsAddrs, httpAddrs []string
			for i := 1; i <= 3; i++ {
				dport, hport := freeUDPPort(b), freeUDPPort(b)
				ip := fmt.Sprintf("127.0.0.%d", i)
				dnsAddrs = append(dnsAddrs, fmt.Sprintf("%s:%d", ip, dport))
				httpAddrs = append(httpAddrs, fmt.Sprintf("127.0.0.1:%d", hport))
				fmt.Fprintf(&corefile, `.:%d {
    bind %s
    gitops %s {
        ref master
        path %s
        cluster dev
        node n%d
        poll %s
        state %s
        probes off
        http 127.0.0.1:%d
        sync_token_file %s
    }
}
`, dport, ip, daemon.URL(filepath.Base(repo.dir)), cfgPath, i, poll, filepath.Join(b.TempDir(), "state"), hport, token)
			}
			inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile.String()), ServerTypeName: "dns"})
			if err != nil {
				b.Fatal(err)
			}
			defer stopInstance(inst)
			head := repo.head()
			waitAll(b, dnsAddrs, head, 30*time.Second)

			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if mode != "on-demand" {
					// Commit at a random phase of the nodes' poll cycles.
					b.StopTimer()
					time.Sleep(time.Duration(rand.Int64N(int64(time.Second))))
					b.StartTimer()
				}
				repo.write("zones/corp.internal.zone", zone(2026112200+i, fmt.Sprintf("198.18.5.%d", 100+i%100)))
				id := repo.commit(fmt.Sprintf("change %d", i))
				start := time.Now()
				if mode == "on-demand" {
					var wg sync.WaitGroup
					for _, h := range httpAddrs {
						wg.Add(1)
						go func() {
							defer wg.Done()
							req, _ := http.NewRequest("POST", "http://"+h+"/sync", nil)
							req.Header.Set("Authorization", "Bearer t0k")
							if resp, err := http.DefaultClient.Do(req); err == nil {
								resp.Body.Close()
							}
						}()
					}
					// Measured until the answers change, not until POSTs return.
					waitAll(b, dnsAddrs, id, 30*time.Second)
					total += time.Since(start)
					wg.Wait()
					continue
				}
				waitAll(b, dnsAddrs, id, 30*time.Second)
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/propagation")
		})
	}
}

// waitAll queries every node's version.config. until all answer id.
func waitAll(b *testing.B, addrs []string, id string, limit time.Duration) {
	deadline := time.Now().Add(limit)
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion("version.config.", dns.TypeTXT)
	m.Question[0].Qclass = dns.ClassCHAOS
	pending := slices.Clone(addrs)
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			b.Fatalf("nodes %v do not serve %s after %s", pending, id, limit)
		}
		a := pending[0]
		r, _, err := c.Exchange(m, a)
		if err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.TXT).Txt[0] == id {
			pending = pending[1:]
			continue
		}
		time.Sleep(time.Millisecond)
	}
}

// benchRepo is testRepo for benchmarks.
type benchRepo struct{ *testRepo }

func newBenchRepo(b *testing.B) benchRepo { return benchRepo{newTestRepo(b)} }

func (r benchRepo) head() string {
	ref, err := r.repo.Head()
	if err != nil {
		panic(err)
	}
	return ref.Hash().String()
}

// BenchmarkApply1M applies a revision whose zone holds 1,000,000 records
// while a DNS server answers from the served snapshot under a closed-loop
// query load (4 clients), and reports the apply time, the p99 query latency
// during the apply (and before it), and the heap the revision takes.
//
//	go test -run ^$ -bench Apply1M -benchtime 1x -timeout 30m ./plugins/gitops
func BenchmarkApply1M(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("GITOPS_BENCH_RECORDS"); s != "" {
		fmt.Sscan(s, &n)
	}
	repo := newBenchRepo(b)
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

// BenchmarkServeDNS measures the work gitops adds to every query: an IN
// query passed to the next plugin, and the version.config. CH TXT answer.
//
//	go test -run ^$ -bench ServeDNS ./plugins/gitops
func BenchmarkServeDNS(b *testing.B) {
	g, _ := New(Config{Node: "ns1"})
	g.Next = plugin.HandlerFunc(func(context.Context, dns.ResponseWriter, *dns.Msg) (int, error) {
		return dns.RcodeSuccess, nil
	})
	g.holder.Store(&node.Snapshot{Revision: &model.Revision{ID: strings.Repeat("0123456789", 4)}})
	for _, bc := range []struct {
		name  string
		qname string
		class uint16
	}{
		{"pass-IN", "www.corp.internal.", dns.ClassINET},
		{"version-CH", "version.config.", dns.ClassCHAOS},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m := new(dns.Msg)
			m.SetQuestion(bc.qname, dns.TypeTXT)
			m.Question[0].Qclass = bc.class
			w := &test.ResponseWriter{}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.ServeDNS(ctx, w, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
