package syncer

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/go-git/go-git/v5"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gitops-dns/resolverd/cluster/gitrepo"
	"github.com/gitops-dns/resolverd/internal/fakeclock"
	"github.com/gitops-dns/resolverd/node"
	"github.com/gitops-dns/resolverd/node/syncer/syncertest"
)

// fakeClock is time the tests move by hand (internal/fakeclock).
type fakeClock = fakeclock.Clock

func newFakeClock() *fakeClock {
	return fakeclock.New(time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC))
}

// testRepo is syncertest.Repo under the names these tests use.
type testRepo struct {
	*syncertest.Repo
	dir  string
	repo *git.Repository
	wt   *git.Worktree
	sign *openpgp.Entity // when set, commits are signed with it
}

const cfgPath = syncertest.Path

func newTestRepo(t testing.TB) *testRepo {
	t.Helper()
	r := syncertest.NewRepo(t)
	return &testRepo{Repo: r, dir: r.Dir, repo: r.Git, wt: r.WT}
}

func (r *testRepo) write(name, content string) { r.Write(name, content) }

func (r *testRepo) commit(msg string) string {
	r.Sign = r.sign
	return r.Commit(msg)
}

func zone(serial int, www string) string { return syncertest.Zone(serial, www) }

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
	stateBytes        = prometheus.NewGauge(prometheus.GaugeOpts{Name: "state_bytes"})
	statePacks        = prometheus.NewGauge(prometheus.GaugeOpts{Name: "state_packs"})
	probeFailures     = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "probe_failures_total"}, []string{"probe", "gate"})
)

type testMetrics struct{ nopMetrics }

func (testMetrics) FetchFailed(class string) { syncErrors.WithLabelValues(class).Inc() }
func (testMetrics) Rejected(reason string)   { rejectedRevisions.WithLabelValues(reason).Inc() }
func (testMetrics) StateCorrupted()          { stateCorrupt.Inc() }
func (testMetrics) StateDir(b int64, p int)  { stateBytes.Set(float64(b)); statePacks.Set(float64(p)) }
func (testMetrics) ProbeFailed(p string, gate bool) {
	probeFailures.WithLabelValues(p, fmt.Sprint(gate)).Inc()
}
