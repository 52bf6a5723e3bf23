package fastpath

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/gcpace"
	"github.com/gitops-dns/resolverd/node"
)

// Precomputing a revision's answers runs the collector at gcpace's percent
// (issue 21: the first apply's peak RSS) and restores the process's own
// afterwards, also when the build fails.
func TestPrecomputePacesCollector(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	good := testSnapshot(t)
	bad := &node.Snapshot{
		Authority: good.Authority,
		Forward:   []model.ForwardRule{{Zone: strings.Repeat("a", 64) + ".example.internal."}},
	}
	during := -2
	snap := bad
	s := &Server{
		Source: func() *node.Snapshot { return snap },
		BuildFailed: func(*node.Snapshot, error) {
			during = debug.SetGCPercent(-1)
			debug.SetGCPercent(during)
		},
	}
	s.rebuild()
	if during != gcpace.Percent {
		t.Errorf("while precomputing: GOGC=%d, want %d", during, gcpace.Percent)
	}
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("after precomputing: GOGC=%d, want 100 as before", p)
	}
	snap = good
	s.rebuild()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("after precomputing: GOGC=%d, want 100 as before", p)
	}
}
