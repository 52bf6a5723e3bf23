package gitops

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// testRepo is a real git repository made with go-git, holding the config
// the syncer's tests use (node/syncer/testdata/config) in its folder "dns".
type testRepo struct {
	t    testing.TB
	dir  string
	repo *git.Repository
	wt   *git.Worktree
	sign *openpgp.Entity // when set, commits are signed with it
	n    int
}

const cfgPath = "dns"

// testConfig is the syncer tests' config folder, shared rather than copied.
const testConfig = "../../node/syncer/testdata/config"

func newTestRepo(t testing.TB) *testRepo {
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
	r := &testRepo{t: t, dir: dir, repo: repo, wt: wt}
	err = filepath.WalkDir(testConfig, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r.write(strings.TrimPrefix(filepath.ToSlash(p), testConfig+"/"), string(data))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// write puts a file of the config folder in the work tree and stages it.
func (r *testRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, cfgPath, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.wt.Add(cfgPath + "/" + name); err != nil {
		r.t.Fatal(err)
	}
}

// commit commits what is staged on refs/heads/master and returns its id.
func (r *testRepo) commit(msg string) string {
	r.t.Helper()
	r.n++
	h, err := r.wt.Commit(msg, &git.CommitOptions{
		Author:            &object.Signature{Name: "Operator", Email: "ops@corp.internal", When: time.Unix(1_790_000_000+int64(r.n)*60, 0)},
		SignKey:           r.sign,
		AllowEmptyCommits: true,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}

// zone renders the test zone with a serial and the address of www.
func zone(serial int, www string) string {
	return "$ORIGIN corp.internal.\n$TTL 300\n" +
		"@           IN SOA  ns1.corp.internal. hostmaster.corp.internal. " + itoa(serial) + " 3600 600 1209600 300\n" +
		"            IN NS   ns1\n" +
		"            IN NS   ns2\n" +
		"ns1         IN A    198.18.1.1\n" +
		"ns2         IN A    198.18.2.1\n" +
		"db-primary  IN A    198.18.5.10\n" +
		"www         IN A    " + www + "\n"
}

func itoa(n int) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
