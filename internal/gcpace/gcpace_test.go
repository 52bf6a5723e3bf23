package gcpace

import (
	"runtime/debug"
	"testing"
)

// percent is the collector's percent now.
func percent(t *testing.T) int {
	t.Helper()
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestBuild(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, tc := range []struct {
		name   string
		gogc   int // the process's percent before
		during int // while building
	}{
		{"default", 100, Percent},
		{"higher", 400, Percent},
		{"lower already", Percent / 2, Percent / 2},
		{"off", -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(tc.gogc)
			done := Build()
			if got := percent(t); got != tc.during {
				t.Errorf("while building: GOGC=%d, want %d", got, tc.during)
			}
			done()
			if got := percent(t); got != tc.gogc {
				t.Errorf("after: GOGC=%d, want %d as before", got, tc.gogc)
			}
		})
	}
}

// Overlapping builds restore the percent when the last is done, whatever
// the order; a done called twice counts once.
func TestBuildOverlapping(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	first := Build()
	second := Build()
	first()
	first()
	if got := percent(t); got != Percent {
		t.Fatalf("one build still running: GOGC=%d, want %d", got, Percent)
	}
	third := Build()
	second()
	if got := percent(t); got != Percent {
		t.Fatalf("one build still running: GOGC=%d, want %d", got, Percent)
	}
	third()
	if got := percent(t); got != 100 {
		t.Fatalf("all builds done: GOGC=%d, want 100", got)
	}
}

// A build that panics restores the percent through its deferred done.
func TestBuildPanics(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	func() {
		defer func() { recover() }()
		defer Build()()
		panic("a build fails")
	}()
	if got := percent(t); got != 100 {
		t.Fatalf("after a panicking build: GOGC=%d, want 100", got)
	}
}
