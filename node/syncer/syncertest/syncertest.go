// Package syncertest makes real git repositories (go-git, on disk) holding
// a small config repo, for the tests of node/syncer and plugins/gitops: a
// cluster "dev" with one node "local" on loopback and a zone corp.internal.
// It is imported by tests only.
package syncertest

import (
	"embed"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

//go:embed testdata/config
var config embed.FS

// Path is the folder of the repository that holds the config.
const Path = "dns"

// Repo is a git repository in a temporary folder whose Path folder holds
// the config; commits go to refs/heads/master.
type Repo struct {
	T    testing.TB
	Dir  string
	Git  *git.Repository
	WT   *git.Worktree
	Sign *openpgp.Entity // when set, commits are signed with it
	n    int
}

// NewRepo makes the repository with the config written and staged (not
// committed).
func NewRepo(t testing.TB) *Repo {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config-repo")
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	r := &Repo{T: t, Dir: dir, Git: repo, WT: wt}
	sub, err := fs.Sub(config, "testdata/config")
	if err != nil {
		t.Fatal(err)
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		r.Write(p, string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Write puts a file of the config folder in the work tree and stages it.
func (r *Repo) Write(name, content string) {
	r.T.Helper()
	p := filepath.Join(r.Dir, Path, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.T.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.T.Fatal(err)
	}
	if _, err := r.WT.Add(Path + "/" + name); err != nil {
		r.T.Fatal(err)
	}
}

// Commit commits what is staged and returns its id; commit times advance a
// minute per commit from a fixed start, so ids are reproducible.
func (r *Repo) Commit(msg string) string {
	r.T.Helper()
	r.n++
	h, err := r.WT.Commit(msg, &git.CommitOptions{
		Author:            &object.Signature{Name: "Operator", Email: "ops@corp.internal", When: time.Unix(1_790_000_000+int64(r.n)*60, 0)},
		SignKey:           r.Sign,
		AllowEmptyCommits: true,
	})
	if err != nil {
		r.T.Fatal(err)
	}
	return h.String()
}

// Zone renders the config's zone corp.internal. with a serial and the
// address of www.
func Zone(serial int, www string) string {
	return "$ORIGIN corp.internal.\n$TTL 300\n" +
		"@           IN SOA  ns1.corp.internal. hostmaster.corp.internal. " + strconv.Itoa(serial) + " 3600 600 1209600 300\n" +
		"            IN NS   ns1\n" +
		"            IN NS   ns2\n" +
		"ns1         IN A    198.18.1.1\n" +
		"ns2         IN A    198.18.2.1\n" +
		"db-primary  IN A    198.18.5.10\n" +
		"www         IN A    " + www + "\n"
}

// WaitFor polls ok every 5 ms and fails the test after 10 s.
func WaitFor(t testing.TB, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
