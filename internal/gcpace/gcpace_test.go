package gcpace

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
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

func TestFloorPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name        string
		own         int
		floor, live uint64
		want        int
	}{
		{"nothing live yet", 100, 64 * mib, 0, 100},
		{"16 MiB live: the goal is the floor", 100, 64 * mib, 16 * mib, 300},
		{"32 MiB live", 100, 64 * mib, 32 * mib, 100},
		{"40 MiB live: twice what is live is above the floor", 100, 64 * mib, 40 * mib, 100},
		{"live above the floor", 100, 64 * mib, 700 * mib, 100},
		{"a near-empty heap is bounded", 100, 64 * mib, 1024, maxPercent},
		{"the process's own percent asks for more", 500, 64 * mib, 16 * mib, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := floorPercent(tc.own, tc.floor, tc.live); got != tc.want {
				t.Errorf("floorPercent(%d, %d, %d) = %d, want %d", tc.own, tc.floor, tc.live, got, tc.want)
			}
		})
	}
}

// keepFor keeps a floor for the test and drops it after.
func keepFor(t *testing.T, bytes uint64) {
	t.Helper()
	orig := debug.SetGCPercent(100)
	keep(bytes)
	t.Cleanup(func() {
		mu.Lock()
		floor, base = 0, 0
		mu.Unlock()
		debug.SetGCPercent(orig)
	})
}

// waitPercent collects until the percent satisfies ok (the floor is set
// from a finalizer, after the collection), or fails after a few seconds.
func waitPercent(t *testing.T, what string, ok func(int) bool) {
	t.Helper()
	for range 200 {
		runtime.GC()
		if ok(percent(t)) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: GOGC=%d after 200 collections", what, percent(t))
}

// With a floor kept, a small live heap runs at the percent whose goal is
// the floor; a live heap above the floor at the process's own percent;
// and the floor comes back when the heap is freed.
func TestKeepFollowsTheLiveHeap(t *testing.T) {
	const floorBytes = 256 << 20
	keepFor(t, floorBytes)
	small := func(p int) bool { return p > 100 && p == floorPercent(100, floorBytes, live()) }
	waitPercent(t, "a small live heap", small)
	big := make([][]byte, 0, 80)
	for range cap(big) {
		big = append(big, make([]byte, 4<<20)) // 320 MiB live, above the floor
	}
	waitPercent(t, "a live heap above the floor", func(p int) bool { return p == 100 })
	runtime.KeepAlive(big)
	big = nil
	waitPercent(t, "the heap freed again", small)
}

// A build under a kept floor lowers the percent as without one, and the
// last build's done sets the floor's percent for what is live then, not
// the percent from before the build.
func TestBuildUnderFloor(t *testing.T) {
	const floorBytes = 256 << 20
	keepFor(t, floorBytes)
	waitPercent(t, "before the build", func(p int) bool { return p > 100 })
	done := Build()
	if got := percent(t); got != Percent {
		t.Fatalf("while building: GOGC=%d, want %d", got, Percent)
	}
	runtime.GC() // the collector's hook must not undo the build's percent
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if got := percent(t); got != Percent {
		t.Fatalf("a collection while building: GOGC=%d, want %d", got, Percent)
	}
	big := make([][]byte, 0, 80)
	for range cap(big) {
		big = append(big, make([]byte, 4<<20))
	}
	runtime.GC()
	done()
	if got := percent(t); got != 100 {
		t.Fatalf("after a build that left 320 MiB live: GOGC=%d, want 100 (the floor's for what is live)", got)
	}
	runtime.KeepAlive(big)
}
