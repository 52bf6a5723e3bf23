// Package reqmetrics owns CoreDNS's per-request metrics (coredns_dns_requests_total,
// coredns_dns_do_requests_total, coredns_dns_responses_total and the request
// duration, request size and response size histograms) on the node's query
// paths, counted cheaply: a query adds to one shard of a table (a mutex no
// other core holds, plain integer adds) and the shards are folded into the
// exported series only when Prometheus scrapes.
//
// CoreDNS's prometheus plugin resolves six label sets per query
// (WithLabelValues: hashing every label, a read lock, a map lookup each),
// observes three native histograms, computes the response's length with a
// compression map and wraps the writer twice: a sixth of a cold-recursion
// query's CPU on this node (issue 21). The series, names, labels and
// meanings are CoreDNS's, so dashboards and alerts read the same thing.
package reqmetrics

import (
	"math/rand/v2"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
)

// Proto is the transport a query came over, as CoreDNS labels it.
type Proto uint8

const (
	UDP Proto = iota
	TCP
)

func (p Proto) String() string {
	if p == TCP {
		return "tcp"
	}
	return "udp"
}

// Key is every label of one query's series.
type Key struct {
	Server, Zone, View string
	// Plugin is the plugin CoreDNS names as the response's writer (the
	// responses_total "plugin" label).
	Plugin string
	Rcode  int
	QType  uint16
	Proto  Proto
	Family uint8 // 1 IPv4, 2 IPv6
	DO     bool
}

// Observation is what one query adds besides its count.
type Observation struct {
	Duration          time.Duration
	ReqSize, RespSize int
}

// The histograms' buckets are CoreDNS's (plugin/metrics/vars; a test checks
// they still are).
var (
	durationBuckets = plugin.TimeBuckets
	sizeBuckets     = []float64{0, 100, 200, 300, 400, 511, 1023, 2047, 4095, 8291, 16e3, 32e3, 48e3, 64e3}
)

// hist is one histogram's counts per bucket (the last: above every bound,
// +Inf), not cumulative, and its sum.
type hist struct {
	counts []uint64
	sum    float64
}

func newHist(bounds []float64) hist { return hist{counts: make([]uint64, len(bounds)+1)} }

func (h *hist) observe(bounds []float64, v float64) {
	// Bounds are inclusive upper bounds (le), as Prometheus's.
	h.counts[sort.SearchFloat64s(bounds, v)]++
	h.sum += v
}

func (h *hist) add(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.sum += o.sum
}

// row is the counts of one Key in one shard.
type row struct {
	n                  uint64
	duration, req, res hist
}

func newRow() *row {
	return &row{duration: newHist(durationBuckets), req: newHist(sizeBuckets), res: newHist(sizeBuckets)}
}

// shard is one lock and its rows, padded so that two shards never share a
// cache line (a query on one core does not invalidate another's).
type shard struct {
	mu   sync.Mutex
	rows map[Key]*row
	_    [64]byte
}

// Table holds the counts of every query, in shards.
type Table struct {
	shards []shard
}

// NewTable makes a table of n shards (at least 1). A few per core keep
// concurrent queries on different locks.
func NewTable(n int) *Table {
	if n < 1 {
		n = 1
	}
	t := &Table{shards: make([]shard, n)}
	for i := range t.shards {
		t.shards[i].rows = map[Key]*row{}
	}
	return t
}

// Adder adds queries to one locked shard; Done unlocks it. An Adder is
// used by one goroutine and not kept.
type Adder struct{ s *shard }

// Lock takes a shard no one else holds if there is one (a random start,
// then the next ones without waiting), else waits for the first it tried.
func (t *Table) Lock() Adder {
	n := uint32(len(t.shards))
	start := rand.Uint32N(n)
	for i := uint32(0); i < n; i++ {
		s := &t.shards[(start+i)%n]
		if s.mu.TryLock() {
			return Adder{s}
		}
	}
	s := &t.shards[start]
	s.mu.Lock()
	return Adder{s}
}

// Add counts one query.
func (a Adder) Add(k *Key, o *Observation) {
	r := a.s.rows[*k]
	if r == nil {
		r = newRow()
		a.s.rows[*k] = r
	}
	r.n++
	r.duration.observe(durationBuckets, o.Duration.Seconds())
	r.req.observe(sizeBuckets, float64(o.ReqSize))
	r.res.observe(sizeBuckets, float64(o.RespSize))
}

// Done unlocks the shard.
func (a Adder) Done() { a.s.mu.Unlock() }

// Add counts one query on a shard of its own.
func (t *Table) Add(k *Key, o *Observation) {
	a := t.Lock()
	a.Add(k, o)
	a.Done()
}

// each calls f with every key and its counts summed over the shards. It
// holds one shard's lock at a time, never while f runs.
func (t *Table) each(f func(k *Key, r *row)) {
	sum := map[Key]*row{}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for k, r := range s.rows {
			acc := sum[k]
			if acc == nil {
				acc = newRow()
				sum[k] = acc
			}
			acc.n += r.n
			acc.duration.add(&r.duration)
			acc.req.add(&r.req)
			acc.res.add(&r.res)
		}
		s.mu.Unlock()
	}
	for k, r := range sum {
		f(&k, r)
	}
}

func runtimeCores() int { return runtime.GOMAXPROCS(0) }
