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

// Building a first revision (nothing served) runs the collector at
// gcpace's percent (issue 21: the first apply's peak RSS); a revision built
// beside a served one does not, and the process's own percent is back
// after a refused revision, an applied one and a build that panics.
func TestBuildPacesCollector(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	percent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	repo := newTestRepo(t)
	repo.write("zones/corp.internal.zone", zone(2026112101, "198.18.5.80")+"bad IN A 300.1.1.1\n")
	repo.commit("broken first")
	g, _ := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	g.cfg.Probes = false
	log := &percentLog{}
	g.log = log
	if a := g.SyncOnce(bg); a.Result != ResultRejected {
		t.Fatalf("broken first: %+v", a)
	}
	if len(log.seen) == 0 || log.seen[0] != gcpace.Percent {
		t.Errorf("while the first revision was built: GOGC %v, want %d", log.seen, gcpace.Percent)
	}
	if p := percent(); p != 100 {
		t.Fatalf("after a refused revision: GOGC=%d, want 100", p)
	}
	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
	repo.commit("fixed")
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("fixed: %+v", a)
	}
	if p := percent(); p != 100 {
		t.Fatalf("after an applied revision: GOGC=%d, want 100", p)
	}
	log.seen = nil
	repo.write("zones/corp.internal.zone", zone(2026112103, "198.18.5.82")+"bad IN A 300.1.1.2\n")
	repo.commit("broken beside a served one")
	if a := g.SyncOnce(bg); a.Result != ResultRejected {
		t.Fatalf("broken: %+v", a)
	}
	if len(log.seen) == 0 || log.seen[0] != 100 {
		t.Errorf("while a revision was built beside a served one: GOGC %v, want 100 (the process's own)", log.seen)
	}
	// A first build that panics (a node booting from its state dir, say).
	g2, _ := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	g2.cfg.Probes = false
	g2.log = &percentLog{panics: true}
	repo.write("zones/corp.internal.zone", zone(2026112104, "198.18.5.83")+"bad IN A 300.1.1.3\n")
	repo.commit("broken again")
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the logger's panic did not reach the caller")
			}
		}()
		g2.SyncOnce(bg)
	}()
	if p := percent(); p != 100 {
		t.Fatalf("after a build that panicked: GOGC=%d, want 100", p)
	}
}
