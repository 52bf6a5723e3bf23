package syncer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/node/syncer/syncertest"
)

// The first slice: apply, change, broken revision keeps the old snapshot
// and counts the rejection, restart with the repo removed serves the state.
func TestApplyChangeBrokenRestart(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	state := filepath.Join(t.TempDir(), "state")

	g, _ := newTestGitOps(t, repo.dir, state)
	g.Boot()
	if g.Ready() {
		t.Fatal("ready before any revision")
	}
	a := g.SyncOnce(bg)
	if a.Result != ResultApplied || served(g) != first {
		t.Fatalf("first sync: %+v, serving %q, want %s", a, served(g), first)
	}
	if !g.Ready() {
		t.Fatal("not ready after applying a revision")
	}
	if got := answer(t, g, "www.corp.internal."); got != "198.18.5.80" {
		t.Fatalf("www = %q", got)
	}
	if a := g.SyncOnce(bg); a.Result != ResultUnchanged {
		t.Fatalf("second sync without a commit: %+v", a)
	}

	// A change is served.
	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
	second := repo.commit("move www")
	if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != second {
		t.Fatalf("change: %+v, serving %q, want %s", a, served(g), second)
	}
	if got := answer(t, g, "www.corp.internal."); got != "198.18.5.81" {
		t.Fatalf("www after change = %q", got)
	}

	// A broken zone: refused with path:line:col findings; nothing changes.
	before := value(rejectedRevisions.WithLabelValues(ReasonValidationFailed))
	repo.write("zones/corp.internal.zone", zone(2026112103, "198.18.5.82")+"bad IN A 300.1.1.1\n")
	broken := repo.commit("broken")
	a = g.SyncOnce(bg)
	if a.Result != ResultRejected || a.Reason != ReasonValidationFailed || a.Revision != broken {
		t.Fatalf("broken revision: %+v", a)
	}
	if served(g) != second || answer(t, g, "www.corp.internal.") != "198.18.5.81" {
		t.Fatalf("broken revision changed what is served: %s", served(g))
	}
	if len(a.Findings) == 0 || !strings.HasPrefix(a.Findings[0], "dns/zones/corp.internal.zone:10:") {
		t.Fatalf("findings do not name file:line:col: %q", a.Findings)
	}
	if after := value(rejectedRevisions.WithLabelValues(ReasonValidationFailed)); after != before+1 {
		t.Fatalf("rejections counted %v -> %v", before, after)
	}
	// The refused head is not re-evaluated (nor counted) at every poll.
	if a := g.SyncOnce(bg); a.Result != ResultRejected || value(rejectedRevisions.WithLabelValues(ReasonValidationFailed)) != before+1 {
		t.Fatalf("refused head again: %+v", a)
	}
	st := g.Status()
	if st.LastGood.ID != second || st.Applied.ID != second || st.LastAttempted.Revision != broken {
		t.Fatalf("status: %+v", st)
	}

	// Restart with the repository gone: the state dir is served at boot.
	if err := os.RemoveAll(repo.dir); err != nil {
		t.Fatal(err)
	}
	g2, _ := newTestGitOps(t, repo.dir, state)
	g2.Boot()
	if served(g2) != second || !g2.Ready() {
		t.Fatalf("restart serves %q, want last good %s", served(g2), second)
	}
	if got := answer(t, g2, "www.corp.internal."); got != "198.18.5.81" {
		t.Fatalf("www after restart = %q", got)
	}
	a = g2.SyncOnce(bg)
	if a.Result != ResultFetchFailed || a.Class != string(gitrepo.ClassRepoNotFound) {
		t.Fatalf("fetch of a removed repo: %+v", a)
	}
	if served(g2) != second {
		t.Fatal("failed fetch changed what is served")
	}
	if c := cond(g2.Status(), CondStalled); c.Status != "True" || c.Reason != "RepoNotFound" {
		t.Fatalf("Stalled = %+v", c)
	}
	if c := cond(g2.Status(), CondReady); c.Status != "True" || c.Reason != "ServingLastKnownGood" {
		t.Fatalf("Ready = %+v", c)
	}
}

func cond(s Status, typ string) Condition {
	for _, c := range s.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return Condition{}
}

