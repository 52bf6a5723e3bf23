package syncer

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/gitops-dns/resolverd/cluster"
	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// moveBranch force-moves master to id, as `git push --force` does on the
// server.
func (r *testRepo) moveBranch(t *testing.T, id string) {
	t.Helper()
	ref := plumbing.NewHashReference("refs/heads/master", plumbing.NewHash(id))
	if err := r.repo.Storer.SetReference(ref); err != nil {
		t.Fatal(err)
	}
}

// orphan makes a commit with the tree of id and no parent (a history with
// nothing in common) and returns it.
func (r *testRepo) orphan(t *testing.T, id string) string {
	t.Helper()
	c, err := r.repo.CommitObject(plumbing.NewHash(id))
	if err != nil {
		t.Fatal(err)
	}
	o := &object.Commit{Author: c.Author, Committer: c.Committer, Message: "rogue history\n", TreeHash: c.TreeHash}
	o.Author.When = o.Author.When.Add(time.Hour)
	enc := r.repo.Storer.NewEncodedObject()
	if err := o.Encode(enc); err != nil {
		t.Fatal(err)
	}
	h, err := r.repo.Storer.SetEncodedObject(enc)
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

// remotes serves repo over the real git transports a node uses.
func remotes(t *testing.T, repo *testRepo) map[string]string {
	root, name := filepath.Dir(repo.dir), filepath.Base(repo.dir)
	return map[string]string{
		"git-daemon":   gittest.StartDaemon(t, root).URL(name),
		"http-backend": gittest.StartHTTP(t, root).URL(name),
	}
}

// A force-push of the tracked branch back to an ancestor of the last good
// revision, or to an unrelated history, is refused (NotFastForward, both
// commits named, counted); the real history pushed back applies; an
// operator accepts one exact rewrite through POST /sync?accept=.
func TestHistoryRewriteRefused(t *testing.T) {
	for _, transport := range []string{"git-daemon", "http-backend"} {
		t.Run(transport, func(t *testing.T) {
			repo := newTestRepo(t)
			old := repo.commit("old")
			repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
			repo.commit("second")
			repo.write("zones/corp.internal.zone", zone(2026112103, "198.18.5.82"))
			good := repo.commit("good")
			url := remotes(t, repo)[transport]
			g, clk := newTestGitOps(t, url, filepath.Join(t.TempDir(), "state"))
			tokenFile := filepath.Join(t.TempDir(), "token")
			os.WriteFile(tokenFile, []byte("tok"), 0o600)
			g.cfg.SyncTokenFile = tokenFile
			g.Boot()
			if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != good {
				t.Fatalf("first sync: %+v", a)
			}

			for _, rogue := range []struct{ name, id string }{
				{"ancestor", old},
				{"orphan", repo.orphan(t, old)},
			} {
				before := value(rejectedRevisions.WithLabelValues(ReasonNotFastForward))
				repo.moveBranch(t, rogue.id)
				a := g.SyncOnce(bg)
				if a.Result != ResultRejected || a.Reason != ReasonNotFastForward || a.Revision != rogue.id ||
					!strings.Contains(a.Message, rogue.id) || !strings.Contains(a.Message, good) {
					t.Fatalf("%s: %+v", rogue.name, a)
				}
				if served(g) != good || g.Status().LastGood.ID != good {
					t.Fatalf("%s: serving %s, last good %s", rogue.name, served(g), g.Status().LastGood.ID)
				}
				if got := value(rejectedRevisions.WithLabelValues(ReasonNotFastForward)); got != before+1 {
					t.Fatalf("%s: NotFastForward counted %v -> %v", rogue.name, before, got)
				}
			}

			// The real history comes back with a new commit on top: applied.
			repo.moveBranch(t, good)
			repo.write("zones/corp.internal.zone", zone(2026112104, "198.18.5.83"))
			fixed := repo.commit("after the incident")
			if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != fixed {
				t.Fatalf("real history back: %+v", a)
			}

			// An operator accepts one exact rewrite on this node.
			repo.moveBranch(t, old)
			if a := g.SyncOnce(bg); a.Reason != ReasonNotFastForward {
				t.Fatalf("rewrite before accept: %+v", a)
			}
			startLoop(t, g, clk, fixed)
			srv := httptest.NewServer(g.Handler())
			defer srv.Close()
			post := func(query, token string) (int, *Attempt) {
				req, _ := http.NewRequest("POST", srv.URL+"/sync"+query, nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var res struct{ Attempt *Attempt }
				json.NewDecoder(resp.Body).Decode(&res)
				return resp.StatusCode, res.Attempt
			}
			if code, _ := post("?accept="+old, "wrong"); code != http.StatusUnauthorized || served(g) != fixed {
				t.Fatalf("accept without the token: %d, serving %s", code, served(g))
			}
			if code, _ := post("?accept="+old[:12], "tok"); code != http.StatusBadRequest {
				t.Fatalf("accept of an abbreviated id: %d", code)
			}
			if code, a := post("?accept="+old, "tok"); code != 200 || a == nil || a.Result != ResultApplied || served(g) != old || g.Status().LastGood.ID != old {
				t.Fatalf("accepted rewrite: %d %+v, serving %s", code, a, served(g))
			}
		})
	}
}

// zoneHosts is the test zone (with the gate probe's db-primary) and one A
// record per extra host.
func zoneHosts(serial int, hosts ...string) string {
	z := "$ORIGIN corp.internal.\n$TTL 300\n" +
		"@ IN SOA ns1.corp.internal. hostmaster.corp.internal. " + strconv.Itoa(serial) + " 3600 600 1209600 300\n" +
		"  IN NS ns1\n  IN NS ns2\nns1 IN A 198.18.1.1\nns2 IN A 198.18.2.1\ndb-primary IN A 198.18.5.10\n"
	for i, h := range hosts {
		z += fmt.Sprintf("%s IN A 198.18.6.%d\n", h, i+1)
	}
	return z
}

// Two commits landing within one poll: a mass deletion allowed by its own
// trailer, then an ordinary change. Each commit is judged with its own
// trailer (as CI judged them), so the head applies; and the head's trailer
// does not cover an earlier commit's deletion made without one.
func TestTrailerJudgedPerCommit(t *testing.T) {
	many := []string{"h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"}
	repo := newTestRepo(t)
	repo.write("zones/corp.internal.zone", zoneHosts(2026112101, many...))
	repo.commit("first")
	g, _ := newTestGitOps(t, remotes(t, repo)["git-daemon"], filepath.Join(t.TempDir(), "state"))
	g.Boot()
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("first sync: %+v", a)
	}
	repo.write("zones/corp.internal.zone", zoneHosts(2026112102))
	repo.commit("retire the h hosts\n\n" + cluster.MassDeleteTrailer + ": moved to the new zone")
	repo.write("zones/corp.internal.zone", zoneHosts(2026112103, "mail"))
	head := repo.commit("add mail")
	if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != head {
		t.Fatalf("two commits in one poll: %+v", a)
	}

	repo.write("zones/corp.internal.zone", zoneHosts(2026112104, append([]string{"mail"}, many...)...))
	back := repo.commit("h hosts are back")
	if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != back {
		t.Fatalf("h hosts back: %+v", a)
	}
	repo.write("zones/corp.internal.zone", zoneHosts(2026112105, "mail"))
	repo.commit("drop the h hosts, no trailer")
	repo.write("zones/corp.internal.zone", zoneHosts(2026112106, "mail", "mail2"))
	bad := repo.commit("add mail2\n\n" + cluster.MassDeleteTrailer + ": the head's trailer does not cover its parent")
	a := g.SyncOnce(bg)
	if a.Result != ResultRejected || a.Revision != bad || a.Reason != ReasonValidationFailed || served(g) != back {
		t.Fatalf("deletion without its own trailer: %+v", a)
	}
	if !strings.Contains(strings.Join(a.Findings, "\n"), cluster.RuleMassDelete) {
		t.Fatalf("findings do not name the deletion: %q", a.Findings)
	}
}

// A sync runs while an operator accepts a rewrite (the loop's poll and
// `dnsctl accept` race): whether that sync refused the rewrite afresh or
// repeated an earlier refusal, its verdict lands after the accept and must
// not undo it; the next sync applies the accepted commit.
func TestAcceptOvertakesSyncInFlight(t *testing.T) {
	for _, tc := range []struct {
		name          string
		refusedBefore bool // the in-flight sync repeats an earlier refusal
	}{
		{"refused in flight", false},
		{"repeat in flight", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := newTestRepo(t)
			old := repo.commit("old")
			repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
			good := repo.commit("good")
			g, _ := newTestGitOps(t, remotes(t, repo)["git-daemon"], filepath.Join(t.TempDir(), "state"))
			g.Boot()
			if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != good {
				t.Fatalf("first sync: %+v", a)
			}
			repo.moveBranch(t, old)
			if tc.refusedBefore {
				if a := g.SyncOnce(bg); a.Reason != ReasonNotFastForward {
					t.Fatalf("rewrite: %+v", a)
				}
			}
			inFlight := g.syncOnce(bg, g.store, newPhases())
			if inFlight.Reason != ReasonNotFastForward || strings.HasPrefix(inFlight.Message, refusedBefore) != tc.refusedBefore {
				t.Fatalf("in-flight sync: %+v", inFlight)
			}
			if err := g.Accept(old); err != nil {
				t.Fatal(err)
			}
			g.finish(inFlight)
			if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != old || g.Status().LastGood.ID != old {
				t.Fatalf("sync after the accept: %+v, serving %s", a, served(g))
			}
		})
	}
}

