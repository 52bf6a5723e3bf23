package syncer

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/fastpath"
	"github.com/gitops-dns/resolverd/fastpath/udpio"
)

// BenchmarkApplyChange measures what an apply costs against the size of
// its change (issue 21) on a repo of 10 zones of N A records each (N =
// GITOPS_BENCH_RECORDS, default 100,000: 1,000,000 records), served by the
// fast path (precomputed answers, the slow path answering from the
// snapshot meanwhile) under a steady query load (2 clients, 2,000 queries
// a second in all):
//
//	first:  the first apply of the whole repo
//	record: a commit changing one record of one zone
//	zone:   a commit adding an 11th zone of N records
//	reject: a commit breaking one record of one zone (refused)
//
// For each: s/<step> is SyncOnce (fetch, load, check, snapshot, swap,
// then the last good record and its snapshot file), s-served/<step> until
// the swap (from then on the new revision is answered), s-<phase>/<step>
// each step of SyncOnce, s-precomputed/<step> until the fast path answers
// the new revision from precomputed answers; the peak heap and RSS during the step, the heap and
// RSS after it (steady: after a collection, pages returned), and the p99
// query latency while it ran; then the same figures for 2 s of the same
// load with no apply (-serving/<step>), the steady state the peaks compare
// with. Nothing is asserted.
//
// The generated repo is cached in $GITOPS_BENCH_CACHE (default /var/tmp)
// across runs. With GITOPS_BENCH_PROFILE=dir each step writes its CPU
// profile and execution trace there. On a shared machine run it alone:
//
//	flock /work/coord/bench.lock go test -run ^$ -bench ApplyChange -benchtime 1x -timeout 30m ./node/syncer
func BenchmarkApplyChange(b *testing.B) {
	n := 100_000
	if s := os.Getenv("GITOPS_BENCH_RECORDS"); s != "" {
		fmt.Sscan(s, &n)
	}
	const nZones = 10
	src := benchRepo(b, nZones, n)
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), "repo")
		if out, err := exec.Command("cp", "-a", src, dir).CombinedOutput(); err != nil {
			b.Fatalf("copying the cached repo: %v: %s", err, out)
		}
		repo, err := git.PlainOpen(dir)
		if err != nil {
			b.Fatal(err)
		}
		g, _ := newTestGitOps(b, dir, filepath.Join(b.TempDir(), "state"))
		g.cfg.Probes = false
		g.cfg.Remote.Timeout = 10 * time.Minute // the first fetch of 1M records
		g.log = quietLog{}
		srv, addr := serveFastPath(b, g)

		step := func(name string, want string, commit func()) {
			if commit != nil {
				commit()
			}
			runtime.GC()
			debug.FreeOSMemory()
			resetPeakRSS()
			peak := watchPeak()
			profDir := os.Getenv("GITOPS_BENCH_PROFILE")
			when := watchWhen(profDir, name)
			load := startLoad(addr, nZones, n)
			// The profile and trace cover the apply alone: from the commit's
			// sync until the fast path answers it (the collections and the
			// serving load after it are not the apply's).
			stopProfile := func() {}
			if dir := os.Getenv("GITOPS_BENCH_PROFILE"); dir != "" {
				f, err := os.Create(filepath.Join(dir, "cpu-"+name+".pprof"))
				if err != nil {
					b.Fatal(err)
				}
				pprof.StartCPUProfile(f)
				tf, _ := os.Create(filepath.Join(dir, "trace-"+name+".out"))
				trace.Start(tf)
				stopProfile = func() { pprof.StopCPUProfile(); trace.Stop(); f.Close(); tf.Close() }
			}
			t0 := time.Now()
			when.start(t0)
			a := g.SyncOnce(bg)
			synced := time.Since(t0)
			g.mu.Lock()
			steps := g.phases
			g.mu.Unlock()
			if a.Result != want {
				b.Fatalf("%s: %s (%s), want %s", name, a.Result, a.Message, want)
			}
			snap := g.holder.Snapshot()
			for {
				if x := srv.Answers(); x != nil && x.Snapshot == snap {
					break
				}
				time.Sleep(time.Millisecond)
			}
			precomputed := time.Since(t0)
			stopProfile()
			tail := load()
			peakHeap, peakRSS := peak(), peakRSSBytes()
			heapAt, rssAt := when.stop()
			runtime.GC()
			debug.FreeOSMemory()
			mib := func(v uint64) float64 { return float64(v) / (1 << 20) }
			b.ReportMetric(synced.Seconds(), "s/"+name)
			b.ReportMetric(precomputed.Seconds(), "s-precomputed/"+name)
			var served time.Duration // until the swap: the slow path answers the new revision from then on
			for i, p := range steps {
				b.ReportMetric(p.D.Seconds(), "s-"+p.Name+"/"+name)
				if !slices.ContainsFunc(steps[:i], func(p phase) bool { return p.Name == "swap" }) {
					served += p.D
				}
			}
			if slices.ContainsFunc(steps, func(p phase) bool { return p.Name == "swap" }) {
				b.ReportMetric(served.Seconds(), "s-served/"+name)
			}
			// When the peaks came, from the sync's start (s/ and
			// s-precomputed/ say which part of the apply that was).
			b.ReportMetric(heapAt.Seconds(), "s-at-heap-peak/"+name)
			b.ReportMetric(rssAt.Seconds(), "s-at-rss-peak/"+name)
			b.ReportMetric(mib(peakHeap), "MiB-heap-peak/"+name)
			b.ReportMetric(mib(heapAfterGC()), "MiB-heap-after/"+name)
			b.ReportMetric(mib(peakRSS), "MiB-rss-peak/"+name)
			b.ReportMetric(mib(rssBytes()), "MiB-rss-after/"+name)
			b.ReportMetric(float64(tail.p99.Microseconds()), "us-p99-query/"+name)
			b.ReportMetric(float64(tail.max.Microseconds()), "us-max-query/"+name)
			b.ReportMetric(float64(tail.over1ms), "queries-over-1ms/"+name)
			b.ReportMetric(float64(tail.count), "queries/"+name)
			// The steady state to compare the peaks with: the same load on
			// the revision served afterwards, no apply (the query path's
			// garbage alone moves the heap between collections).
			resetPeakRSS()
			peak = watchPeak()
			serving := startLoad(addr, nZones, n)
			time.Sleep(2 * time.Second)
			steady := serving()
			b.ReportMetric(mib(peak()), "MiB-heap-peak-serving/"+name)
			b.ReportMetric(mib(peakRSSBytes()), "MiB-rss-peak-serving/"+name)
			b.ReportMetric(float64(steady.p99.Microseconds()), "us-p99-query-serving/"+name)
			b.ReportMetric(float64(steady.over1ms), "queries-over-1ms-serving/"+name)
			runtime.GC()
			debug.FreeOSMemory()
		}
		wt, err := repo.Worktree()
		if err != nil {
			b.Fatal(err)
		}
		commit := func(file, content, msg string) {
			p := filepath.Join(dir, cfgPath, "zones", file)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				b.Fatal(err)
			}
			if _, err := wt.Add(cfgPath + "/zones/" + file); err != nil {
				b.Fatal(err)
			}
			if _, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "b", Email: "b@corp.internal", When: time.Now()}}); err != nil {
				b.Fatal(err)
			}
		}
		step("first", ResultApplied, nil)
		step("record", ResultApplied, func() {
			commit("z3.bench.internal.zone", benchZone(3, n, 2, "h0000007 IN A 198.18.99.7\n"), "change one record")
		})
		step("zone", ResultApplied, func() {
			commit("z10.bench.internal.zone", benchZone(10, n, 1, ""), "a new zone")
		})
		step("reject", ResultRejected, func() {
			commit("z5.bench.internal.zone", benchZone(5, n, 2, "bad IN A 300.1.1.1\n"), "a broken record")
		})
		time.Sleep(time.Second)
		b.ReportMetric(float64(rssBytes())/(1<<20), "MiB-rss-1s-after-reject")
	}
}

