package resolver

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/miekg/dns"
)

// keyKind says what a cache key names. It is a field of its own, never a
// reserved query type: a question of any wire type (TYPE0 included) builds
// a typeKey, which can never equal a nameErrorKey (issue 13: "TYPE0" queries
// once landed on the name-error marker, and RFC 8020 then made every name
// below them NXDOMAIN for an hour).
type keyKind uint8

const (
	kindRRset     keyKind = iota // an RRset of qtype, or its NODATA
	kindNameError                // the name does not exist: answers every type (qtype 0)
)

// rrKey names one cached RRset or negative answer. name is lower case.
// Build it with typeKey or nameErrorKey.
type rrKey struct {
	name  string
	qtype uint16
	kind  keyKind
}

// typeKey is the key of name's RRset (or NODATA) of qtype.
func typeKey(name string, qtype uint16) rrKey { return rrKey{name: name, qtype: qtype} }

// nameErrorKey is the key under which name's non-existence is cached.
func nameErrorKey(name string) rrKey { return rrKey{name: name, kind: kindNameError} }

// entry is one cached RRset (neg == false) or negative answer. It is never
// modified once stored; its records are never handed out, only copies.
type entry struct {
	rrs     []dns.RR // the RRset, or the SOA of a negative answer
	neg     bool
	rcode   int // negative: dns.RcodeNameError or dns.RcodeSuccess (NODATA)
	expires time.Time
	from    netip.AddrPort // the server it came from (cache inspection)
	// With validation on: the RRSIGs of the RRset, or of a negative
	// answer the SOA's RRSIGs and the NSEC/NSEC3 records proving it (with
	// theirs); and the security of the data.
	sigs []dns.RR
	sec  security
	// size is what the entry holds in memory, key and LRU bookkeeping
	// included (entrySize), set once before it enters the cache.
	size int
}

func (e *entry) fresh(now time.Time) bool { return now.Before(e.expires) }

// usable reports whether e may be used now; stale allows up to maxStale past
// its expiry (RFC 8767).
func (e *entry) usable(now time.Time, stale bool, maxStale time.Duration) bool {
	if now.Before(e.expires) {
		return true
	}
	return stale && now.Before(e.expires.Add(maxStale))
}

// delegation is a zone cut: the zone's NS names and the glue the parent gave.
type delegation struct {
	zone    string                  // lower case, absolute
	ns      []string                // lower case NS target names
	glue    map[string][]netip.Addr // NS name -> addresses (in the parent's bailiwick)
	oobGlue map[string][]netip.Addr // NS name -> addresses the parent gave outside its bailiwick: last resort
	expires time.Time               // zero: never (root hints)
	child   bool                    // the NS set is the child's own (RFC 2181 5.4.1: outranks the parent's)
}

// serverKey: zone "" holds a server's RTT and timeouts; a non-empty zone its
// lameness for that zone.
type serverKey struct {
	addr netip.AddrPort
	zone string
}

type serverInfo struct {
	mu           sync.Mutex
	srtt         time.Duration // smoothed RTT; 0 = never measured
	fails        int           // consecutive failures
	outstanding  int           // queries in flight to it
	downUntil    time.Time
	lameUntil    time.Time // lame for the zone's non-A questions
	lameAUntil   time.Time // lame for its A questions
	recLameUntil time.Time // answers with RA and without AA: asked last for the zone
	noCaseUntil  time.Time // did not echo a 0x20 question: lower case until then
	noEDNSUntil  time.Time // asked without EDNS until then (RFC 6891 7)
}

type failure struct {
	count int
	until time.Time
	cause error // of the last failure: what ExtendedError reports while cached
}

type caches struct {
	rr *lru.Cache[rrKey, *entry]
	// bytes is the sum of the sizes of rr's entries: added when an entry
	// goes in (put), subtracted by rr's eviction callback when it leaves
	// (evicted, removed, purged). A running sum: nothing scans the cache.
	bytes    atomic.Int64
	maxBytes int64      // 0: no byte bound
	types    typeCounts // typed entries per name, for MaxTypesPerName
	deleg    *lru.Cache[string, *delegation]
	servers  *lru.Cache[serverKey, *serverInfo]
	fail     *lru.Cache[rrKey, failure]
}

