package node

import "sync/atomic"

// Source is how the query path reads what is being served (the authority,
// recursor and fallback plugins, and the fast path). Snapshot is one atomic
// load: call it once per query and use the value for the whole query, so a
// query that started on one revision finishes on it.
type Source interface {
	// Snapshot returns the snapshot being served, or nil before any valid
	// revision has been applied.
	Snapshot() *Snapshot
}

// Holder is the Source a syncer stores into: one atomic pointer, so the
// swap to a new revision is a single store and in-flight queries finish on
// the snapshot they loaded. The zero Holder serves nothing (nil).
type Holder struct {
	p atomic.Pointer[Snapshot]
}

// Snapshot implements Source.
func (h *Holder) Snapshot() *Snapshot { return h.p.Load() }

// Store makes s the snapshot served (nil: nothing).
func (h *Holder) Store(s *Snapshot) { h.p.Store(s) }

// StaticSource returns a Source that always serves s: for tests of the code
// that reads snapshots.
func StaticSource(s *Snapshot) Source {
	h := &Holder{}
	h.Store(s)
	return h
}
