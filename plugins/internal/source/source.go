// Package source finds the node.Holder of a CoreDNS server block: the gitops
// plugin stores the snapshot it applies into it, and the authority,
// recursor, fallback and fastpath plugins of the same block read it as a
// node.Source. It is the only CoreDNS glue the plugins share, kept here so
// that no plugin imports another (ARCHITECTURE.md, "Plugins").
package source

import (
	"sync"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"

	"github.com/gitops-dns/resolverd/node"
)

var (
	mu       sync.Mutex
	registry = map[*dnsserver.Config]*node.Holder{}
)

// HolderOf returns the holder of server block dc, made on first use, so the
// setup order of the plugins does not matter.
func HolderOf(dc *dnsserver.Config) *node.Holder {
	mu.Lock()
	defer mu.Unlock()
	h := registry[dc]
	if h == nil {
		h = &node.Holder{}
		registry[dc] = h
	}
	return h
}

// Forget drops the holder of a server block that shut down.
func Forget(dc *dnsserver.Config) {
	mu.Lock()
	defer mu.Unlock()
	delete(registry, dc)
}

// Of returns the Source of the server block c belongs to. It works
// whether the gitops setup of that block ran before or after the caller's;
// until gitops has applied a revision, Snapshot returns nil.
func Of(c *caddy.Controller) node.Source {
	return HolderOf(dnsserver.GetConfig(c))
}
