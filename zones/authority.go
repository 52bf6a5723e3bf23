package zones

import "sort"

// Authority is a set of zones answered together: Match picks the zone that
// most closely encloses a name. Immutable once built.
type Authority struct {
	byOrigin map[string]*Zone
	zones    []*Zone // sorted by origin
}

// NewAuthority indexes zones by origin. When two zones share an origin the
// last one wins (callers validate uniqueness before).
func NewAuthority(zs ...*Zone) *Authority {
	a := &Authority{byOrigin: make(map[string]*Zone, len(zs))}
	for _, z := range zs {
		if z == nil {
			continue
		}
		a.byOrigin[z.origin] = z
	}
	for _, z := range a.byOrigin {
		a.zones = append(a.zones, z)
	}
	sort.Slice(a.zones, func(i, j int) bool { return a.zones[i].origin < a.zones[j].origin })
	return a
}

// Match returns the closest enclosing zone of qname (any case, absolute or
// not), or nil when no zone encloses it.
func (a *Authority) Match(qname string) *Zone {
	if a == nil || len(a.byOrigin) == 0 {
		return nil
	}
	var buf [maxPresentationName]byte
	q, ok := lowerFqdn(buf[:0], qname)
	if !ok {
		return nil
	}
	off := 0
	for {
		if z, ok := a.byOrigin[string(q[off:])]; ok {
			return z
		}
		next, end := nextLabel(q, off)
		if end {
			if z, ok := a.byOrigin["."]; ok {
				return z
			}
			return nil
		}
		off = next
	}
}

// Zones returns the zones sorted by origin. Shared: do not modify.
func (a *Authority) Zones() []*Zone {
	if a == nil {
		return nil
	}
	return a.zones
}
