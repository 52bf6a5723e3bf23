package syncer

import (
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/internal/fakeclock"
	"github.com/gitops-dns/resolverd/node"
)

// fakeClock is time the tests move by hand (internal/fakeclock).
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock {
	return fakeclock.New(time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC))
}

// testRepo is a real git repository made with go-git, holding the config of
// testdata/config in its folder "dns".
type testRepo struct {
	t    testing.TB
	dir  string
	repo *git.Repository
	wt   *git.Worktree
	sign *openpgp.Entity // when set, commits are signed with it
	n    int
}

const cfgPath = "dns"

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
	err = filepath.WalkDir("testdata/config", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		r.write(strings.TrimPrefix(filepath.ToSlash(p), "testdata/config/"), string(data))
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

// newTestGitOps makes a syncer on repo url with a fresh or given state dir,
// a fake clock, the test metrics below and the log format of the gitops
// plugin, and probes off unless addr is given.
func newTestGitOps(t testing.TB, url, state string) (*Syncer, *fakeClock) {
	t.Helper()
	cfg := Config{
		Remote:       gitrepo.Remote{URL: url, Timeout: 5 * time.Second, Depth: DefaultDepth},
		Ref:          "refs/heads/master",
		Path:         cfgPath,
		Cluster:      "dev",
		Node:         "local",
		Poll:         5 * time.Second,
		MaxBackoff:   2 * time.Minute,
		State:        state,
		ProbeTimeout: 2 * time.Second,
		Probes:       true,
	}
	clk := newFakeClock()
	g, err := New(cfg, Options{Clock: clk, Metrics: testMetrics{}, Log: StdLogger("plugin/gitops: ")})
	if err != nil {
		t.Fatal(err)
	}
	return g, clk
}

// answer looks name up in the snapshot g serves, as the authority plugin
// would, and returns the rdata of the first answer ("" if none).
func answer(t *testing.T, src node.Source, name string) string {
	t.Helper()
	s := src.Snapshot()
	if s == nil {
		return ""
	}
	z := s.Authority.Match(name)
	if z == nil {
		return ""
	}
	a := z.Lookup(name, dns.TypeA)
	if len(a.Answer) == 0 {
		return ""
	}
	return a.Answer[0].(*dns.A).A.String()
}

func served(src node.Source) string {
	s := src.Snapshot()
	if s == nil || s.Revision == nil {
		return ""
	}
	return s.Revision.ID
}

// serveDNS answers A queries over UDP on 127.0.0.1 from the snapshot src
// serves, and CHAOS through g (the node as probes see it).
func serveDNS(t testing.TB, g *Syncer) string { return serveDNSFailing(t, g, nil) }

// serveDNSFailing is serveDNS that answers SERVFAIL while *fail is set.
func serveDNSFailing(t testing.TB, g *Syncer, fail *atomic.Bool) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		s := g.Snapshot()
		if s == nil || (fail != nil && fail.Load()) {
			m.Rcode = dns.RcodeServerFailure
		} else if z := s.Authority.Match(r.Question[0].Name); z == nil {
			m.Rcode = dns.RcodeRefused
		} else {
			a := z.Lookup(r.Question[0].Name, r.Question[0].Qtype)
			m.Rcode, m.Answer, m.Ns, m.Authoritative = a.Rcode, a.Answer, a.Ns, a.Authoritative
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

var bg = context.Background()

// startLoop runs g's sync loop until the test ends (stopping it before the
// test's temporary folders go) and waits until it serves first and sleeps
// until the next poll.
func startLoop(t *testing.T, g *Syncer, clk *fakeClock, first string) {
	t.Helper()
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { defer close(done); g.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, func() bool { return served(g) == first && clk.Pending() == 1 })
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	m := &dto.Metric{}
	if err := c.Write(m); err != nil {
		return -1
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// The counters the tests read, fed by testMetrics as plugins/gitops feeds
// its Prometheus vectors (unregistered: these are the tests' own).
var (
	syncErrors        = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sync_errors_total"}, []string{"class"})
	rejectedRevisions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rejected_revisions_total"}, []string{"reason"})
	stateCorrupt      = prometheus.NewCounter(prometheus.CounterOpts{Name: "state_corrupted_total"})
)

type testMetrics struct{ nopMetrics }

func (testMetrics) FetchFailed(class string) { syncErrors.WithLabelValues(class).Inc() }
func (testMetrics) Rejected(reason string)   { rejectedRevisions.WithLabelValues(reason).Inc() }
func (testMetrics) StateCorrupted()          { stateCorrupt.Inc() }
