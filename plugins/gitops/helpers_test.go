package gitops

import (
	"testing"

	"github.com/go-git/go-git/v5"

	"github.com/gitops-dns/resolverd/node/syncer/syncertest"
)

// testRepo is syncertest.Repo under the names these tests use.
type testRepo struct {
	*syncertest.Repo
	dir  string
	repo *git.Repository
}

const cfgPath = syncertest.Path

func newTestRepo(t testing.TB) *testRepo {
	t.Helper()
	r := syncertest.NewRepo(t)
	return &testRepo{Repo: r, dir: r.Dir, repo: r.Git}
}

func (r *testRepo) write(name, content string) { r.Write(name, content) }

func (r *testRepo) commit(msg string) string { return r.Commit(msg) }

func zone(serial int, www string) string { return syncertest.Zone(serial, www) }

func waitFor(t *testing.T, ok func() bool) { syncertest.WaitFor(t, ok) }
