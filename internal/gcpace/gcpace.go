// Package gcpace paces the garbage collector while a first revision is
// built: the syncer's load and check, the fast path's first precomputed
// answers. They allocate everything that will be live and much garbage
// besides, and with the default GOGC of 100 the heap may grow to twice
// what is live before the collector runs: the first apply of a 1M-record
// repo peaked at 1.70x the RSS of serving it (issue 21, goal at most
// 1.5x). A lower percent for the whole process would cost every query's
// allocations more collections too; so it is lowered only while someone
// builds, and restored when the last builder is done. The callers decide
// which builds need it (later ones, beside a served revision, do not).
//
// It also keeps a floor under the heap goal while little is live (Keep):
// a node that serves a small repo and recurses has a live heap of 10-30
// MB, and at GOGC=100 collected every half second under 2,000 cold
// queries a second, each cycle marking for 10-40 ms on a one-core node;
// the queries that arrived in those windows made a quarter of the slowest
// 1 % (issue 21, W3's p99). Above the floor the percent is the process's
// own, so a node serving a large repo pays nothing in memory.
package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Percent is the collector's target while a revision is built: the heap
// grows to at most 1.4x what was live after the last collection (GOGC=40).
const Percent = 40

// Floor is the heap goal Keep holds to while less is live: the collector
// runs once the heap reaches this much, not twice what is live. A node
// serving a repo of 1M records has ~700 MB live and never sees it.
const Floor = 64 << 20

// maxPercent bounds the percent the floor sets (a near-empty heap would
// ask for thousands): the goal is then below the floor, never above it.
const maxPercent = 2000

var (
	mu      sync.Mutex
	holders int  // builders running
	saved   int  // the percent before the first of them (no floor kept)
	lowered bool // whether Build changed the percent (and Done restores it)
	floor   uint64
	base    int // the process's percent when Keep started
)

// Build lowers the collector's percent to Percent until the returned
// function is called (once; later calls do nothing). Builds may overlap
// (a new revision's load while the fast path precomputes the previous
// one): the percent is restored when the last of them is done. A process
// run with a lower GOGC, or with the collector off (GOGC=off, paced by a
// memory limit), is left as it is.
//
// With a floor kept (Keep), the percent after the last build is the
// floor's for what is live then, not the one before the first build: a
// first revision turns a near-empty heap into a large one.
func Build() (done func()) {
	mu.Lock()
	if holders == 0 {
		if cur := current(); cur > Percent {
			saved, lowered = debug.SetGCPercent(Percent), true
		}
	}
	holders++
	mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if holders--; holders == 0 && lowered {
				if floor > 0 {
					debug.SetGCPercent(floorPercent(base, floor, live()))
				} else {
					debug.SetGCPercent(saved)
				}
				lowered = false
			}
		})
	}
}

// Keep holds the heap goal at Floor bytes or more for the rest of the
// process: after each collection, while no build runs, the percent is set
// so that the goal is Floor, or the process's own percent where that asks
// for more. A process run with GOGC or GOMEMLIMIT set is the operator's to
// pace, and is left as it is. Call it once, at start.
func Keep() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	keep(Floor)
}

// keep is Keep for a given floor, whatever the environment (tests).
func keep(bytes uint64) {
	mu.Lock()
	defer mu.Unlock()
	if floor != 0 || current() <= 0 {
		return
	}
	floor, base = bytes, current()
	if holders == 0 {
		debug.SetGCPercent(floorPercent(base, floor, live()))
	}
	everyCycle(repace)
}

// repace sets the floor's percent for what the last collection left live,
// unless a build has lowered it. It runs after each collection, until the
// floor is dropped (tests).
func repace() (again bool) {
	mu.Lock()
	defer mu.Unlock()
	if floor == 0 {
		return false
	}
	if holders > 0 {
		return true
	}
	want := floorPercent(base, floor, live())
	if cur := current(); cur > 0 && cur != want {
		debug.SetGCPercent(want)
	}
	return true
}

// floorPercent is the percent whose goal is floor bytes for a live heap of
// live bytes (the goal is live * (1 + percent/100)), and at least own.
func floorPercent(own int, floor, live uint64) int {
	if live == 0 || live >= floor {
		return own
	}
	p := (floor - live) * 100 / live
	if p > maxPercent {
		p = maxPercent
	}
	return max(own, int(p))
}

// sentinel is an object the collector finds unreachable once per cycle;
// its finalizer is the cycle's hook. Larger than the tiny allocator's 16
// bytes, so it is freed (and finalized) on its own.
type sentinel struct{ _ [32]byte }

// everyCycle calls f after each collection, from the finalizer goroutine
// (f must be quick and must not block), for as long as f asks again.
func everyCycle(f func() bool) {
	runtime.SetFinalizer(new(sentinel), func(*sentinel) {
		if f() {
			everyCycle(f)
		}
	})
}

// live is the heap the last collection found live.
func live() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// current is the collector's percent (GOGC), 0 when it is off.
func current() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int(s[0].Value.Uint64())
}
