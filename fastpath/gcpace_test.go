package fastpath

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/internal/gcpace"
	"github.com/gitops-dns/resolverd/node"
)

// Precomputing a first revision's answers runs the collector at gcpace's
// percent (issue 21: the first apply's peak RSS), later revisions' do not,
// and the process's own percent is back afterwards, also when the build
// fails.
func TestPrecomputePacesCollector(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	good := testSnapshot(t)
	bad := func() *node.Snapshot {
		return &node.Snapshot{
			Authority: good.Authority,
			Forward:   []model.ForwardRule{{Zone: strings.Repeat("a", 64) + ".example.internal."}},
		}
	}
	var during []int
	snap := bad()
	s := &Server{
		Source: func() *node.Snapshot { return snap },
		BuildFailed: func(*node.Snapshot, error) {
			p := debug.SetGCPercent(-1)
			debug.SetGCPercent(p)
			during = append(during, p)
		},
	}
	s.rebuild()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("after precomputing: GOGC=%d, want 100 as before", p)
	}
	snap = good
	s.rebuild()
	snap = bad()
	s.rebuild()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("after precomputing: GOGC=%d, want 100 as before", p)
	}
	if len(during) != 2 || during[0] != gcpace.Percent || during[1] != 100 {
		t.Errorf("while precomputing the first and a later revision: GOGC %v, want [%d 100]", during, gcpace.Percent)
	}
}
