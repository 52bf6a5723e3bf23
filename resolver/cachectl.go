package resolver

import (
	"sort"
	"time"

	"github.com/gitops-dns/resolverd/node"
	"github.com/miekg/dns"
)

// CacheUsage says what the RRset cache (RRsets and negative answers) holds:
// its entries and their estimated bytes (entrySize), the running sums the
// entry and byte bounds (CacheSize, CacheMaxBytes) apply to. Nothing is
// scanned: a scrape costs two loads.
func (r *Resolver) CacheUsage() (entries int, bytes int64) { return r.c.usage() }

// FlushCache drops the cached RRsets, negative answers and failures f
// matches; without a type it also drops the zone cuts at the flushed names
// (with Subtree, every cut at or below Name: Unbound's flush_zone), so the
// next query for them starts from the closest cut still known. It returns
// how many entries went. It walks every key: an operator's action, not
// the query path.
func (r *Resolver) FlushCache(f node.CacheFlush) int {
	n := 0
	for _, k := range r.c.rr.Keys() {
		if f.Matches(k.name, keyType(k)) && r.c.rr.Remove(k) {
			n++
		}
	}
	for _, k := range r.c.fail.Keys() {
		if f.Matches(k.name, keyType(k)) && r.c.fail.Remove(k) {
			n++
		}
	}
	if f.Type == 0 {
		for _, zone := range r.c.deleg.Keys() {
			if f.MatchesName(zone) && r.c.deleg.Remove(zone) {
				n++
			}
		}
	}
	return n
}

// keyType is the type a key answers: 0 (every type) for a name error.
func keyType(k rrKey) uint16 {
	if k.kind == kindNameError {
		return 0
	}
	return k.qtype
}

// InspectCache returns what the cache holds for name: its RRsets and
// negative answers with their TTL left, stale or not and the server they
// came from, and the zone cut at name if one is cached.
func (r *Resolver) InspectCache(name string) []node.CacheEntry {
	name = lower(dns.Fqdn(name))
	now := r.clock.Now()
	var out []node.CacheEntry
	for _, k := range r.c.rr.Keys() {
		if k.name != name {
			continue
		}
		e, ok := r.c.rr.Peek(k)
		if !ok {
			continue
		}
		ce := node.CacheEntry{Cache: "resolver", Name: name}
		if k.kind == kindRRset {
			ce.Type = dns.Type(k.qtype).String()
		}
		if e.neg {
			ce.Rcode = dns.RcodeToString[e.rcode]
		}
		if e.fresh(now) {
			ce.TTL = uint32(e.expires.Sub(now) / time.Second)
		} else {
			ce.Stale = true
			ce.ExpiredFor = now.Sub(e.expires).Round(time.Second).String()
		}
		if e.from.IsValid() {
			ce.From = e.from.String()
		}
		for _, rr := range e.rrs {
			ce.Records = append(ce.Records, rr.String())
		}
		out = append(out, ce)
	}
	if d, ok := r.c.deleg.Peek(name); ok {
		ce := node.CacheEntry{Cache: "resolver delegation", Name: name, Type: "NS"}
		if !d.expires.IsZero() {
			if now.Before(d.expires) {
				ce.TTL = uint32(d.expires.Sub(now) / time.Second)
			} else {
				ce.Stale = true
				ce.ExpiredFor = now.Sub(d.expires).Round(time.Second).String()
			}
		}
		for _, ns := range d.ns {
			s := ns
			for _, a := range d.glue[ns] {
				s += " " + a.String()
			}
			ce.Records = append(ce.Records, s)
		}
		out = append(out, ce)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Cache != out[j].Cache {
			return out[i].Cache < out[j].Cache
		}
		return out[i].Type < out[j].Type
	})
	return out
}
