package staging

import (
	"bytes"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/probe"
	"github.com/gitops-dns/resolverd/staging/stagingtest"
	"github.com/gitops-dns/resolverd/zones"
	"github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/miekg/dns"
)

// params fill the templates of testdata/config.
type params struct {
	FwdPort   int
	Serial    int
	DBPrimary string
	Intranet  string
}

func goodParams(fwd int) params {
	return params{FwdPort: fwd, Serial: 1, DBPrimary: "198.18.5.10", Intranet: "198.18.5.80"}
}

// testRepo is a real git repository on disk with a bare "origin" next to it.
type testRepo struct {
	t      *testing.T
	dir    string
	origin string
	repo   *git.Repository
	clock  time.Time
}

func newTestRepo(t *testing.T) *testRepo {
	t.Helper()
	base := t.TempDir()
	r := &testRepo{t: t, dir: filepath.Join(base, "work"), origin: filepath.Join(base, "origin.git"), clock: time.Date(2026, 7, 21, 12, 0, 0, 0, time.UTC)}
	if _, err := git.PlainInit(r.origin, true); err != nil {
		t.Fatal(err)
	}
	repo, err := git.PlainInit(r.dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{r.origin}}); err != nil {
		t.Fatal(err)
	}
	r.repo = repo
	return r
}

// commit writes testdata/config rendered with p into the work tree and
// commits it on top of parents (none given: on top of HEAD).
func (r *testRepo) commit(p params, msg string, parents ...plumbing.Hash) plumbing.Hash {
	t := r.t
	t.Helper()
	src := os.DirFS("testdata/config")
	err := fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, path)
		if err != nil {
			return err
		}
		tpl, err := template.New(path).Option("missingkey=error").Parse(string(data))
		if err != nil {
			return err
		}
		var b bytes.Buffer
		if err := tpl.Execute(&b, p); err != nil {
			return err
		}
		dst := filepath.Join(r.dir, path)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b.Bytes(), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	wt, err := r.repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	r.clock = r.clock.Add(time.Minute)
	sig := &object.Signature{Name: "Operator", Email: "op@corp.internal", When: r.clock}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, Parents: parents, AllowEmptyCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (r *testRepo) load(h plumbing.Hash) *model.Revision {
	r.t.Helper()
	rev, findings, err := gitrepo.LoadCommit(r.repo, h, "")
	if err != nil {
		r.t.Fatal(err)
	}
	if zones.HasErrors(findings) {
		r.t.Fatalf("fixture revision has errors: %v", findings)
	}
	return rev
}

// testNode is a small DNS server standing for one resolver node: it answers
// version.config. CH TXT with the revision it serves, names of the
// revision's zones from the zones package, fallback names outside the zones
// as the fallback plugin would (normal resolution is impossible in a test:
// no internet), and SERVFAIL for the rest.
type testNode struct {
	mu       sync.Mutex
	served   *model.Revision
	auth     *zones.Authority
	pending  *model.Revision // served after switchAt version queries
	switchAt int
	versionQ int
}

func (n *testNode) serve(rev *model.Revision) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.served, n.auth, n.pending = rev, zones.NewAuthority(rev.Zones...), nil
}

// serveAs answers the revision id of rev with the data of data: a node
// whose probes fail while it claims the right revision.
func (n *testNode) serveAs(rev, data *model.Revision) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.served, n.auth, n.pending = rev, zones.NewAuthority(data.Zones...), nil
}

func (n *testNode) serveLater(rev *model.Revision, afterQueries int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.pending, n.switchAt, n.versionQ = rev, afterQueries, 0
}

func (n *testNode) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	n.mu.Lock()
	q := r.Question[0]
	if q.Qclass == dns.ClassCHAOS {
		n.versionQ++
		if n.pending != nil && n.versionQ > n.switchAt {
			n.served, n.auth, n.pending = n.pending, zones.NewAuthority(n.pending.Zones...), nil
		}
	}
	rev, auth := n.served, n.auth
	n.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(r)
	switch {
	case q.Qclass == dns.ClassCHAOS && strings.EqualFold(q.Name, probe.VersionName) && rev != nil:
		m.Answer = []dns.RR{&dns.TXT{Hdr: dns.RR_Header{Name: probe.VersionName, Rrtype: dns.TypeTXT, Class: dns.ClassCHAOS}, Txt: []string{rev.ID}}}
	case rev == nil:
		m.Rcode = dns.RcodeServerFailure
	case auth.Match(q.Name) != nil:
		a := auth.Match(q.Name).Lookup(q.Name, q.Qtype)
		m.Rcode, m.Authoritative = a.Rcode, a.Authoritative
		m.Answer, m.Ns, m.Extra = a.Answer, a.Ns, a.Extra
	default:
		m.Rcode = dns.RcodeServerFailure
		for _, rec := range rev.Fallback {
			if strings.EqualFold(rec.RR.Header().Name, q.Name) && rec.RR.Header().Rrtype == q.Qtype {
				m.Rcode = dns.RcodeSuccess
				m.Answer = append(m.Answer, rec.RR)
			}
		}
		if m.Rcode == dns.RcodeSuccess && r.IsEdns0() != nil {
			m.SetEdns0(1232, false)
			m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_EDE{ExtraText: FallbackEDEPrefix + "servfail"})
		}
	}
	w.WriteMsg(m)
}

// forwardTarget answers every query (the SOA check of a forward target).
var forwardTarget = dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Rcode = dns.RcodeNameError
	w.WriteMsg(m)
})

// lab is a staging cluster (stg1, stg2), a canary (us-east ns1), another
// production cluster (eu-west ns1) and a forward target, on 127.0.0.2-6.
type lab struct {
	port    uint16 // DNS port of every node
	fwdPort int    // port of the forward target on 127.0.0.4
	nodes   map[string]*testNode
}

func newLab(t *testing.T) *lab {
	t.Helper()
	l := &lab{nodes: map[string]*testNode{}}
	var hs []dns.Handler
	for _, n := range []string{"stg1", "stg2", "us-east/ns1", "eu-west/ns1"} {
		tn := &testNode{}
		l.nodes[n] = tn
		hs = append(hs, tn)
	}
	l.port = uint16(stagingtest.StartNodes(t, []string{"127.0.0.2", "127.0.0.3", "127.0.0.5", "127.0.0.6"}, hs))
	l.fwdPort = stagingtest.StartNodes(t, []string{"127.0.0.4"}, []dns.Handler{forwardTarget})
	return l
}

// serve makes the nodes of a cluster serve rev.
func (l *lab) serve(clusterName string, rev *model.Revision) {
	for name, n := range l.nodes {
		if clusterName == "staging" && !strings.Contains(name, "/") || strings.HasPrefix(name, clusterName+"/") {
			n.serve(rev)
		}
	}
}

func (l *lab) opts() Options {
	return Options{Port: l.port, Wait: 5 * time.Second, Poll: 10 * time.Millisecond, Timeout: time.Second,
		Now: func() time.Time { return time.Date(2026, 7, 21, 18, 35, 0, 0, time.UTC) }}
}

// deadPort is a port where nothing listens on 127.0.0.4.
func deadPort(t *testing.T) int {
	pc, err := net.ListenPacket("udp", "127.0.0.4:0")
	if err != nil {
		t.Fatal(err)
	}
	p := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	return p
}
