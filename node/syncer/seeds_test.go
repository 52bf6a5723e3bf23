package syncer

import (
	"bytes"
	"encoding/json"
	golog "log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/gitrepo/gittest"
)

// Seed 001 (Ironforge): the remote answers 404, refuses auth, or is gone,
// for an hour of fake time. The node keeps serving, purges nothing, backs
// off, and its status says why; when the remote is back it syncs again.
func TestIronforgeRemoteFailsForAnHour(t *testing.T) {
	for _, tc := range []struct {
		mode, class, reason string
	}{
		{gittest.NotFound, "repo-not-found", "RepoNotFound"},
		{gittest.Unauth, "auth-refused", "AuthRefused"},
		{gittest.Forbidden, "auth-refused", "AuthRefused"},
		{gittest.Broken, "unreachable", "Unreachable"},
		{gittest.Reset, "unreachable", "Unreachable"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			repo := newTestRepo(t)
			good := repo.commit("good")
			srv := gittest.StartHTTP(t, filepath.Dir(repo.dir))
			state := filepath.Join(t.TempDir(), "state")
			g, clk := newTestGitOps(t, srv.URL(filepath.Base(repo.dir)), state)
			g.Boot()
			if a := g.SyncOnce(bg); a.Result != ResultApplied {
				t.Fatalf("first sync: %+v", a)
			}
			record, _ := os.ReadFile(filepath.Join(state, gitrepo.LastGoodFile))
			errsBefore := value(syncErrors.WithLabelValues(tc.class))

			srv.SetMode(tc.mode)
			repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
			repo.commit("pushed while the remote is broken")
			start := clk.Now()
			attempts := 0
			for clk.Now().Sub(start) < time.Hour {
				a := g.SyncOnce(bg)
				attempts++
				if a.Result != ResultFetchFailed || a.Class != tc.class {
					t.Fatalf("attempt %d: %+v", attempts, a)
				}
				if served(g) != good || answer(t, g, "www.corp.internal.") != "198.18.5.80" {
					t.Fatalf("attempt %d changed what is served", attempts)
				}
				clk.Advance(g.backoff.Delay(g.Status().Failures))
			}
			if attempts < 10 || attempts > 120 {
				t.Fatalf("%d attempts in an hour: back-off is not bounded sensibly", attempts)
			}
			if got := value(syncErrors.WithLabelValues(tc.class)) - errsBefore; got != float64(attempts) {
				t.Fatalf("sync_errors_total{class=%s} grew by %v, want %d", tc.class, got, attempts)
			}
			st := g.Status()
			if c := cond(st, CondStalled); c.Status != "True" || c.Reason != tc.reason {
				t.Fatalf("Stalled: %+v", c)
			}
			if c := cond(st, CondReady); c.Status != "True" || c.Reason != "ServingLastKnownGood" {
				t.Fatalf("Ready: %+v", c)
			}
			if c := cond(st, CondReconciling); c.Status != "True" || c.Reason != "RetryingAfterFailure" {
				t.Fatalf("Reconciling: %+v", c)
			}
			if st.LastGood.ID != good || st.Applied.ID != good || st.Failures != attempts {
				t.Fatalf("status: applied %s last good %s failures %d", st.Applied.ID, st.LastGood.ID, st.Failures)
			}
			// History: the applied revision, then one entry counting the failures.
			if h := st.History; len(h) != 2 || h[0].Result != ResultApplied || h[1].Class != tc.class || h[1].Count != attempts {
				t.Fatalf("history: %+v", h)
			}
			// Nothing purged: the record and the objects are as they were.
			if now, _ := os.ReadFile(filepath.Join(state, gitrepo.LastGoodFile)); !bytes.Equal(now, record) {
				t.Fatal("last good record changed")
			}
			if err := g.store.CheckCommit(plumbing.NewHash(good), cfgPath, 1000); err != nil {
				t.Fatalf("objects of the last good revision: %v", err)
			}
			// A restart during the outage still serves the last good revision.
			g2, _ := newTestGitOps(t, srv.URL(filepath.Base(repo.dir)), state)
			g2.Boot()
			if served(g2) != good {
				t.Fatalf("restart during the outage serves %q", served(g2))
			}

			srv.SetMode(gittest.Healthy)
			a := g.SyncOnce(bg)
			if a.Result != ResultApplied || answer(t, g, "www.corp.internal.") != "198.18.5.81" {
				t.Fatalf("after recovery: %+v", a)
			}
			if st := g.Status(); st.Failures != 0 || cond(st, CondStalled).Status != "False" {
				t.Fatalf("status after recovery: %+v", st)
			}
		})
	}
}