func newCaches(c *Config) *caches {
	cs := &caches{maxBytes: c.CacheMaxBytes}
	cs.types.m = make(map[string]int)
	cs.rr, _ = lru.NewWithEvict[rrKey, *entry](c.CacheSize, func(k rrKey, e *entry) {
		cs.bytes.Add(-int64(e.size))
		if k.kind == kindRRset {
			cs.types.add(k.name, -1)
		}
	})
	cs.deleg, _ = lru.New[string, *delegation](c.DelegationCacheSize)
	cs.servers, _ = lru.New[serverKey, *serverInfo](c.ServerCacheSize)
	cs.fail, _ = lru.New[rrKey, failure](c.FailureCacheSize)
	return cs
}

// usage is what the RRset cache holds: entries and their estimated bytes.
func (c *caches) usage() (entries int, bytes int64) {
	return c.rr.Len(), c.bytes.Load()
}

// put caches e under k, within both bounds: the LRU's entry bound evicts
// as it adds, then the oldest entries go until the bytes are under
// maxBytes (an entry larger than the whole bound does not stay). An entry
// only ever enters through ContainsOrAdd, never replacing another in
// place (golang-lru replaces without calling the eviction callback, which
// would leave the old size in the sum): a present key is removed first.
// It reports false when concurrent writers of the same key kept it from
// going in (nothing is cached then; the next answer will be).
func (c *caches) put(k rrKey, e *entry) bool {
	e.size = entrySize(k, e)
	for try := 0; try < 3; try++ {
		if present, _ := c.rr.ContainsOrAdd(k, e); present {
			c.rr.Remove(k)
			continue
		}
		c.bytes.Add(int64(e.size))
		if k.kind == kindRRset {
			c.types.add(k.name, 1)
		}
		for c.maxBytes > 0 && c.bytes.Load() > c.maxBytes {
			if _, _, ok := c.rr.RemoveOldest(); !ok {
				break
			}
		}
		return true
	}
	return false
}

// typeCounts counts the typed entries (RRsets and NODATA answers) cached
// per name. The cache's eviction callback decrements it, so it stays as
// large as the cache at most.
type typeCounts struct {
	mu sync.Mutex
	m  map[string]int
}

func (t *typeCounts) add(name string, d int) {
	t.mu.Lock()
	if n := t.m[name] + d; n > 0 {
		t.m[name] = n
	} else {
		delete(t.m, name)
	}
	t.mu.Unlock()
}

func (t *typeCounts) get(name string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[name]
}

// addTyped caches e under a typed key unless its name already holds max
// typed entries (a replacement always goes in). It reports false, with
// the name's count, when it did not.
func (c *caches) addTyped(k rrKey, e *entry, max int) (int, bool) {
	if !c.rr.Contains(k) {
		if n := c.types.get(k.name); n >= max {
			return n, false
		}
	}
	c.put(k, e)
	return 0, true
}

func (c *caches) purge() {
	c.rr.Purge()
	c.deleg.Purge()
	c.servers.Purge()
	c.fail.Purge()
}

// server returns the info for key, creating it.
func (c *caches) server(k serverKey) *serverInfo {
	if s, ok := c.servers.Get(k); ok {
		return s
	}
	s := &serverInfo{}
	if prev, ok, _ := c.servers.PeekOrAdd(k, s); ok {
		return prev
	}
	return s
}

// ttlOf returns the smallest TTL of rrs.
func ttlOf(rrs []dns.RR) uint32 {
	var t uint32
	for i, rr := range rrs {
		if h := rr.Header().Ttl; i == 0 || h < t {
			t = h
		}
	}
	return t
}

func capTTL(ttl uint32, max time.Duration) time.Duration {
	d := time.Duration(ttl) * time.Second
	if d > max {
		d = max
	}
	return d
}

// remaining returns the TTL to hand out for an entry at now.
func remaining(e *entry, now time.Time, stale bool, staleTTL uint32) uint32 {
	if !now.Before(e.expires) {
		if stale {
			return staleTTL
		}
		return 0
	}
	return uint32((e.expires.Sub(now) + time.Second - 1) / time.Second)
}

// appendCopies appends copies of rrs with their TTL set to ttl.
func appendCopies(dst []dns.RR, rrs []dns.RR, ttl uint32) []dns.RR {
	if dst == nil {
		dst = make([]dns.RR, 0, len(rrs))
	}
	for _, rr := range rrs {
		c := copyRR(rr)
		c.Header().Ttl = ttl
		dst = append(dst, c)
	}
	return dst
}
