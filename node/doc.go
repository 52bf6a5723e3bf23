// Package node is what one resolver node serves, below CoreDNS: the
// immutable Snapshot of one applied revision for this node (NewSnapshot),
// the Source the query path reads it from (one atomic load per query), and
// the Verdict by which the plugins of a query tell the fast path whether
// its response may be cached. It imports neither git nor the YAML loader,
// so the UDP hot path (package fastpath) links only the model
// (ARCHITECTURE.md, "Layers"). Keeping a Source current — fetch, verify,
// load, check, swap, self-probe, status — is node/syncer's job.
package node
