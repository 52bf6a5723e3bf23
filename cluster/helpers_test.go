package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gittree"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// testRepo is a real git repository in a temporary folder, written through
// go-git, for tests that load revisions from commits.
type testRepo struct {
	t    *testing.T
	dir  string
	repo *git.Repository
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	dir := t.TempDir()
	r, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &testRepo{t: t, dir: dir, repo: r}
}

// loadAgainst loads the revision of commit h (its "dns" folder) against
// from (nil: from scratch).
func (r *testRepo) loadAgainst(h plumbing.Hash, from *model.Revision) (*model.Revision, []zones.Finding) {
	r.t.Helper()
	c, err := gittree.Open(r.repo, h, "dns")
	if err != nil {
		r.t.Fatal(err)
	}
	return LoadAgainst(c.FS, c.Dir, from)
}

// commit writes files (path -> content; "" content deletes the file),
// stages them and commits with msg, returning the commit id.
func (r *testRepo) commit(msg string, files map[string]string) plumbing.Hash {
	r.t.Helper()
	wt, err := r.repo.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(r.dir, filepath.FromSlash(name))
		if content == "" {
			if err := os.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			if _, err := wt.Remove(name); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			r.t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{
		AllowEmptyCommits: true,
		Author:            &object.Signature{Name: "Test", Email: "test@example.org", When: time.Unix(1_700_000_000, 0)},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return h
}

// prefixed returns files with every path put under dir.
func prefixed(dir string, files map[string]string) map[string]string {
	out := make(map[string]string, len(files))
	for k, v := range files {
		out[dir+"/"+k] = v
	}
	return out
}

// with returns a copy of base with the changes applied ("" deletes).
func with(base map[string]string, changes map[string]string) map[string]string {
	out := make(map[string]string, len(base)+len(changes))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		out[k] = v
	}
	return out
}

func findingStrings(fs []zones.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func errorsOnly(fs []zones.Finding) []zones.Finding {
	var out []zones.Finding
	for _, f := range fs {
		if f.Severity == zones.SeverityError {
			out = append(out, f)
		}
	}
	return out
}

// goodRepo is a small, valid config repo used as the base of most fixtures.
var goodRepo = map[string]string{
	"policy.yaml": `fallback:
  ttl: 30
limits:
  max_delete_percent: 10
`,
	"clusters/us-east.yaml": `name: us-east
environment: production
track: refs/heads/production
nodes:
  - {name: ns1, address: 198.18.1.1}
  - {name: ns2, address: 198.18.1.2}
zones: [corp.example., 18.198.in-addr.arpa.]
forward:
  - zone: partner.example.
    to: [198.18.9.1, "198.18.9.2:5353"]
recursion:
  allow: [198.18.0.0/15, 127.0.0.0/8]
`,
	"clusters/eu-west.yaml": `name: eu-west
environment: production
track: refs/heads/production
nodes:
  - {name: ns1, address: 198.18.2.1}
  - {name: ns2, address: 198.18.2.2}
zones: [corp.example.]
forward:
  - zone: 18.198.in-addr.arpa.
    to: [198.18.1.1, 198.18.1.2]
recursion:
  allow: [198.18.0.0/15]
`,
	"clusters/staging.yaml": `name: staging
environment: staging
track: refs/heads/main
nodes:
  - {name: stg1, address: 198.18.3.1}
recursion:
  allow: [198.18.0.0/15]
`,
	"zones/corp.example.zone": `$ORIGIN corp.example.
$TTL 3600
@       IN SOA ns1 hostmaster 2026010101 7200 3600 1209600 300
@       IN NS  ns1
@       IN NS  ns2
ns1     IN A   198.18.1.1
ns2     IN A   198.18.1.2
db      IN A   198.18.5.10
www     IN A   198.18.5.80
intranet IN CNAME www
mail    IN A   198.18.5.25
@       IN MX  10 mail
`,
	"zones/18.198.in-addr.arpa.zone": `$ORIGIN 18.198.in-addr.arpa.
$TTL 3600
@       IN SOA ns1.corp.example. hostmaster.corp.example. 2026010101 7200 3600 1209600 300
@       IN NS  ns1.corp.example.
@       IN NS  ns2.corp.example.
10.5    IN PTR db.corp.example.
80.5    IN PTR www.corp.example.
`,
	"fallback.zone": `; critical names
db.corp.example.        300 IN A 198.18.5.10
ct.log.example.         300 IN A 198.18.9.30
`,
	"probes.yaml": `probes:
  - name: db
    query: db.corp.example.
    type: A
    expect: {rcode: NOERROR, answers: [198.18.5.10]}
    gate: true
  - name: nope
    query: nope.corp.example.
    type: A
    expect: {rcode: NXDOMAIN}
`,
}
