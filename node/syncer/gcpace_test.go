package syncer

import (
	"path/filepath"
	"runtime/debug"
	"sync"
	"testing"

	"github.com/gitops-dns/resolverd/internal/gcpace"
)

// percentLog is a Logger that notes the collector's percent whenever an
// error is logged (the findings of a refused revision are logged while it
// is built), and panics instead when panics is set.
type percentLog struct {
	quietLog
	mu     sync.Mutex
	seen   []int
	panics bool
}

func (l *percentLog) Error(...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.panics {
		panic("the logger fails")
	}
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	l.seen = append(l.seen, p)
}

// Building a revision runs the collector at gcpace's percent (issue 21:
// the first apply's peak RSS), and the process's own percent is back
// after an applied revision, a refused one and a build that panics.
func TestBuildPacesCollector(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	percent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	repo := newTestRepo(t)
	repo.commit("first")
	g, _ := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	g.cfg.Probes = false
	log := &percentLog{}
	g.log = log
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("first: %+v", a)
	}
	if p := percent(); p != 100 {
		t.Fatalf("after an applied revision: GOGC=%d, want 100", p)
	}
	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81")+"bad IN A 300.1.1.1\n")
	repo.commit("broken")
	if a := g.SyncOnce(bg); a.Result != ResultRejected {
		t.Fatalf("broken: %+v", a)
	}
	if len(log.seen) == 0 || log.seen[0] != gcpace.Percent {
		t.Errorf("while the refused revision was built: GOGC %v, want %d", log.seen, gcpace.Percent)
	}
	if p := percent(); p != 100 {
		t.Fatalf("after a refused revision: GOGC=%d, want 100", p)
	}
	log.panics = true
	repo.write("zones/corp.internal.zone", zone(2026112103, "198.18.5.82")+"bad IN A 300.1.1.2\n")
	repo.commit("broken again")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the logger's panic did not reach the caller")
			}
		}()
		g.SyncOnce(bg)
	}()
	if p := percent(); p != 100 {
		t.Fatalf("after a build that panicked: GOGC=%d, want 100", p)
	}
}