// The sync loop polls on its interval (fake clock) and syncs on demand.
func TestLoopPollAndTrigger(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	g, clk := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	g.Boot()
	startLoop(t, g, clk, first)
	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
	second := repo.commit("second")
	clk.Advance(4 * time.Second)
	if served(g) != first {
		t.Fatal("synced before the poll interval")
	}
	clk.Advance(time.Second)
	waitFor(t, func() bool { return served(g) == second && clk.Pending() == 1 })

	repo.write("zones/corp.internal.zone", zone(2026112103, "198.18.5.82"))
	third := repo.commit("third")
	a := <-g.Trigger()
	if a.Result != ResultApplied || a.Revision != third || served(g) != third {
		t.Fatalf("on-demand sync: %+v", a)
	}
}

func waitFor(t *testing.T, ok func() bool) { syncertest.WaitFor(t, ok) }

// A gate probe that fails against the node returns it to the last good
// revision; the status says why.
func TestGateProbeRollsBack(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	g, _ := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	g.SetProbeAddr(serveDNS(t, g))
	g.Boot()
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("first: %+v", a)
	}
	// A valid revision (check cannot know the forwarder is wrong), but this
	// cluster stops serving the zone the gate probes and forwards it
	// instead: the test's node answers REFUSED.
	repo.write("zones/other.internal.zone", strings.ReplaceAll(zone(1, "198.18.5.80"), "corp.internal.", "other.internal."))
	repo.write("clusters/dev.yaml", "name: dev\nenvironment: staging\ntrack: refs/heads/main\nzones: [other.internal.]\n"+
		"forward:\n  - zone: corp.internal.\n    to: [198.18.9.9]\n"+
		"nodes:\n  - {name: local, address: 127.0.0.1}\nrecursion:\n  allow: [127.0.0.0/8]\n")
	bad := repo.commit("serve only other.internal.")
	a := g.SyncOnce(bg)
	if a.Result != ResultRolledBack || a.Reason != ReasonProbeFailed || a.Revision != bad {
		t.Fatalf("gate failure: %+v", a)
	}
	if served(g) != first || answer(t, g, "db-primary.corp.internal.") != "198.18.5.10" {
		t.Fatalf("after a failed gate serving %s", served(g))
	}
	if len(a.Findings) != 1 || !strings.Contains(a.Findings[0], "dns/probes.yaml:2:") || !strings.Contains(a.Findings[0], "rcode REFUSED") {
		t.Fatalf("probe report: %q", a.Findings)
	}
	if st := g.Status(); st.LastGood.ID != first || st.Applied.ID != first {
		t.Fatalf("status after rollback: %+v", st)
	}
	lg, err := g.store.LastGood()
	if err != nil || lg.Revision != first {
		t.Fatalf("last good on disk: %+v %v", lg, err)
	}
}

// Revisions that cannot become this node's snapshot are refused with a
// reason, and never read as an empty configuration.
func TestRefusedRevisions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *testRepo)
		reason string
	}{
		{"config folder deleted", func(r *testRepo) {
			if _, err := r.wt.Remove(cfgPath); err != nil {
				t.Fatal(err)
			}
		}, ReasonLoadFailed},
		{"node removed from its cluster", func(r *testRepo) {
			r.write("clusters/dev.yaml", "name: dev\nenvironment: staging\ntrack: refs/heads/main\n"+
				"nodes:\n  - {name: other, address: 127.0.0.1}\nrecursion:\n  allow: [127.0.0.0/8]\n")
		}, ReasonSnapshotFailed},
		{"zone syntax", func(r *testRepo) {
			r.write("zones/corp.internal.zone", "$ORIGIN corp.internal.\n@ IN SOA broken\n")
		}, ReasonValidationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := newTestRepo(t)
			good := repo.commit("good")
			g, _ := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
			g.Boot()
			g.SyncOnce(bg)
			tc.change(repo)
			bad := repo.commit(tc.name)
			a := g.SyncOnce(bg)
			if a.Result != ResultRejected || a.Reason != tc.reason || a.Revision != bad {
				t.Fatalf("%+v", a)
			}
			if served(g) != good || answer(t, g, "www.corp.internal.") != "198.18.5.80" {
				t.Fatalf("serving %q", served(g))
			}
		})
	}
}
