package syncer

import "testing"

// A refused head is reported again at every poll without findings of its
// own; the history entry that counts those repeats must keep the
// path:line:col findings of the first refusal, or status loses what an
// operator needs to fix.
func TestHistoryRepeatKeepsFindings(t *testing.T) {
	g, _ := newTestGitOps(t, "file:///nonexistent", t.TempDir())
	first := Attempt{Revision: "abc", Result: ResultRejected, Reason: "ValidationFailed", Message: "revision abc has 1 errors",
		Findings: []string{"dns/zones/corp.internal.zone:45:11: error: zone-syntax: bad A"}, quiet: true}
	repeat := Attempt{Revision: "abc", Result: ResultRejected, Reason: "ValidationFailed", Message: "head was refused before; waiting for a new commit", quiet: true}
	g.finish(first)
	g.finish(repeat)
	g.finish(repeat)
	if n := len(g.st.history); n != 1 {
		t.Fatalf("history has %d entries, want the repeats counted in one", n)
	}
	h := g.st.history[0]
	if h.Count != 3 {
		t.Errorf("count = %d, want 3", h.Count)
	}
	if len(h.Findings) != 1 || h.Findings[0] != first.Findings[0] {
		t.Errorf("findings after repeats = %q, want those of the first refusal", h.Findings)
	}
}
