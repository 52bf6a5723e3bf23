package syncer

import (
	"fmt"
	golog "log"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// damagedNode applies one good revision from a real git daemon, stops the
// daemon (git is down from here on) and damages the state dir with
// damage; it returns a second syncer booted on that state dir, with what
// it logged.
func damagedNode(t *testing.T, damage func(t *testing.T, state string)) (g2 *Syncer, good string, log *syncBuffer, repo *testRepo, state string) {
	t.Helper()
	repo = newTestRepo(t)
	good = repo.commit("good")
	daemon := gittest.StartDaemon(t, filepath.Dir(repo.dir))
	url := daemon.URL(filepath.Base(repo.dir))
	state = filepath.Join(t.TempDir(), "state")
	g, _ := newTestGitOps(t, url, state)
	g.Boot()
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("sync: %+v", a)
	}
	daemon.Stop()
	damage(t, state)

	log = &syncBuffer{}
	golog.SetOutput(log)
	t.Cleanup(func() { golog.SetOutput(os.Stderr) })
	g2, _ = newTestGitOps(t, url, state)
	g2.Boot()
	if a := g2.SyncOnce(bg); a.Result != ResultFetchFailed {
		t.Fatalf("git is down, the sync says %+v", a)
	}
	return g2, good, log, repo, state
}

