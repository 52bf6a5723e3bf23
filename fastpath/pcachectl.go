package fastpath

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"github.com/gitops-dns/resolverd/node"
	"github.com/miekg/dns"
)

// FlushCache drops the responses whose question f matches and returns how
// many went. It walks every shard under its lock: an operator's action,
// not the query path. A response the chain is computing while the flush
// runs may still be stored after it (it came from the resolver, flushed
// first by the endpoint).
func (c *PacketCache) FlushCache(f node.CacheFlush) int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for k, e := range s.m {
			name, qtype, ok := keyQuestion(k)
			if ok && f.Matches(name, qtype) {
				delete(s.m, k)
				c.entries.Add(-1)
				c.bytes.Add(-int64(len(e.body)))
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}

// InspectCache returns the responses cached for name (lower case,
// absolute) in the current generation, one per question and flags.
func (c *PacketCache) InspectCache(name string) []node.CacheEntry {
	now := c.nowFunc()
	gen := c.gen.Load()
	var out []node.CacheEntry
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		for k, e := range s.m {
			kname, qtype, ok := keyQuestion(k)
			if !ok || kname != name || e.gen != gen {
				continue
			}
			ce := node.CacheEntry{Cache: "packet", Name: kname, Type: dns.Type(qtype).String()}
			if e.rcode != 0 {
				ce.Rcode = dns.RcodeToString[e.rcode]
			}
			if now < e.expires {
				ce.TTL = uint32((e.expires - now) / time.Second)
			} else {
				ce.Stale = true // never served: the chain answers
				ce.ExpiredFor = (now - e.expires).Round(time.Second).String()
			}
			ce.Records = []string{keyFlags(k) + " " + strconv.Itoa(int(e.counts[0])) + " answer, " + strconv.Itoa(int(e.counts[1])) + " authority, " + strconv.Itoa(int(e.counts[2])) + " additional record(s)"}
			out = append(out, ce)
		}
		s.mu.RUnlock()
	}
	return out
}

// keyQuestion reads a cache key (cacheKey): the question name in
// presentation format, lower case, and the type.
func keyQuestion(k string) (string, uint16, bool) {
	if len(k) < 6 {
		return "", 0, false
	}
	name, _, err := dns.UnpackDomainName([]byte(k[:len(k)-5]), 0)
	if err != nil {
		return "", 0, false
	}
	return name, binary.BigEndian.Uint16([]byte(k[len(k)-5 : len(k)-3])), true
}

// keyFlags names the flags of a cache key that change the answer (the
// bits cacheKey sets).
func keyFlags(k string) string {
	f := k[len(k)-1]
	var parts []string
	for _, x := range []struct {
		bit  byte
		name string
	}{{1, "rd"}, {2, "cd"}, {4, "do"}} {
		if f&x.bit != 0 {
			parts = append(parts, x.name)
		}
	}
	return "flags [" + strings.Join(parts, " ") + "]:"
}
