package lab

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestForcePushOldRevisionInternetCut: the internet is cut off and someone
// force-pushes the production refs back to an old revision (the history
// the nodes applied is rewritten). Production survives: no node applies
// the rewrite (NotFastForward in status and metrics), one restarted
// meanwhile boots from its last good revision and refuses it too, clients
// see no failure (critical external names from fallback records), and the
// real history pushed back with a new commit is applied everywhere.
func TestForcePushOldRevisionInternetCut(t *testing.T) {
	l := New(t, Options{Clusters: []string{"dc1", "dc2"}})
	prod := append(l.Nodes("dc1"), l.Nodes("dc2")...)
	rev := l.CommitAndPublish("add printer", map[string]string{
		"zones/corp.internal.zone": CorpZone(ZoneSerialBase+2, "printer IN A 198.18.10.40"),
	})
	l.MustServe(rev, 20*time.Second, prod...)

	c := l.Client("dc1")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *LoadStats)
	go func() { done <- c.Load(ctx, 50, 8, internalLoad) }()
	l.Logf("dc1 client load started: 50 q/s")

	l.Cut("dc1", "inet")
	l.Cut("dc2", "inet")
	l.Publish(l.Initial) // the force-push: production back to an ancestor
	l.Sleep(3*time.Second, "nodes poll the rewritten refs")
	for id, got := range l.Serving(prod...) {
		if got != rev {
			t.Errorf("%s serves %q after the force-push, want %s", id, got, short(rev))
		}
	}
	for _, n := range prod {
		st, body, err := n.Status()
		if err != nil {
			t.Errorf("%s status: %v", n.ID(), err)
			continue
		}
		if st.LastAttempted == nil || st.LastAttempted.Reason != "NotFastForward" || !strings.Contains(st.LastAttempted.Message, rev) {
			t.Errorf("%s: last attempt is not a NotFastForward naming %s: %s", n.ID(), short(rev), body)
		}
		if st.LastGood.ID != rev {
			t.Errorf("%s: last good %s, want %s", n.ID(), short(st.LastGood.ID), short(rev))
		}
		if expo, err := n.Metrics(); err != nil || MetricSum(expo, "coredns_gitops_rejected_revisions_total", `reason="NotFastForward"`) < 1 {
			t.Errorf("%s: rejected_revisions_total{reason=NotFastForward} not counted (%v)", n.ID(), err)
		}
	}

	// A node restarted now boots from its last good revision and refuses
	// the rewrite again.
	n := l.Node("dc1/ns1")
	l.Stop(n)
	l.Start(n)
	l.Sleep(2*time.Second, "dc1/ns1 boots and polls")
	if got := l.Serving(n)[n.ID()]; got != rev {
		t.Errorf("restarted %s serves %q, want %s", n.ID(), got, short(rev))
	}
	if r, err := c.Dig("+time=8", ExternalCT, "A"); err != nil || r.Status != "NOERROR" || !sameSet(r.Answers, ExternalCTA) {
		t.Errorf("internet cut: %s = %+v, %v; want the fallback %s", ExternalCT, r, err, ExternalCTA)
	}
	if got, err := c.Getent("printer"); err != nil || !sameSet(got, "198.18.10.40") {
		t.Errorf("after the force-push: getent printer = %v, %v", got, err)
	}

	// The real history comes back with a new commit on top (main never
	// moved back): applied.
	fix := l.CommitAndPublish("after the incident: scanner", map[string]string{
		"zones/corp.internal.zone": CorpZone(ZoneSerialBase+3, "printer IN A 198.18.10.40", "scanner IN A 198.18.10.41"),
	})
	l.MustServe(fix, 20*time.Second, prod...)
	l.Restore("dc1", "inet")
	l.Restore("dc2", "inet")
	cancel()
	st := <-done
	l.Logf("dc1 client saw: %s, p99 %v", st, st.P99().Round(time.Millisecond))
	if st.Failed > 0 {
		t.Errorf("dc1 clients saw %d failures: %s", st.Failed, strings.Join(st.Failures, "; "))
	}
}
