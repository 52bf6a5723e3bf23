package gitops

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/node/syncer"
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

// BenchmarkServeDNS measures the work gitops adds to every query: an IN
// query passed to the next plugin, and the version.config. CH TXT answer.
//
//	go test -run ^$ -bench ServeDNS ./plugins/gitops
func BenchmarkServeDNS(b *testing.B) {
	g, _ := New(Config{Config: syncer.Config{Node: "ns1"}})
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
