package zones

// Owner returns the owner name name (lower case, absolute) as OwnerNames
// lists it; false when the zone has no such name (neither records there
// nor names below it). The fast path's precomputation looks up the few
// names a change touched instead of listing every name again.
func (z *Zone) Owner(name string) (OwnerName, bool) {
	n := z.nodes[name]
	if n == nil {
		return OwnerName{}, false
	}
	return n.ownerName(), true
}
