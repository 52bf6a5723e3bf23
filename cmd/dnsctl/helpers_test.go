package main

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// gitRepo is a real git repository in a temporary folder, written with
// go-git. Commits have fixed times, so their ids are stable across runs.
type gitRepo struct {
	t    *testing.T
	dir  string
	repo *git.Repository
	n    int
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &gitRepo{t: t, dir: dir, repo: r}
}

// commitTree replaces the folder sub of the work tree with the files of
// the fixture folder src (under testdata/), plus extra files (path ->
// content) at the repository root, and commits everything.
func (g *gitRepo) commitTree(msg, sub, src string, extra map[string]string) plumbing.Hash {
	g.t.Helper()
	wt, err := g.repo.Worktree()
	if err != nil {
		g.t.Fatal(err)
	}
	dst := filepath.Join(g.dir, sub)
	if sub != "." {
		if err := os.RemoveAll(dst); err != nil {
			g.t.Fatal(err)
		}
	}
	if src != "" {
		err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(src, p)
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out := filepath.Join(dst, rel)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			return os.WriteFile(out, data, 0o644)
		})
		if err != nil {
			g.t.Fatal(err)
		}
	}
	for name, content := range extra {
		p := filepath.Join(g.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			g.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		g.t.Fatal(err)
	}
	g.n++
	h, err := wt.Commit(msg, &git.CommitOptions{
		AllowEmptyCommits: true,
		Author:            &object.Signature{Name: "Operator", Email: "ops@example.org", When: time.Unix(1_767_225_600+int64(g.n)*60, 0).UTC()},
	})
	if err != nil {
		g.t.Fatal(err)
	}
	return h
}

// dnsctl runs one command line in-process from folder cwd.
func dnsctl(t *testing.T, cwd string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e, cwd)
	return o.String(), e.String(), code
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// monorepo builds the fixture used by most tests: a monorepo whose folder
// dns/ is the config repo; commit 1 is testdata/base, commit 2 testdata/head.
func monorepo(t *testing.T) (g *gitRepo, base, head plumbing.Hash) {
	g = newGitRepo(t)
	base = g.commitTree("Initial DNS config", "dns", "testdata/base", map[string]string{"README.md": "monorepo\n", "app/main.txt": "app\n"})
	head = g.commitTree("Partner forwarding across datacenters\n\nMove partner.example. resolution between us-east and eu-west.\n", "dns", "testdata/head", nil)
	return g, base, head
}
