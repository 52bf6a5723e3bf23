package syncer

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// recordMetrics keeps the Node and Serving events a syncer reports.
type recordMetrics struct {
	nopMetrics
	mu      sync.Mutex
	node    []string // cluster, node
	reasons []string
	classes []string
	serving []Served
}

func (m *recordMetrics) Node(c, n string, reasons, classes []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.node, m.reasons, m.classes = []string{c, n}, reasons, classes
}

func (m *recordMetrics) Serving(s Served) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.serving = append(m.serving, s)
}

func (m *recordMetrics) last(t *testing.T) Served {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.serving) == 0 {
		t.Fatal("no Serving event")
	}
	return m.serving[len(m.serving)-1]
}

// The metrics deploy/prometheus alerts on exist before the first event:
// New names the node and every reason and class; what is served carries
// its commit time and cluster size, at apply and at boot from the state.
func TestMetricsNodeAndServed(t *testing.T) {
	repo := newTestRepo(t)
	first := repo.commit("first")
	c, err := repo.repo.CommitObject(plumbing.NewHash(first))
	if err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "state")
	g, _ := newTestGitOps(t, repo.dir, state)
	m := &recordMetrics{}
	g, err = New(g.Config(), Options{Clock: newFakeClock(), Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.node, []string{"dev", "local"}) {
		t.Fatalf("Node(%v), want dev local", m.node)
	}
	for _, r := range []string{ReasonValidationFailed, ReasonProbeFailed, ReasonStateUnusable, "Unsigned", "UntrustedSignature", "InvalidSignature"} {
		if !slices.Contains(m.reasons, r) {
			t.Errorf("reason %s not declared: %v", r, m.reasons)
		}
	}
	for _, cl := range []string{"unreachable", "timeout", "auth-refused", "repo-not-found", "ref-not-found", "corrupt-object", "config", "other"} {
		if !slices.Contains(m.classes, cl) {
			t.Errorf("class %s not declared: %v", cl, m.classes)
		}
	}

	g.Boot()
	if a := g.SyncOnce(bg); a.Result != ResultApplied {
		t.Fatalf("sync: %+v", a)
	}
	want := Served{Revision: first, Committed: c.Committer.When, ClusterNodes: len(g.Snapshot().Cluster.Nodes)}
	check := func(what string, got Served) {
		t.Helper()
		if got.Revision != want.Revision || !got.Committed.Equal(want.Committed) || got.ClusterNodes != want.ClusterNodes || got.ClusterNodes == 0 {
			t.Fatalf("%s: Serving(%+v), want %+v", what, got, want)
		}
	}
	check("apply", m.last(t))

	m2 := &recordMetrics{}
	g2, err := New(g.Config(), Options{Clock: newFakeClock(), Metrics: m2})
	if err != nil {
		t.Fatal(err)
	}
	g2.Boot()
	check("boot", m2.last(t))
}
