package fastpath

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gitops-dns/resolverd/internal/wire"
)

// PacketCache holds whole responses of the chain to recursive queries, keyed
// on the normalized question and the flags that change the answer (RD, CD,
// DO, AD), so a repeated question is answered with a copy and its TTLs
// decremented, without unpacking or the chain. Entries belong to one
// generation (one served revision): a swap makes every older entry
// unreachable at once. Bounded: a full shard drops an arbitrary entry.
//
// A response is admitted the second time its question misses within a
// while (a door keeper, as in TinyLFU): a question asked once — cold
// recursion, a random-subdomain flood — costs no copy and cannot push
// the popular answers out.
type PacketCache struct {
	shards  [pcShards]pcShard
	perMax  int
	gen     atomic.Uint64
	seed    maphash.Seed
	epoch   time.Time
	nowFunc func() time.Duration // since epoch; tests replace it
	entries atomic.Int64
	bytes   atomic.Int64
	door    [doorSlots]atomic.Uint32 // fingerprints of questions seen once
}

const (
	pcShards  = 32
	doorSlots = 1 << 16
)

type pcShard struct {
	mu sync.RWMutex
	m  map[string]*cachedResponse
}

// cachedResponse is one response without its id, question and OPT record.
type cachedResponse struct {
	gen     uint64
	stored  time.Duration // since epoch
	expires time.Duration
	flags   uint16
	counts  [3]uint16
	body    []byte
	ttls    []ttlAt // where the TTLs are in body, and their stored values
	rcode   int
}

type ttlAt struct {
	off uint16
	ttl uint32
}

// MaxCachedTTL caps how long a response stays in the packet cache, so a
// huge upstream TTL cannot pin an entry (the resolver's own cache caps
// TTLs too; this is the packet cache's own bound).
const MaxCachedTTL = 24 * time.Hour

// NewPacketCache returns a cache of at most max entries.
func NewPacketCache(max int) *PacketCache {
	c := &PacketCache{perMax: max/pcShards + 1, seed: maphash.MakeSeed(), epoch: time.Now()}
	c.nowFunc = func() time.Duration { return time.Since(c.epoch) }
	for i := range c.shards {
		c.shards[i].m = map[string]*cachedResponse{}
	}
	c.gen.Store(1)
	return c
}

// SetClock replaces the clock (tests).
func (c *PacketCache) SetClock(now func() time.Time) {
	c.nowFunc = func() time.Duration { return now().Sub(c.epoch) }
}

// Generation is the current generation; a slow path records it before
// running the chain and hands it back to Store.
func (c *PacketCache) Generation() uint64 { return c.gen.Load() }

// Purge starts a new generation and drops every entry (a revision swap).
func (c *PacketCache) Purge() {
	c.gen.Add(1)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n := len(s.m)
		s.m = map[string]*cachedResponse{}
		s.mu.Unlock()
		c.entries.Add(int64(-n))
	}
	c.bytes.Store(0)
}

// Len is the number of entries; Bytes their body bytes.
func (c *PacketCache) Len() int     { return int(c.entries.Load()) }
func (c *PacketCache) Bytes() int64 { return c.bytes.Load() }

// key writes the cache key of q into buf.
func cacheKey(buf *[maxNameWire + 5]byte, q *Query) []byte {
	name := q.Name()
	n := copy(buf[:], name)
	binary.BigEndian.PutUint16(buf[n:], q.QType)
	binary.BigEndian.PutUint16(buf[n+2:], q.QClass)
	var f byte
	if q.Flags&wire.FlagRD != 0 {
		f |= 1
	}
	if q.Flags&wire.FlagCD != 0 {
		f |= 2
	}
	if q.DO {
		f |= 4
	}
	if q.Flags&wire.FlagAD != 0 {
		// RFC 6840 5.7: the reply's AD bit depends on the query's DO and
		// AD bits, so both are in the key.
		f |= 8
	}
	buf[n+4] = f
	return buf[:n+5]
}

func (c *PacketCache) shard(key []byte) *pcShard {
	return &c.shards[maphash.Bytes(c.seed, key)%pcShards]
}

// Write answers q from the cache into dst; false on a miss, an expired
// entry, an older generation, or a response too big for the client.
func (c *PacketCache) Write(dst, pkt []byte, q *Query) (n int, rcode int, ok bool) {
	var kb [maxNameWire + 5]byte
	key := cacheKey(&kb, q)
	s := c.shard(key)
	s.mu.RLock()
	e := s.m[string(key)]
	s.mu.RUnlock()
	if e == nil || e.gen != c.gen.Load() {
		return 0, 0, false
	}
	now := c.nowFunc()
	if now >= e.expires {
		return 0, 0, false
	}
	n, ok = writeResponse(dst, pkt, q, e.flags, e.counts, e.body)
	if !ok {
		return 0, 0, false
	}
	if elapsed := uint32((now - e.stored) / time.Second); elapsed > 0 {
		body := dst[q.QEnd:]
		for _, t := range e.ttls {
			binary.BigEndian.PutUint32(body[t.off:], t.ttl-elapsed)
		}
	}
	return n, e.rcode, true
}