// peakWatch samples the heap's object bytes and the RSS every 5 ms from
// start to stop, and says when each peaked (since start). With a profile
// folder it also writes a heap profile every 500 ms
// (heap-<step>-<ms>.pprof: what was live at the last collection before).
type peakWatch struct {
	t0    chan time.Time
	stopC chan struct{}
	done  chan [2]time.Duration
}

func watchWhen(profDir, name string) *peakWatch {
	w := &peakWatch{t0: make(chan time.Time, 1), stopC: make(chan struct{}), done: make(chan [2]time.Duration, 1)}
	go func() {
		t0 := <-w.t0
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var heapMax, rssMax uint64
		var at [2]time.Duration
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		nextProf := time.Duration(0)
		for {
			d := time.Since(t0)
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > heapMax {
				heapMax, at[0] = v, d
			}
			if v := rssBytes(); v > rssMax {
				rssMax, at[1] = v, d
			}
			if profDir != "" && d >= nextProf {
				if f, err := os.Create(filepath.Join(profDir, fmt.Sprintf("heap-%s-%05d.pprof", name, d.Milliseconds()))); err == nil {
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
				nextProf += 500 * time.Millisecond
			}
			select {
			case <-w.stopC:
				w.done <- at
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *peakWatch) start(t0 time.Time) { w.t0 <- t0 }

// stop returns when the heap and the RSS peaked.
func (w *peakWatch) stop() (heap, rss time.Duration) {
	close(w.stopC)
	at := <-w.done
	return at[0], at[1]
}

// benchZone is zone z<i>.bench.internal. with n A records h0000000..,
// serial, and extra lines at the end (a changed or broken record).
func benchZone(i, n, serial int, extra string) string {
	var sb strings.Builder
	sb.Grow(n*32 + 256)
	fmt.Fprintf(&sb, "$ORIGIN z%d.bench.internal.\n$TTL 300\n@ IN SOA ns1 hostmaster %d 3600 600 1209600 300\n  IN NS ns1\n  IN NS ns2\nns1 IN A 198.18.1.1\nns2 IN A 198.18.2.1\n", i, serial)
	for j := 0; j < n; j++ {
		if extra != "" && j == 7 && strings.HasPrefix(extra, "h0000007 ") {
			continue // replaced by extra
		}
		fmt.Fprintf(&sb, "h%07d IN A 10.%d.%d.%d\n", j, i, (j>>8)&255, j&255)
	}
	sb.WriteString(extra)
	return sb.String()
}

// benchRepo returns a git repository (with its work tree) holding the
// config of nZones zones of n records each, generated once and cached.
func benchRepo(b *testing.B, nZones, n int) string {
	cache := os.Getenv("GITOPS_BENCH_CACHE")
	if cache == "" {
		cache = "/var/tmp"
	}
	dir := filepath.Join(cache, fmt.Sprintf("resolverd-bench-repo-%dx%d-v1", nZones, n))
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir
	}
	os.RemoveAll(dir)
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		b.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		b.Fatal(err)
	}
	write := func(name, content string) {
		p := filepath.Join(dir, cfgPath, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("clusters/dev.yaml", "name: dev\nenvironment: staging\nnodes:\n  - {name: local, address: 127.0.0.1}\nrecursion:\n  allow: [127.0.0.0/8]\n")
	write("policy.yaml", "limits:\n  max_delete_percent: 10\n")
	for i := 0; i < nZones; i++ {
		write(fmt.Sprintf("zones/z%d.bench.internal.zone", i), benchZone(i, n, 1, ""))
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		b.Fatal(err)
	}
	if _, err := wt.Commit("generated", &git.CommitOptions{Author: &object.Signature{Name: "b", Email: "b@corp.internal", When: time.Unix(1_790_000_000, 0)}}); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return dir
}

// serveFastPath serves the snapshot g holds on a loopback port through the
// fast path: precomputed answers, and while they are built for a new
// revision (or for names they do not hold) the snapshot's zones looked up
// per query, as the authority plugin does.
func serveFastPath(b *testing.B, g *Syncer) (*fastpath.Server, string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	grp, err := udpio.Listen(addr, udpio.Options{Sockets: 1})
	if err != nil {
		b.Fatal(err)
	}
	s := &fastpath.Server{Source: g.holder.Snapshot}
	s.Slow = func(c *udpio.Conn, pkt []byte, from *net.UDPAddr, _ *fastpath.Query, _ uint64) {
		r := new(dns.Msg)
		if r.Unpack(pkt) != nil || len(r.Question) != 1 {
			return
		}
		m := new(dns.Msg)
		m.SetReply(r)
		snap := g.holder.Snapshot()
		if snap == nil {
			m.Rcode = dns.RcodeServerFailure
		} else if z := snap.Authority.Match(r.Question[0].Name); z == nil {
			m.Rcode = dns.RcodeRefused
		} else {
			a := z.Lookup(r.Question[0].Name, r.Question[0].Qtype)
			m.Rcode, m.Answer, m.Ns, m.Authoritative = a.Rcode, a.Answer, a.Ns, a.Authoritative
		}
		if out, err := m.Pack(); err == nil {
			c.WriteTo(out, from)
		}
	}
	var wg sync.WaitGroup
	for _, c := range grp.Conns() {
		wg.Add(1)
		go func() { defer wg.Done(); s.Serve(c) }()
	}
	b.Cleanup(func() { grp.StopReading(); wg.Wait(); grp.Close() })
	return s, addr
}

// loadTail is what a query load saw: how many queries, the 99th
// percentile and the largest latency, and how many took over 1 ms (a p99
// over a short step is the 5th worst of 500: the count says more).
type loadTail struct {
	count, over1ms int
	p99, max       time.Duration
}

// startLoad sends A queries for names of the bench zones from 2 clients
// at 1,000 queries a second each (an ordinary load, not a saturating one:
// the apply has the rest of the machine), each on its own socket waiting
// for its answer (2 s timeout, counted as 2 s: more than 1 % unanswered
// shows as a p99 of 2 s), until the returned function is called; it
// returns what the queries saw.
func startLoad(addr string, nZones, n int) func() loadTail {
	const perClient = 1000 // queries a second
	var stop atomic.Bool
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := &dns.Client{Timeout: 2 * time.Second}
			conn, err := c.Dial(addr)
			if err != nil {
				return
			}
			defer conn.Close()
			var mine []time.Duration
			next := time.Now()
			for j := 0; !stop.Load(); j++ {
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(time.Second / perClient)
				m := new(dns.Msg)
				m.SetQuestion(fmt.Sprintf("h%07d.z%d.bench.internal.", (j*7919+w)%n, j%nZones), dns.TypeA)
				s := time.Now()
				conn.SetDeadline(s.Add(2 * time.Second))
				if _, _, err := c.ExchangeWithConn(m, conn); err != nil {
					mine = append(mine, 2*time.Second)
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(w)
	}
	return func() loadTail {
		stop.Store(true)
		wg.Wait()
		if len(lat) == 0 {
			return loadTail{}
		}
		slices.Sort(lat)
		over, _ := slices.BinarySearch(lat, time.Millisecond+1)
		return loadTail{count: len(lat), over1ms: len(lat) - over, p99: lat[len(lat)*99/100], max: lat[len(lat)-1]}
	}
}

// resetPeakRSS resets the kernel's peak RSS of this process (VmHWM).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSSBytes is the process's peak resident set since the last reset
// (VmHWM), 0 when unknown.
func peakRSSBytes() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// quietLog drops the syncer's log (a broken record of a big zone is one
// line, but the bench's output is its figures).
type quietLog struct{}

func (quietLog) Infof(string, ...any)    {}
func (quietLog) Warning(...any)          {}
func (quietLog) Warningf(string, ...any) {}
func (quietLog) Error(...any)            {}
func (quietLog) Errorf(string, ...any)   {}
