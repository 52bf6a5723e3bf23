package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/node/syncer"
	"github.com/gitops-dns/resolverd/node/syncer/syncertest"
)

// dnsctl accept makes a real node's sync endpoint apply one exact rewrite
// it refused (NotFastForward); without the token nothing changes.
func TestAcceptRewrite(t *testing.T) {
	repo := syncertest.NewRepo(t)
	old := repo.Commit("old")
	repo.Write("zones/corp.internal.zone", syncertest.Zone(2026112102, "198.18.5.81"))
	good := repo.Commit("good")
	token := filepath.Join(t.TempDir(), "token")
	os.WriteFile(token, []byte("tok\n"), 0o600)
	g, err := syncer.New(syncer.Config{
		Remote: gitrepo.Remote{URL: repo.Dir, Timeout: 5 * time.Second, Depth: 1},
		Ref:    "master", Path: syncertest.Path, Cluster: "dev", Node: "local",
		Poll: time.Hour, State: filepath.Join(t.TempDir(), "state"), SyncTokenFile: token,
	}, syncer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	g.Boot()
	if a := g.SyncOnce(context.Background()); a.Revision != good || a.Result != syncer.ResultApplied {
		t.Fatalf("first sync: %+v", a)
	}
	if err := repo.Git.Storer.SetReference(plumbing.NewHashReference("refs/heads/master", plumbing.NewHash(old))); err != nil {
		t.Fatal(err)
	}
	if a := g.SyncOnce(context.Background()); a.Reason != syncer.ReasonNotFastForward {
		t.Fatalf("rewrite: %+v", a)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	wrong := filepath.Join(t.TempDir(), "wrong")
	os.WriteFile(wrong, []byte("nope"), 0o600)
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		output string
	}{
		{"abbreviated id", []string{"accept", "--node", srv.URL, "--token-file", token, old[:12]}, exitCannotRun, "not a full commit id"},
		{"wrong token", []string{"accept", "--node", srv.URL, "--token-file", wrong, old}, exitCannotRun, "401 Unauthorized"},
		{"accepted", []string{"accept", "--node", strings.TrimPrefix(srv.URL, "http://"), "--token-file", token, old}, exitOK, " " + old},
	} {
		var stdout, stderr bytes.Buffer
		code := run(tc.args, &stdout, &stderr, "")
		if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.output) {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", tc.name, code, stdout.String(), stderr.String())
		}
		if tc.code != exitOK && g.Status().LastGood.ID != good {
			t.Fatalf("%s: last good moved to %s", tc.name, g.Status().LastGood.ID)
		}
	}
	if st := g.Status(); st.LastGood.ID != old || st.Applied.ID != old {
		t.Fatalf("after accept: %+v", st)
	}
}
