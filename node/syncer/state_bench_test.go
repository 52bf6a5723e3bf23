package syncer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// BenchmarkStateDir measures what keeping the state dir costs on a large
// repo (issue 17): writing the snapshot of the last good revision (and its
// size), reading it back and booting from it, and the state dir's size
// after rejected revisions, before and after a prune.
//
//	GITOPS_BENCH_RECORDS=1000000 go test -run ^$ -bench StateDir -benchtime 1x -timeout 30m ./node/syncer
func BenchmarkStateDir(b *testing.B) {
	n := 100_000
	if s := os.Getenv("GITOPS_BENCH_RECORDS"); s != "" {
		fmt.Sscan(s, &n)
	}
	// Each revision readdresses every record (a bulk change): its zone file
	// is no small delta of the previous one, as in issue 17's measure
	// (~10 MB per refused revision of 2M records).
	zoneOf := func(serial int, extra string) string {
		var sb strings.Builder
		sb.Grow(n * 40)
		sb.WriteString(zone(serial, "198.18.5.80"))
		for i := range n {
			fmt.Fprintf(&sb, "h%07d IN A 198.18.%d.%d\n", i, (i>>8)&1, (i+serial)&255)
		}
		sb.WriteString(extra)
		return sb.String()
	}
	for range b.N {
		repo := newTestRepo(b)
		repo.write("zones/corp.internal.zone", zoneOf(2026112101, ""))
		good := repo.commit("N records")
		state := filepath.Join(b.TempDir(), "state")
		daemon := gittest.StartDaemon(b, filepath.Dir(repo.dir)) // depth-1 fetches from a git daemon, as nodes do
		url := daemon.URL(filepath.Base(repo.dir))
		g, _ := newTestGitOps(b, url, state)
		g.cfg.Probes = false
		if a := g.SyncOnce(bg); a.Result != ResultApplied {
			b.Fatalf("apply: %+v", a)
		}
		store, err := gitrepo.OpenStore(state)
		if err != nil {
			b.Fatal(err)
		}
		lg, _ := store.LastGood()
		steady := heapAfterGC()
		b.ReportMetric(float64(steady)/(1<<20), "MiB-heap-steady")
		peak := watchPeak()
		t0 := time.Now()
		info, err := store.WriteSnapshot(lg, g.cfg.Path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/snapshot-write")
		b.ReportMetric(float64(info.Bytes)/(1<<20), "MiB-snapshot")
		b.ReportMetric(float64(peak())/(1<<20), "MiB-peak-heap-snapshot-write")

		t0 = time.Now()
		if _, err := gitrepo.ReadSnapshot(filepath.Join(state, gitrepo.SnapshotFile)); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/snapshot-read")
		os.RemoveAll(filepath.Join(state, gitrepo.RepoDir)) // the clone is gone: boot from the snapshot
		os.Remove(filepath.Join(state, gitrepo.LastGoodFile))
		g2, _ := newTestGitOps(b, "git://127.0.0.1:1/down", state)
		t0 = time.Now()
		g2.Boot()
		if served(g2) != good {
			b.Fatalf("boot from the snapshot serves %q", served(g2))
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/boot-from-snapshot")
		g2.cfg.Remote.URL = url // git is back: the clone is rebuilt
		if a := g2.SyncOnce(bg); a.Result != ResultUnchanged {
			b.Fatalf("rebuild: %+v", a)
		}

		const rejected = 6 // below prunePacks: measured before the automatic prune
		for i := range rejected {
			repo.write("zones/corp.internal.zone", zoneOf(2026112102+i, fmt.Sprintf("bad%d IN A 300.1.1.1\n", i)))
			repo.commit("rejected")
			if a := g2.SyncOnce(bg); a.Result != ResultRejected {
				b.Fatalf("rejected revision: %+v", a)
			}
		}
		store, _ = gitrepo.OpenStore(state)
		heapAfterGC()
		peak = watchPeak()
		t0 = time.Now()
		st, err := store.Prune(pruneKeepHistory)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "s/prune")
		b.ReportMetric(float64(peak())/(1<<20), "MiB-peak-heap-prune")
		b.ReportMetric(float64(st.Before)/(1<<20), "MiB-state-before-prune")
		b.ReportMetric(float64(st.After)/(1<<20), "MiB-state-after-prune")
		b.ReportMetric(float64(st.PacksBefore), "packs-before-prune")
	}
}
