package node

import (
	"strings"
	"sync"
)

// Cache is a cache of the query path that an operator may flush and
// inspect (the resolver's, the fast path's packet cache). The plugin that
// owns one registers it on the block's Holder; the node's HTTP endpoint
// (node/syncer) reaches every one of them through it, knowing none.
type Cache interface {
	// FlushCache drops what f matches and returns how many entries went.
	FlushCache(f CacheFlush) int
	// InspectCache returns what the cache holds for name (lower case,
	// absolute), without touching recency.
	InspectCache(name string) []CacheEntry
}

// CacheFlush says which cached answers go: those of Name, or with Subtree
// of Name and every name below it (Unbound's flush_zone); with Type, only
// that type's (and the name-error answers, which answer every type).
type CacheFlush struct {
	Name    string // lower case, absolute
	Subtree bool
	Type    uint16 // 0: every type
}

// MatchesName reports whether name (lower case, absolute) is Name, or with
// Subtree at or below it.
func (f CacheFlush) MatchesName(name string) bool {
	if name == f.Name {
		return true
	}
	if !f.Subtree {
		return false
	}
	return f.Name == "." || strings.HasSuffix(name, "."+f.Name)
}

// Matches reports whether an entry of name and qtype goes; qtype 0 is an
// entry that answers every type (a name error).
func (f CacheFlush) Matches(name string, qtype uint16) bool {
	return f.MatchesName(name) && (f.Type == 0 || qtype == 0 || qtype == f.Type)
}

// CacheEntry is one thing a cache holds for a name.
type CacheEntry struct {
	Cache      string   `json:"cache"` // which cache: "resolver", "resolver delegation", "packet"
	Name       string   `json:"name"`
	Type       string   `json:"type"`            // "" for a name error (every type)
	Rcode      string   `json:"rcode,omitempty"` // negative answers: NXDOMAIN or NOERROR (NODATA)
	TTL        uint32   `json:"ttl"`             // seconds left (0 when stale)
	Stale      bool     `json:"stale"`           // expired: served only as stale data (RFC 8767), if at all
	ExpiredFor string   `json:"expired_for,omitempty"`
	From       string   `json:"from,omitempty"` // the server whose answer it came from
	Records    []string `json:"records,omitempty"`
}

// caches is the set registered on a Holder.
type caches struct {
	mu   sync.Mutex
	list []Cache
}

// RegisterCache adds c to the caches the node's endpoint flushes and
// inspects.
func (h *Holder) RegisterCache(c Cache) {
	h.caches.mu.Lock()
	defer h.caches.mu.Unlock()
	h.caches.list = append(h.caches.list, c)
}

// Caches returns the registered caches, in registration order.
func (h *Holder) Caches() []Cache {
	h.caches.mu.Lock()
	defer h.caches.mu.Unlock()
	return append([]Cache(nil), h.caches.list...)
}
