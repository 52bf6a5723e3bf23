package gitops

import "github.com/gitops-dns/resolverd/node"

// Source is how the other plugins of a server block (authority, recursor,
// fallback) read what is being served. Snapshot is one atomic load: call it
// once per query and use the value for the whole query, so a query that
// started on one revision finishes on it.
type Source interface {
	// Snapshot returns the snapshot being served, or nil before any valid
	// revision has been applied.
	Snapshot() *node.Snapshot
}
