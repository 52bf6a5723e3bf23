package zones

import (
	"strings"

	"github.com/miekg/dns"
)

// Changes are the records that differ between two versions of a zone, as
// ChangedOwners finds them.
type Changes struct {
	// Owners are the owner names (lower case, absolute) with a record in
	// one version that the other does not have in the same place.
	Owners map[string]bool
	// Types are the types of those records.
	Types map[uint16]bool
}

// changedWithin is how far ChangedOwners looks ahead in either version for
// the record it stands at in the other, after two records differ.
const changedWithin = 8

// ChangedOwners compares two versions of a zone record by record, in file
// order: where they differ it looks a few records ahead in each for the
// next pair of equal records (a line added, removed or changed). Every
// record of an owner outside Owners is in both versions, equal, in the same
// order relative to the owner's other records, so the owner's RRsets are
// the same. Equal is the same owner name as written, type, class, TTL and
// data as dns.IsDuplicate compares it (names in the data without regard to
// case). ok is false when the versions differ too much to say cheaply (a
// few comparisons per record).
func ChangedOwners(old, cur *Zone) (c Changes, ok bool) {
	c = Changes{Owners: map[string]bool{}, Types: map[uint16]bool{}}
	a, b := old.Records(), cur.Records()
	changed := func(rr dns.RR) {
		h := rr.Header()
		c.Owners[strings.ToLower(h.Name)] = true
		c.Types[h.Rrtype] = true
	}
	i, j := 0, 0
	budget := 4 * (len(a) + len(b))
	for i < len(a) && j < len(b) {
		if budget--; budget < 0 {
			return c, false
		}
		if sameRecord(a[i], b[j]) {
			i, j = i+1, j+1
			continue
		}
		resynced := false
		for d := 1; d <= changedWithin && !resynced; d++ {
			budget -= 2
			switch {
			case i+d < len(a) && sameRecord(a[i+d], b[j]):
				for _, rr := range a[i : i+d] {
					changed(rr)
				}
				i, resynced = i+d, true
			case j+d < len(b) && sameRecord(a[i], b[j+d]):
				for _, rr := range b[j : j+d] {
					changed(rr)
				}
				j, resynced = j+d, true
			}
		}
		if !resynced {
			changed(a[i])
			changed(b[j])
			i, j = i+1, j+1
		}
	}
	for _, rr := range a[i:] {
		changed(rr)
	}
	for _, rr := range b[j:] {
		changed(rr)
	}
	return c, true
}

// sameRecord: the same owner as written, type, class, TTL and data.
func sameRecord(x, y dns.RR) bool {
	if x == y {
		return true
	}
	hx, hy := x.Header(), y.Header()
	return hx.Name == hy.Name && hx.Rrtype == hy.Rrtype && hx.Class == hy.Class && hx.Ttl == hy.Ttl && dns.IsDuplicate(x, y)
}