// Seed 002 (Aiven): a revision signed by an unknown key, or unsigned, is
// refused; the node keeps the last good revision, also across a restart.
func TestAivenUntrustedSignatureRefused(t *testing.T) {
	release := gittest.NewKey(t, "release")
	intruder := gittest.NewKey(t, "intruder")
	trust := filepath.Join(t.TempDir(), "trusted.asc")
	os.WriteFile(trust, gittest.Keyring(t, release), 0o644)

	repo := newTestRepo(t)
	repo.sign = release
	good := repo.commit("signed by release")
	state := filepath.Join(t.TempDir(), "state")
	newG := func() *Syncer {
		g, _ := newTestGitOps(t, repo.dir, state)
		k, err := gitrepo.LoadKeyring(trust)
		if err != nil {
			t.Fatal(err)
		}
		g.keyring, g.cfg.Trust = k, trust
		return g
	}
	g := newG()
	g.Boot()
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("signed revision: %+v", a)
	}
	if c := cond(g.Status(), CondSourceVerified); c.Status != "True" || !strings.Contains(c.Message, release.PrimaryKey.KeyIdString()) {
		t.Fatalf("SourceVerified: %+v", c)
	}

	for _, tc := range []struct {
		name   string
		key    any
		reason string
	}{
		{"unknown key", intruder, gitrepo.ReasonUntrusted},
		{"unsigned", nil, gitrepo.ReasonUnsigned},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := value(rejectedRevisions.WithLabelValues(tc.reason))
			repo.sign = nil
			if tc.key != nil {
				repo.sign = intruder
			}
			repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.6.66"))
			bad := repo.commit("not from release")
			a := g.SyncOnce(bg)
			if a.Result != ResultRejected || a.Reason != tc.reason || a.Revision != bad {
				t.Fatalf("%+v", a)
			}
			if served(g) != good || answer(t, g, "www.corp.internal.") != "198.18.5.80" {
				t.Fatal("an untrusted revision changed what is served")
			}
			if value(rejectedRevisions.WithLabelValues(tc.reason)) != before+1 {
				t.Fatal("refusal not counted")
			}
			st := g.Status()
			if c := cond(st, CondSourceVerified); c.Status != "False" || c.Reason != tc.reason {
				t.Fatalf("SourceVerified: %+v", c)
			}
			if c := cond(st, CondStalled); c.Status != "True" || c.Reason != tc.reason {
				t.Fatalf("Stalled: %+v", c)
			}
			if st.LastGood.ID != good {
				t.Fatalf("last good %s", st.LastGood.ID)
			}
		})
	}
	g2 := newG()
	g2.Boot()
	if served(g2) != good {
		t.Fatalf("restart serves %q, want %s", served(g2), good)
	}
	// With the release key no longer trusted, the recorded revision is not
	// served at boot either.
	rotated := filepath.Join(t.TempDir(), "rotated.asc")
	os.WriteFile(rotated, gittest.Keyring(t, intruder), 0o644)
	g3, _ := newTestGitOps(t, repo.dir, state)
	g3.keyring, _ = gitrepo.LoadKeyring(rotated)
	g3.Boot()
	if g3.Ready() {
		t.Fatalf("boot served %q signed by a key no longer trusted", served(g3))
	}
	// The operator signs a fix with the release key: applied.
	repo.sign = release
	repo.write("zones/corp.internal.zone", zone(2026112103, "198.18.5.82"))
	fix := repo.commit("signed fix")
	if a := g2.SyncOnce(bg); a.Result != ResultApplied || a.Revision != fix {
		t.Fatalf("signed fix: %+v", a)
	}
}