// refusedBefore begins the message of a sync that did not check the head
// again: it was refused before.
const refusedBefore = "head was refused before"

// A sync refuses a broken head while an operator asks for a retry (after
// fixing what made its probes fail, say): the refusal lands after the
// retry cleared the refused heads and must not stand for it; the next sync
// checks the head again instead of answering "refused before".
func TestRetryOvertakesSyncInFlight(t *testing.T) {
	repo := newTestRepo(t)
	good := repo.commit("good")
	g, _ := newTestGitOps(t, remotes(t, repo)["git-daemon"], filepath.Join(t.TempDir(), "state"))
	g.Boot()
	if a := g.SyncOnce(bg); a.Result != ResultApplied || served(g) != good {
		t.Fatalf("first sync: %+v", a)
	}
	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81")+"bad IN A 300.1.1.1\n")
	broken := repo.commit("broken")
	inFlight := g.syncOnce(bg, g.store, newPhases())
	if inFlight.Reason != ReasonValidationFailed || inFlight.Revision != broken || strings.HasPrefix(inFlight.Message, refusedBefore) {
		t.Fatalf("in-flight sync: %+v", inFlight)
	}
	g.Retry()
	g.finish(inFlight)
	if a := g.SyncOnce(bg); a.Reason != ReasonValidationFailed || strings.HasPrefix(a.Message, refusedBefore) || served(g) != good {
		t.Fatalf("sync after the retry: %+v, serving %s", a, served(g))
	}
}
