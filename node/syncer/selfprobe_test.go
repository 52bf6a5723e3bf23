package syncer

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gitops-dns/resolverd/probe"
)

// A node probes itself every probe_interval, not only after an apply, and
// its status keeps what it saw: a failure in the middle (the node answers
// SERVFAIL for a while) stays in the history after the node recovers, which
// is what `dnsctl promote --after-bake` judges a canary by (seed 000).
func TestSelfProbeHistory(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	g0, clk := newTestGitOps(t, repo.dir, filepath.Join(t.TempDir(), "state"))
	cfg := g0.Config()
	cfg.ProbeInterval = 20 * time.Millisecond
	g, err := New(cfg, Options{Clock: clk, Metrics: testMetrics{}, Log: StdLogger("plugin/gitops: ")})
	if err != nil {
		t.Fatal(err)
	}
	var fail atomic.Bool
	g.SetProbeAddr(serveDNSFailing(t, g, &fail))
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer g.Stop()

	spans := func() []probe.Span {
		st := g.Status()
		if st.SelfProbes == nil {
			t.Fatal("no selfProbes in status")
		}
		return st.SelfProbes.Spans
	}
	lastIs := func(rev string, pass bool, runs int) func() bool {
		return func() bool {
			s := spans()
			return len(s) > 0 && s[len(s)-1].Revision == rev && s[len(s)-1].Pass == pass && s[len(s)-1].Runs >= runs
		}
	}
	waitFor(t, lastIs(first, true, 3))
	failures := value(probeFailures.WithLabelValues("db-primary", "true"))
	fail.Store(true)
	waitFor(t, lastIs(first, false, 3))
	if n := value(probeFailures.WithLabelValues("db-primary", "true")) - failures; n < 3 {
		t.Errorf("coredns_gitops_probe_failures_total grew by %v over 3 failing runs", n)
	}
	fail.Store(false)
	waitFor(t, lastIs(first, true, 3))

	var failed []probe.Span
	for _, s := range spans() {
		if !s.Pass && s.Revision == first {
			failed = append(failed, s)
		}
	}
	if len(failed) != 1 || len(failed[0].Failed) != 1 || !strings.Contains(failed[0].Failed[0], "dns/probes.yaml:2:") ||
		!strings.Contains(failed[0].Failed[0], "rcode SERVFAIL, want NOERROR") || failed[0].To.Before(failed[0].From) {
		t.Fatalf("the failure in the middle: %+v", failed)
	}

	// GET /status carries it, as dnsctl reads it.
	rec := httptest.NewRecorder()
	g.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/status", nil))
	var st struct {
		Node       string         `json:"node"`
		SelfProbes *probe.History `json:"selfProbes"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Node != "local" || st.SelfProbes == nil ||
		st.SelfProbes.IntervalSeconds != 0.02 || st.SelfProbes.MaxGapSeconds <= 0 || len(st.SelfProbes.Spans) < 3 {
		t.Fatalf("GET /status: %v %s", err, rec.Body.String())
	}
}
