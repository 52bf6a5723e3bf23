package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/probe"
	"github.com/gitops-dns/resolverd/staging"
	"github.com/gitops-dns/resolverd/staging/stagingtest"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/miekg/dns"
)

// The verify and promote tests run dnsctl in-process against a real git
// repository (with a bare "origin") and real DNS servers on 127.0.0.2-3
// standing for the staging nodes: they answer version.config. CH TXT with the
// revision they serve and the names of its zones from the zones package.
// The config is staging's fixture (../../staging/testdata/config).

type stagingNode struct {
	mu   sync.Mutex
	rev  *model.Revision
	auth *zones.Authority
}

func (n *stagingNode) serve(rev *model.Revision) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rev, n.auth = rev, zones.NewAuthority(rev.Zones...)
}

func (n *stagingNode) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	n.mu.Lock()
	rev, auth := n.rev, n.auth
	n.mu.Unlock()
	q := r.Question[0]
	m := new(dns.Msg)
	m.SetReply(r)
	switch {
	case rev == nil:
		m.Rcode = dns.RcodeServerFailure
	case q.Qclass == dns.ClassCHAOS && strings.EqualFold(q.Name, probe.VersionName):
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: []string{rev.ID}}}
	case auth.Match(q.Name) != nil:
		a := auth.Match(q.Name).Lookup(q.Name, q.Qtype)
		m.Rcode, m.Authoritative, m.Answer, m.Ns = a.Rcode, a.Authoritative, a.Answer, a.Ns
	default:
		m.Rcode = dns.RcodeServerFailure
	}
	w.WriteMsg(m)
}

type verifyFixture struct {
	t       *testing.T
	dir     string // the config repo (work tree)
	origin  string // its bare remote
	repo    *git.Repository
	nodes   []*stagingNode
	port    int
	fwdPort int
	n       int
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	base := t.TempDir()
	f := &verifyFixture{t: t, dir: filepath.Join(base, "config"), origin: filepath.Join(base, "origin.git")}
	if _, err := git.PlainInit(f.origin, true); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInit(f.dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{f.origin}}); err != nil {
		t.Fatal(err)
	}
	f.repo = repo
	f.nodes = []*stagingNode{{}, {}}
	f.port = stagingtest.StartNodes(t, []string{"127.0.0.2", "127.0.0.3"}, []dns.Handler{f.nodes[0], f.nodes[1]})
	f.fwdPort = stagingtest.StartNodes(t, []string{"127.0.0.4"}, []dns.Handler{dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, dns.RcodeNameError)
		w.WriteMsg(m)
	})})
	return f
}

// commit renders the fixture config with db-primary at dbPrimary and
// commits it on top of parents (default HEAD).
func (f *verifyFixture) commit(dbPrimary string, parents ...plumbing.Hash) plumbing.Hash {
	t := f.t
	f.n++
	p := map[string]any{"FwdPort": f.fwdPort, "Serial": f.n, "DBPrimary": dbPrimary, "Intranet": "198.18.5.80"}
	src := os.DirFS("../../staging/testdata/config")
	err := fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, path)
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := template.Must(template.New(path).Parse(string(data))).Execute(&b, p); err != nil {
			return err
		}
		dst := filepath.Join(f.dir, path)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		return os.WriteFile(dst, b.Bytes(), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := f.repo.Worktree()
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Operator", Email: "op@corp.internal", When: time.Unix(1_767_225_600+int64(f.n)*60, 0).UTC()}
	h, err := wt.Commit(fmt.Sprintf("revision %d", f.n), &git.CommitOptions{Author: sig, Committer: sig, Parents: parents})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *verifyFixture) serve(h plumbing.Hash) {
	rev, _, err := gitrepo.LoadCommit(f.repo, h, "")
	if err != nil {
		f.t.Fatal(err)
	}
	for _, n := range f.nodes {
		n.serve(rev)
	}
}

func (f *verifyFixture) verify(h plumbing.Hash, extra ...string) (string, string, int) {
	args := append([]string{"verify", "--cluster", "staging", h.String(), "--port", strconv.Itoa(f.port), "--wait", "1s", "--timeout", "1s"}, extra...)
	return dnsctl(f.t, f.dir, args...)
}