// Without keys, the node says so at start and SourceVerified is Unknown.
func TestNoTrustWarns(t *testing.T) {
	var buf syncBuffer
	golog.SetOutput(&buf)
	defer golog.SetOutput(os.Stderr)
	repo := newTestRepo(t)
	repo.commit("first")
	g, _ := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	if !strings.Contains(buf.String(), "NO TRUSTED KEYS CONFIGURED") {
		t.Fatalf("no warning in %q", buf.String())
	}
	if c := cond(g.Status(), CondSourceVerified); c.Status != "Unknown" || c.Reason != "NoTrustedKeys" {
		t.Fatalf("SourceVerified: %+v", c)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Restart with the remote (git daemon) unreachable serves the last good
// revision before trying the network.
func TestRestartRemoteUnreachable(t *testing.T) {
	repo := newTestRepo(t)
	good := repo.commit("good")
	daemon := gittest.StartDaemon(t, filepath.Dir(repo.dir))
	url := daemon.URL(filepath.Base(repo.dir))
	state := filepath.Join(t.TempDir(), "state")
	g, _ := newTestGitOps(t, url, state)
	g.Boot()
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("sync over git://: %+v", a)
	}
	daemon.Stop()

	g2, _ := newTestGitOps(t, url, state)
	g2.Boot()
	if served(g2) != good || !g2.Ready() {
		t.Fatalf("restart serves %q", served(g2))
	}
	if h := g2.Status().History; len(h) != 1 || h[0].Result != ResultBooted {
		t.Fatalf("history: %+v", h)
	}
	a := g2.SyncOnce(bg)
	if a.Result != ResultFetchFailed || a.Class != string(gitrepo.ClassUnreachable) || served(g2) != good {
		t.Fatalf("fetch with the daemon down: %+v", a)
	}
}

// A corrupted state dir whose snapshot is gone too is refused loudly at
// boot, never served, moved aside; the node recovers from the remote when
// it can. (With its snapshot, the node serves that: state_test.go.)
func TestCorruptedStateRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, state string)
	}{
		{"damaged objects", func(t *testing.T, state string) {
			packs, _ := filepath.Glob(filepath.Join(state, gitrepo.RepoDir, "objects", "pack", "*.pack"))
			loose, _ := filepath.Glob(filepath.Join(state, gitrepo.RepoDir, "objects", "??", "*"))
			for _, p := range append(packs, loose...) {
				data, _ := os.ReadFile(p)
				for i := 12; i < len(data)-20; i += 5 {
					data[i] ^= 0x5a
				}
				os.WriteFile(p, data, 0o644)
			}
			if len(packs)+len(loose) == 0 {
				t.Fatal("no objects to damage")
			}
		}},
		{"objects deleted", func(t *testing.T, state string) {
			os.RemoveAll(filepath.Join(state, gitrepo.RepoDir, "objects"))
			os.MkdirAll(filepath.Join(state, gitrepo.RepoDir, "objects"), 0o755)
		}},
		{"record and ref garbled", func(t *testing.T, state string) {
			os.WriteFile(filepath.Join(state, gitrepo.LastGoodFile), []byte(`{"revision": "deadbeef`), 0o644)
			os.WriteFile(filepath.Join(state, gitrepo.RepoDir, gitrepo.LastGoodRef), []byte("dead"), 0o644)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := newTestRepo(t)
			good := repo.commit("good")
			daemon := gittest.StartDaemon(t, filepath.Dir(repo.dir))
			url := daemon.URL(filepath.Base(repo.dir))
			state := filepath.Join(t.TempDir(), "state")
			g, _ := newTestGitOps(t, url, state)
			g.Boot()
			if a := g.SyncOnce(bg); a.Result != ResultApplied {
				t.Fatalf("sync: %+v", a)
			}
			daemon.Stop()
			tc.corrupt(t, state)
			if err := os.Remove(filepath.Join(state, gitrepo.SnapshotFile)); err != nil {
				t.Fatal(err)
			}

			var buf syncBuffer
			golog.SetOutput(&buf)
			defer golog.SetOutput(os.Stderr)
			before := value(stateCorrupt)
			g2, _ := newTestGitOps(t, url, state)
			g2.Boot()
			if g2.Ready() || served(g2) != "" {
				t.Fatalf("a corrupted state dir is served: %q", served(g2))
			}
			if !strings.Contains(buf.String(), "[ERROR] plugin/gitops: STATE DIRECTORY CORRUPTED") {
				t.Fatalf("not reported loudly: %q", buf.String())
			}
			if value(stateCorrupt) != before+1 {
				t.Fatal("state_corrupted_total not counted")
			}
			if c := cond(g2.Status(), CondReady); c.Status != "False" || c.Reason != ReasonStateCorrupted {
				t.Fatalf("Ready: %+v", c)
			}
			q, _ := filepath.Glob(filepath.Join(state, "quarantine-*", gitrepo.RepoDir))
			if len(q) != 1 {
				t.Fatalf("corrupted repository not kept aside: %v", q)
			}
			if a := g2.SyncOnce(bg); a.Result != ResultFetchFailed {
				t.Fatalf("remote down: %+v", a)
			}
			if g2.Ready() {
				t.Fatal("ready with nothing valid to serve")
			}
			// The remote comes back: a fresh clone is applied.
			d2 := gittest.StartDaemon(t, filepath.Dir(repo.dir))
			g2.cfg.Remote.URL = d2.URL(filepath.Base(repo.dir))
			if a := g2.SyncOnce(bg); a.Result != ResultApplied || served(g2) != good {
				t.Fatalf("recovery: %+v", a)
			}
		})
	}
}

