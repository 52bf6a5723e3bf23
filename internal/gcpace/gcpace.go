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
package gcpace

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Percent is the collector's target while a revision is built: the heap
// grows to at most 1.4x what was live after the last collection (GOGC=40).
const Percent = 40

var (
	mu      sync.Mutex
	holders int  // builders running
	saved   int  // the percent before the first of them
	lowered bool // whether Build changed the percent (and Done restores it)
)

// Build lowers the collector's percent to Percent until the returned
// function is called (once; later calls do nothing). Builds may overlap
// (a new revision's load while the fast path precomputes the previous
// one): the percent is restored when the last of them is done. A process
// run with a lower GOGC, or with the collector off (GOGC=off, paced by a
// memory limit), is left as it is.
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
				debug.SetGCPercent(saved)
				lowered = false
			}
		})
	}
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