func (f *verifyFixture) originRef(name string) plumbing.Hash {
	r, err := git.PlainOpen(f.origin)
	if err != nil {
		f.t.Fatal(err)
	}
	ref, err := r.Reference(plumbing.ReferenceName(name), false)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

func (f *verifyFixture) normalize(s string, ids ...plumbing.Hash) string {
	pairs := []string{":" + strconv.Itoa(f.port), ":NODE_PORT", ":" + strconv.Itoa(f.fwdPort), ":FWD_PORT"}
	for i, h := range ids {
		pairs = append(pairs, h.String(), fmt.Sprintf("REV%d", i+1))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

func goldenFile(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		os.MkdirAll(filepath.Dir(path), 0o755)
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

func TestVerifyAndPromote(t *testing.T) {
	verifyNow = func() time.Time { return time.Date(2026, 7, 21, 18, 35, 0, 0, time.UTC) }
	defer func() { verifyNow = time.Now }()
	f := newVerifyFixture(t)
	good := f.commit("198.18.5.10")

	// Not verified yet: refused, nothing moves.
	_, stderr, code := dnsctl(t, f.dir, "promote", good.String(), "--to", "production")
	if code != exitFindings || !strings.Contains(stderr, "revision not verified") || !strings.Contains(stderr, "dnsctl verify --cluster staging") {
		t.Fatalf("promote unverified: exit %d, stderr %q", code, stderr)
	}
	if !f.originRef("refs/heads/production").IsZero() {
		t.Fatal("production moved")
	}

	// A good revision passes (golden text report) and is recorded.
	f.serve(good)
	stdout, stderr, code := f.verify(good)
	if code != exitOK {
		t.Fatalf("verify good: exit %d\n%s\n%s", code, stdout, stderr)
	}
	goldenFile(t, "testdata/verify/pass.txt", f.normalize(stdout, good))
	if !strings.Contains(stderr, "recorded as verified/staging/"+good.String()) {
		t.Fatalf("stderr %q", stderr)
	}
	// JSON of the same run (already recorded: kept, not rewritten).
	stdout, stderr, code = f.verify(good, "--format", "json")
	var rep staging.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitOK || !rep.Pass || rep.Revision != good.String() {
		t.Fatalf("json: exit %d err %v %+v", code, err, rep)
	}
	if !strings.Contains(stderr, "already recorded") {
		t.Fatalf("stderr %q", stderr)
	}

	// Promoted: production moves on origin, fast-forward (created).
	stdout, stderr, code = dnsctl(t, f.dir, "promote", good.String(), "--to", "production")
	if code != exitOK || f.originRef("refs/heads/production") != good {
		t.Fatalf("promote good: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "refs/heads/production created at "+good.String()+" on origin") {
		t.Fatalf("stdout %q", stdout)
	}

	// A revision that breaks a probed name fails verify (exit 1) and
	// cannot be promoted.
	bad := f.commit("198.18.5.99")
	f.serve(bad)
	stdout, stderr, code = f.verify(bad, "--format", "markdown")
	if code != exitFindings || !strings.Contains(stdout, "❌ fail | probe | stg1 | db-primary") || !strings.Contains(stderr, "cannot be promoted") {
		t.Fatalf("verify bad: exit %d\n%s\n%s", code, stdout, stderr)
	}
	_, stderr, code = dnsctl(t, f.dir, "promote", bad.String(), "--to", "production")
	if code != exitFindings || !strings.Contains(stderr, "revision not verified") {
		t.Fatalf("promote bad: exit %d %q", code, stderr)
	}

	// A fix on top passes and fast-forwards production.
	fix := f.commit("198.18.5.10")
	f.serve(fix)
	if _, stderr, code := f.verify(fix, "--format", "html"); code != exitOK {
		t.Fatalf("verify fix: exit %d %s", code, stderr)
	}
	stdout, _, code = dnsctl(t, f.dir, "promote", "--to", "production", fix.String())
	if code != exitOK || f.originRef("refs/heads/production") != fix || !strings.Contains(stdout, "(fast-forward)") {
		t.Fatalf("promote fix: exit %d %q", code, stdout)
	}

	// A verified revision beside production is not a fast-forward.
	side := f.commit("198.18.5.10", good)
	f.serve(side)
	if _, stderr, code := f.verify(side); code != exitOK {
		t.Fatalf("verify side: exit %d %s", code, stderr)
	}
	_, stderr, code = dnsctl(t, f.dir, "promote", side.String(), "--to", "production")
	if code != exitFindings || !strings.Contains(stderr, "not a fast-forward") {
		t.Fatalf("promote side: exit %d %q", code, stderr)
	}
	if f.originRef("refs/heads/production") != fix {
		t.Fatal("production moved by a refused promotion")
	}
}

func TestVerifyCannotRun(t *testing.T) {
	f := newVerifyFixture(t)
	h := f.commit("198.18.5.10")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no cluster flag", []string{"verify", h.String()}, "usage: dnsctl verify"},
		{"no revision", []string{"verify", "--cluster", "staging"}, "usage: dnsctl verify"},
		{"unknown cluster", []string{"verify", "--cluster", "mars", h.String()}, `no such cluster "mars"`},
		{"unknown revision", []string{"verify", "--cluster", "staging", "nope"}, `resolving "nope"`},
		{"bad format", []string{"verify", "--cluster", "staging", "--format", "pdf", h.String()}, "unknown --format"},
		{"bad node", []string{"verify", "--cluster", "staging", "--node", "stg1=here", h.String()}, "node stg1"},
		{"promote no revision", []string{"promote", "--to", "production"}, "usage: dnsctl promote"},
		{"promote bad env", []string{"promote", "--to", "mars", h.String()}, `--to "mars"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, stderr, code := dnsctl(t, f.dir, tc.args...)
			if code != exitCannotRun || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr, tc.want)
			}
		})
	}
}

// TestVerifyNodeOverride asks nodes through --node instead of --port.
func TestVerifyNodeOverride(t *testing.T) {
	f := newVerifyFixture(t)
	h := f.commit("198.18.5.10")
	f.serve(h)
	_, stderr, code := dnsctl(t, f.dir, "verify", "--cluster", "staging", "--wait", "1s", "--record=false",
		"--node", fmt.Sprintf("stg1=127.0.0.2:%d", f.port), "--node", fmt.Sprintf("stg2=127.0.0.3:%d", f.port), h.String())
	if code != exitOK {
		t.Fatalf("exit %d %s", code, stderr)
	}
	if _, err := f.repo.Reference(staging.VerifiedTag("staging", h.String()), false); err == nil {
		t.Fatal("--record=false recorded the verification")
	}
}