// The status endpoint reports conditions; the sync endpoint needs the
// bearer token and syncs now.
func TestHTTPStatusAndSync(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	g, clk := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("s3cret-token\n"), 0o600)
	g.cfg.SyncTokenFile = tokenFile
	g.Boot()
	startLoop(t, g, clk, first)
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/status")
	if err != nil {
		t.Fatal(err)
	}
	var st Status
	json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if st.Applied.ID != first || cond(st, CondReady).Status != "True" || len(st.Conditions) != 4 || st.Cluster != "dev" {
		t.Fatalf("status: %+v", st)
	}

	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
	second := repo.commit("second")
	post := func(auth string) *http.Response {
		req, _ := http.NewRequest("POST", srv.URL+"/sync", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for _, bad := range []string{"", "Bearer wrong", "Basic czNjcmV0LXRva2Vu"} {
		if r := post(bad); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("sync with %q: %d", bad, r.StatusCode)
		}
	}
	if served(g) != first {
		t.Fatal("an unauthenticated request synced")
	}
	r := post("Bearer s3cret-token")
	var res struct {
		Attempt *Attempt
		Status  Status
	}
	json.NewDecoder(r.Body).Decode(&res)
	r.Body.Close()
	if r.StatusCode != 200 || res.Attempt == nil || res.Attempt.Result != ResultApplied || res.Attempt.Revision != second || served(g) != second {
		t.Fatalf("sync: %d %+v", r.StatusCode, res.Attempt)
	}

	g.cfg.SyncTokenFile = ""
	if r := post("Bearer s3cret-token"); r.StatusCode != http.StatusForbidden {
		t.Fatalf("sync without a token file configured: %d", r.StatusCode)
	}
}

// A gate probe fails for a reason outside the revision; once that is
// fixed, POST /sync?retry=1 evaluates the refused head again.
func TestRetryAfterTransientProbeFailure(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	g, clk := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	var broken atomic.Bool
	g.SetProbeAddr(serveDNSFailing(t, g, &broken))
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok"), 0o600)
	g.cfg.SyncTokenFile = tokenFile
	g.Boot()
	startLoop(t, g, clk, first)
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()
	sync := func(query string) Attempt {
		req, _ := http.NewRequest("POST", srv.URL+"/sync"+query, nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var res struct{ Attempt *Attempt }
		json.NewDecoder(resp.Body).Decode(&res)
		if res.Attempt == nil {
			t.Fatalf("no attempt in the answer (%d)", resp.StatusCode)
		}
		return *res.Attempt
	}

	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
	second := repo.commit("second")
	broken.Store(true)
	if a := sync(""); a.Result != ResultRolledBack || served(g) != first {
		t.Fatalf("with the node failing its probes: %+v", a)
	}
	broken.Store(false)
	if a := sync(""); a.Result != ResultRejected || served(g) != first {
		t.Fatalf("plain sync re-evaluated a refused head: %+v", a)
	}
	if a := sync("?retry=1"); a.Result != ResultApplied || served(g) != second {
		t.Fatalf("retry: %+v", a)
	}
}

// SIGHUP syncs now.
func TestSIGHUP(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	g, clk := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	waitFor(t, func() bool { return served(g) == first && clk.Pending() == 1 })
	repo.write("zones/corp.internal.zone", zone(2026112102, "198.18.5.81"))
	second := repo.commit("second")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return served(g) == second })
}
