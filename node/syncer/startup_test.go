package syncer

import (
	"path/filepath"
	"strings"
	"testing"
)

// A node with no last good revision whose first head is invalid serves the
// newest valid revision of the head's first-parent history (fetched from a
// real git daemon, deepened from depth 1), says so (Ready reason
// ServingOlderRevision), and keeps following the branch.
func TestInvalidHeadAtFirstSyncWalksBack(t *testing.T) {
	repo := newTestRepo(t)
	repo.commit("first")
	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
	valid := repo.commit("valid")
	repo.write("zones/corp.internal.zone", zone(2026112103, "198.18.5.82")+"bad IN A 300.1.1.1\n")
	repo.commit("broken")
	repo.write("zones/corp.internal.zone", zone(2026112104, "198.18.5.83")+"bad IN A 300.1.1.2\n")
	head := repo.commit("still broken")
	g, _ := newTestGitOps(t, remotes(t, repo)["git-daemon"], filepath.Join(t.TempDir(), "state"))
	g.Boot()
	a := g.SyncOnce(bg)
	if a.Result != ResultRejected || a.Revision != head || served(g) != valid || !strings.Contains(a.Message, valid) {
		t.Fatalf("first sync of an invalid head: %+v, serving %s, want %s", a, served(g), valid)
	}
	st := g.Status()
	if c := cond(st, CondReady); c.Status != "True" || c.Reason != ReasonServingOlderRevision {
		t.Fatalf("Ready: %+v", c)
	}
	if st.LastGood.ID != valid {
		t.Fatalf("last good %s, want %s", st.LastGood.ID, valid)
	}
	// The branch moves on to a valid revision: followed as usual.
	repo.write("zones/corp.internal.zone", zone(2026112105, "198.18.5.84"))
	fixed := repo.commit("fixed")
	if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != fixed {
		t.Fatalf("fix: %+v", a)
	}
	if c := cond(g.Status(), CondReady); c.Reason != "RevisionServed" {
		t.Fatalf("Ready after the fix: %+v", c)
	}
}
