package probe

import (
	"testing"
	"time"
)

// TestRecorder: runs with the same outcome within the gap are one span; a
// new outcome, a new failing probe or a gap starts one; the bound keeps
// the newest spans and counts the dropped.
func TestRecorder(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	fail := func(names ...string) []Failure {
		var f []Failure
		for _, n := range names {
			f = append(f, Failure{Probe: n, Line: "probe " + n + ": rcode SERVFAIL, want NOERROR"})
		}
		return f
	}
	type run struct {
		s      int
		rev    string
		failed []Failure
	}
	for _, tc := range []struct {
		name  string
		runs  []run
		spans []Span // From, To, Runs, Revision, Pass compared
	}{
		{"steady", []run{{0, "a", nil}, {15, "a", nil}, {30, "a", nil}},
			[]Span{{From: at(0), To: at(30), Runs: 3, Revision: "a", Pass: true}}},
		{"fails and recovers", []run{{0, "a", nil}, {15, "a", fail("db")}, {30, "a", fail("db")}, {45, "a", nil}},
			[]Span{{From: at(0), To: at(0), Runs: 1, Revision: "a", Pass: true}, {From: at(15), To: at(30), Runs: 2, Revision: "a"},
				{From: at(45), To: at(45), Runs: 1, Revision: "a", Pass: true}}},
		{"another probe fails", []run{{0, "a", fail("db")}, {15, "a", fail("db", "www")}},
			[]Span{{From: at(0), To: at(0), Runs: 1, Revision: "a"}, {From: at(15), To: at(15), Runs: 1, Revision: "a"}}},
		{"new revision", []run{{0, "a", nil}, {15, "b", nil}},
			[]Span{{From: at(0), To: at(0), Runs: 1, Revision: "a", Pass: true}, {From: at(15), To: at(15), Runs: 1, Revision: "b", Pass: true}}},
		{"gap", []run{{0, "a", nil}, {15, "a", nil}, {60, "a", nil}},
			[]Span{{From: at(0), To: at(15), Runs: 2, Revision: "a", Pass: true}, {From: at(60), To: at(60), Runs: 1, Revision: "a", Pass: true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRecorder(15*time.Second, 40*time.Second, t0)
			for _, x := range tc.runs {
				r.Add(Result{Time: at(x.s), Revision: x.rev, Probes: 2, Failed: x.failed})
			}
			h := r.History()
			if len(h.Spans) != len(tc.spans) {
				t.Fatalf("spans %+v, want %d", h.Spans, len(tc.spans))
			}
			for i, w := range tc.spans {
				g := h.Spans[i]
				if !g.From.Equal(w.From) || !g.To.Equal(w.To) || g.Runs != w.Runs || g.Revision != w.Revision || g.Pass != w.Pass || g.Pass != (len(g.Failed) == 0) {
					t.Errorf("span %d = %+v, want %+v", i, g, w)
				}
			}
			if h.IntervalSeconds != 15 || h.MaxGapSeconds != 40 || !h.Since.Equal(t0) {
				t.Errorf("history %+v", h)
			}
		})
	}

	// The bound: a node flapping for long keeps its newest spans.
	r := NewRecorder(time.Second, 3*time.Second, t0)
	for i := 0; i < MaxSpans+10; i++ {
		var f []Failure
		if i%2 == 1 {
			f = fail("db")
		}
		r.Add(Result{Time: at(i), Revision: "a", Failed: f})
	}
	h := r.History()
	if len(h.Spans) != MaxSpans || h.Dropped != 10 || !h.Spans[0].From.Equal(at(10)) || !h.Spans[MaxSpans-1].From.Equal(at(MaxSpans+9)) {
		t.Fatalf("bounded history: %d spans, %d dropped, first at %s", len(h.Spans), h.Dropped, h.Spans[0].From)
	}
}