// Store caches resp, the chain's response to q, under generation gen if the
// question was seen before (the door keeper) and the response is
// cacheable: NOERROR or NXDOMAIN, recursion available, not truncated, no
// extended error (stale and fallback answers carry one), at least one
// record with a TTL and every TTL at least one second. It reports whether
// it stored.
func (c *PacketCache) Store(q *Query, resp []byte, gen uint64) bool {
	if gen != c.gen.Load() {
		return false // the revision changed while the chain worked
	}
	if wire.IsMeta(q.QType) {
		return false // never a meta type's answer, whatever the chain said (issue 13)
	}
	var kb [maxNameWire + 5]byte
	key := cacheKey(&kb, q)
	h := maphash.Bytes(c.seed, key)
	slot := &c.door[h%doorSlots]
	if fp := uint32(h>>32) | 1; slot.Load() != fp {
		slot.Store(fp) // first sighting: remember the question, keep nothing
		return false
	}
	e, ok := parseCacheable(resp, q)
	if !ok {
		return false
	}
	now := c.nowFunc()
	e.gen, e.stored = gen, now
	minTTL := uint32(MaxCachedTTL / time.Second)
	for _, t := range e.ttls {
		minTTL = min(minTTL, t.ttl)
	}
	e.expires = now + time.Duration(minTTL)*time.Second
	s := &c.shards[h%pcShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[string(key)]; ok {
		c.bytes.Add(int64(len(e.body) - len(old.body)))
		s.m[string(key)] = e
		return true
	}
	if len(s.m) >= c.perMax {
		for k, old := range s.m { // map order is random: an arbitrary victim
			delete(s.m, k)
			c.entries.Add(-1)
			c.bytes.Add(-int64(len(old.body)))
			break
		}
	}
	s.m[string(key)] = e
	c.entries.Add(1)
	c.bytes.Add(int64(len(e.body)))
	return true
}

// parseCacheable checks resp and splits it into a cachedResponse: the body
// after the question without the OPT record, and the offsets of its TTLs.
func parseCacheable(resp []byte, q *Query) (*cachedResponse, bool) {
	if len(resp) < q.QEnd || len(resp) < headerLen {
		return nil, false
	}
	flags := binary.BigEndian.Uint16(resp[2:])
	rcode := int(flags & wire.RcodeMask)
	if flags&wire.FlagQR == 0 || flags&wire.FlagTC != 0 || flags&wire.FlagRA == 0 || (rcode != 0 && rcode != 3) {
		return nil, false
	}
	if binary.BigEndian.Uint16(resp[4:]) != 1 {
		return nil, false
	}
	// The question must be the query's (any case): the body's compression
	// pointers assume the same question layout. resp holds it: q.QEnd is
	// past it and len(resp) >= q.QEnd.
	name := q.Name()
	for i, ch := range resp[headerLen : headerLen+len(name)] {
		if ch >= 'A' && ch <= 'Z' {
			ch += 'a' - 'A'
		}
		if ch != name[i] {
			return nil, false
		}
	}
	if binary.BigEndian.Uint16(resp[headerLen+len(name):]) != q.QType || binary.BigEndian.Uint16(resp[headerLen+len(name)+2:]) != q.QClass {
		return nil, false
	}
	counts := [3]uint16{binary.BigEndian.Uint16(resp[6:]), binary.BigEndian.Uint16(resp[8:]), binary.BigEndian.Uint16(resp[10:])}
	total := int(counts[0]) + int(counts[1]) + int(counts[2])
	if total == 0 || total > 512 {
		return nil, false
	}
	off := q.QEnd
	e := &cachedResponse{flags: flags &^ (wire.FlagRD | wire.FlagCD), counts: counts, rcode: rcode}
	end := len(resp)
	for i := 0; i < total; i++ {
		start := off
		var ok bool
		if off, ok = skipName(resp, off); !ok || off+10 > len(resp) {
			return nil, false
		}
		typ := binary.BigEndian.Uint16(resp[off:])
		ttl := binary.BigEndian.Uint32(resp[off+4:])
		rdlen := int(binary.BigEndian.Uint16(resp[off+8:]))
		rdata := off + 10
		if rdata+rdlen > len(resp) {
			return nil, false
		}
		if typ == typeOPT {
			// Only as the last record; an extended error (option 15)
			// marks stale and fallback answers: never cached.
			if i != total-1 || hasEDE(resp[rdata:rdata+rdlen]) {
				return nil, false
			}
			e.counts[2]--
			end = start
			break
		}
		if ttl == 0 || ttl > 1<<31 {
			return nil, false
		}
		e.ttls = append(e.ttls, ttlAt{off: uint16(off + 4 - q.QEnd), ttl: ttl})
		off = rdata + rdlen
	}
	if end == len(resp) && off != len(resp) {
		return nil, false
	}
	if len(e.ttls) == 0 {
		return nil, false
	}
	e.body = append([]byte(nil), resp[q.QEnd:end]...)
	return e, true
}

// skipName returns the offset past the (possibly compressed) name at off.
func skipName(b []byte, off int) (int, bool) {
	for i := 0; i < 128; i++ {
		if off >= len(b) {
			return 0, false
		}
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1, true
		case l&0xc0 == 0xc0:
			return off + 2, off+2 <= len(b)
		case l&0xc0 != 0:
			return 0, false
		}
		off += l + 1
	}
	return 0, false
}

// hasEDE reports whether OPT rdata holds an Extended DNS Error option.
func hasEDE(rdata []byte) bool {
	for len(rdata) >= 4 {
		code := binary.BigEndian.Uint16(rdata)
		l := int(binary.BigEndian.Uint16(rdata[2:]))
		if code == 15 {
			return true
		}
		if 4+l > len(rdata) {
			return true // malformed: do not cache
		}
		rdata = rdata[4+l:]
	}
	return len(rdata) != 0
}