func writeState(name, content string) func(t *testing.T, state string) {
	return func(t *testing.T, state string) {
		if err := os.WriteFile(filepath.Join(state, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// damageObjects flips bytes in every pack and loose object of the clone.
func damageObjects(t *testing.T, state string) {
	packs, _ := filepath.Glob(filepath.Join(state, gitrepo.RepoDir, "objects", "pack", "*.pack"))
	loose, _ := filepath.Glob(filepath.Join(state, gitrepo.RepoDir, "objects", "??", "*"))
	if len(packs)+len(loose) == 0 {
		t.Fatal("no objects to damage")
	}
	for _, p := range append(packs, loose...) {
		data, _ := os.ReadFile(p)
		for i := 12; i < len(data)-20; i += 5 {
			data[i] ^= 0x5a
		}
		os.WriteFile(p, data, 0o644)
	}
}

// With git down, a state dir whose last-good record, HEAD, config or
// last-good ref is damaged (empty, truncated, garbage) but whose objects
// are intact still serves the last good revision from the clone,
// fallback records included: what is damaged is repaired, said in one
// line, and nothing is quarantined (issue 17: the whole clone was moved
// aside and the node served nothing).
func TestDamagedStateSalvaged(t *testing.T) {
	for _, tc := range []struct {
		name, file, content, repaired string
	}{
		{"last-good record empty", gitrepo.LastGoodFile, "", "last-good record"},
		{"last-good record truncated", gitrepo.LastGoodFile, `{"revision": "12`, "last-good record"},
		{"last-good record garbage", gitrepo.LastGoodFile, "\x00\xff\x13garbage", "last-good record"},
		{"HEAD empty", gitrepo.RepoDir + "/HEAD", "", "HEAD"},
		{"HEAD garbage", gitrepo.RepoDir + "/HEAD", "\x00\x01\x02", "HEAD"},
		{"config empty", gitrepo.RepoDir + "/config", "", "config"},
		{"config truncated", gitrepo.RepoDir + "/config", "[cor", "config"},
		{"config garbage", gitrepo.RepoDir + "/config", "[\x00\xff", "config"},
		{"last-good ref empty", gitrepo.RepoDir + "/" + gitrepo.LastGoodRef, "", gitrepo.LastGoodRef},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := value(stateCorrupt)
			g, good, log, _, state := damagedNode(t, writeState(tc.file, tc.content))
			if served(g) != good || !g.Ready() {
				t.Fatalf("serves %q with git down, want the last good %s", served(g), good)
			}
			if s := g.Snapshot(); len(s.Fallback["db-primary.corp.internal."]) != 1 {
				t.Fatalf("fallback records: %v", s.Fallback)
			}
			if c := cond(g.Status(), CondReady); c.Status != "True" || c.Reason != "ServingLastKnownGood" {
				t.Fatalf("Ready: %+v", c)
			}
			lines := 0
			for _, l := range strings.Split(log.String(), "\n") {
				if strings.Contains(l, "[WARNING] plugin/gitops: state dir "+state+" repaired: ") && strings.Contains(l, tc.repaired) {
					lines++
				}
			}
			if lines != 1 {
				t.Fatalf("want one line saying %s was repaired:\n%s", tc.repaired, log)
			}
			if q, _ := filepath.Glob(filepath.Join(state, "quarantine-*")); len(q) != 0 || value(stateCorrupt) != before {
				t.Fatalf("quarantined: %v", q)
			}
			if lg, err := openStateStore(t, state).LastGood(); err != nil || lg.Revision != good {
				t.Fatalf("record after repair: %+v %v", lg, err)
			}
		})
	}
}

func openStateStore(t *testing.T, state string) *gitrepo.Store {
	t.Helper()
	s, err := gitrepo.OpenStore(state)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A clone that cannot be read (objects damaged or gone) with git down:
// the clone is quarantined and the node serves the last good revision
// from the snapshot, fallback records included, Ready with reason
// ServingSnapshot. When git is back, the fresh clone takes the revision
// over and the next commit applies (the ancestry rule holds across).
func TestSnapshotServedWhenCloneUnusable(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, state string)
	}{
		{"objects damaged", damageObjects},
		{"objects deleted", func(t *testing.T, state string) {
			os.RemoveAll(filepath.Join(state, gitrepo.RepoDir, "objects"))
			os.MkdirAll(filepath.Join(state, gitrepo.RepoDir, "objects"), 0o755)
		}},
		{"record and ref garbage", func(t *testing.T, state string) {
			writeState(gitrepo.LastGoodFile, "garbage")(t, state)
			writeState(gitrepo.RepoDir+"/"+gitrepo.LastGoodRef, "garbage")(t, state)
		}},
		{"clone deleted", func(t *testing.T, state string) {
			os.RemoveAll(filepath.Join(state, gitrepo.RepoDir))
			os.Remove(filepath.Join(state, gitrepo.LastGoodFile))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, good, log, repo, _ := damagedNode(t, tc.damage)
			if served(g) != good || !g.Ready() {
				t.Fatalf("serves %q with the clone unusable and git down, want %s from the snapshot:\n%s", served(g), good, log)
			}
			if s := g.Snapshot(); len(s.Fallback["db-primary.corp.internal."]) != 1 || answer(t, g, "www.corp.internal.") == "" {
				t.Fatalf("the snapshot's revision lacks its records: fallback %v", s.Fallback)
			}
			if c := cond(g.Status(), CondReady); c.Status != "True" || c.Reason != ReasonServingSnapshot {
				t.Fatalf("Ready: %+v", c)
			}
			if !strings.Contains(log.String(), "from the snapshot") {
				t.Fatalf("not logged:\n%s", log)
			}

			// git is back: the head is the served revision, then a new commit.
			d := gittest.StartDaemon(t, filepath.Dir(repo.dir))
			g.cfg.Remote.URL = d.URL(filepath.Base(repo.dir))
			if a := g.SyncOnce(bg); a.Result != ResultUnchanged {
				t.Fatalf("git back: %+v", a)
			}
			if c := cond(g.Status(), CondReady); c.Reason != "RevisionServed" {
				t.Fatalf("Ready after the clone took over: %+v", c)
			}
			if lg, err := openStateStore(t, g.cfg.State).LastGood(); err != nil || lg.Revision != good {
				t.Fatalf("the rebuilt clone's last good: %+v %v", lg, err)
			}
			repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
			next := repo.commit("next")
			if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != next {
				t.Fatalf("next commit: %+v", a)
			}
		})
	}
}

// A snapshot whose bytes were damaged is refused with a line naming the
// checksum mismatch; nothing is served rather than something unverified.
func TestCorruptedSnapshotRefused(t *testing.T) {
	g, _, log, _, _ := damagedNode(t, func(t *testing.T, state string) {
		damageObjects(t, state)
		p := filepath.Join(state, gitrepo.SnapshotFile)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x01
		os.WriteFile(p, data, 0o644)
	})
	if g.Ready() || served(g) != "" {
		t.Fatalf("a damaged snapshot is served: %q", served(g))
	}
	if !strings.Contains(log.String(), "[ERROR] plugin/gitops: SNAPSHOT REFUSED: ") || !strings.Contains(log.String(), "checksum mismatch") {
		t.Fatalf("the refusal does not say why:\n%s", log)
	}
	if c := cond(g.Status(), CondReady); c.Status != "False" || !strings.Contains(c.Message, "snapshot refused") {
		t.Fatalf("Ready: %+v", c)
	}
}

// Many rejected revisions fetched (each followed, now and then, by a fix
// that applies): the clone is pruned whenever it holds more than
// prunePacks packs, down to the last good revision and the tracked head,
// so the state dir stays bounded (the gauge says how big), and the last
// good revision still boots afterwards with git down.
func TestPruneBoundsState(t *testing.T) {
	repo := newTestRepo(t)
	repo.commit("first")
	daemon := gittest.StartDaemon(t, filepath.Dir(repo.dir))
	url := daemon.URL(filepath.Base(repo.dir))
	state := filepath.Join(t.TempDir(), "state")
	g, _ := newTestGitOps(t, url, state)
	g.Boot()
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("sync: %+v", a)
	}
	big := func(serial int, broken bool) string {
		var b strings.Builder
		b.WriteString(zone(serial, "198.18.5.81"))
		for j := range 5000 {
			fmt.Fprintf(&b, "h%d IN A 198.18.%d.%d\n", j, 7+j/250, j%250)
		}
		if broken {
			b.WriteString("broken IN A not-an-address\n")
		}
		return b.String()
	}
	maxBytes, maxPacks, revision := 0.0, 0.0, 0.0
	good, serial, rounds := "", 2026112102, 4*prunePacks
	for i := range rounds {
		serial++
		fix := i%4 == 3
		repo.write("zones/corp.internal.zone", big(serial, !fix))
		id := repo.commit(fmt.Sprintf("revision %d", i))
		a := g.SyncOnce(bg)
		if fix && a.Result == ResultApplied {
			good = id
		} else if fix || a.Result != ResultRejected {
			t.Fatalf("revision %d (fix %v): %+v", i, fix, a)
		}
		if i == 0 {
			revision = value(stateBytes)
		}
		maxBytes, maxPacks = max(maxBytes, value(stateBytes)), max(maxPacks, value(statePacks))
	}
	after, packs := openStateStore(t, state).Usage()
	t.Logf("state dir: %.0f bytes after one revision; %d bytes, %d packs after %d revisions (%d refused), at most %.0f bytes, %.0f packs",
		revision, after, packs, rounds, rounds*3/4, maxBytes, maxPacks)
	if maxPacks > prunePacks+1 || value(stateBytes) != float64(after) {
		t.Fatalf("the clone was not pruned: up to %.0f packs (gauge %.0f bytes, on disk %d)", maxPacks, value(stateBytes), after)
	}
	// Unpruned, 32 revisions of ~15 KB each; pruned, at most 9 packs of
	// one revision each (one extra for the snapshot), and one more: a
	// fetched pack holds the changed file's base deflated at the fastest
	// level, ~15 % larger than git's (gitrepo.packCompleter), until a prune
	// rewrites it.
	if maxBytes > float64(prunePacks+4)*revision {
		t.Fatalf("state dir grew to %.0f bytes, %.1f times one revision", maxBytes, maxBytes/revision)
	}
	daemon.Stop()
	g2, _ := newTestGitOps(t, url, state)
	g2.Boot()
	if served(g2) != good || !g2.Ready() {
		t.Fatalf("after pruning, boot serves %q, want %s", served(g2), good)
	}
	if q, _ := filepath.Glob(filepath.Join(state, "quarantine-*")); len(q) != 0 {
		t.Fatalf("the pruned clone was quarantined: %v", q)
	}
}
