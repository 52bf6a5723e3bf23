package zones

import (
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/internal/dnsname"
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

// pairWithin is how far PairRecords looks ahead in either list for the
// record it stands at in the other, after two records differ.
const pairWithin = 8

// PairRecords takes out of a and b the pairs of records same says are
// equal, walking both in order: where they differ it looks a few records
// ahead in each for the next pair (a line added, removed or changed), so
// the records paired keep their order in both. It returns what is left of
// each, in order; complete is false when the lists differ too much to
// compare cheaply (a few comparisons per record): the rest of both is then
// left unpaired.
func PairRecords(a, b []dns.RR, same func(x, y dns.RR) bool) (restA, restB []dns.RR, complete bool) {
	i, j := 0, 0
	budget := 4 * (len(a) + len(b))
	for i < len(a) && j < len(b) {
		if budget--; budget < 0 {
			return append(restA, a[i:]...), append(restB, b[j:]...), false
		}
		if same(a[i], b[j]) {
			i, j = i+1, j+1
			continue
		}
		paired := false
		for d := 1; d <= pairWithin && !paired; d++ {
			budget -= 2
			switch {
			case i+d < len(a) && same(a[i+d], b[j]):
				restA, i, paired = append(restA, a[i:i+d]...), i+d, true
			case j+d < len(b) && same(a[i], b[j+d]):
				restB, j, paired = append(restB, b[j:j+d]...), j+d, true
			}
		}
		if !paired {
			restA, restB = append(restA, a[i]), append(restB, b[j])
			i, j = i+1, j+1
		}
	}
	return append(restA, a[i:]...), append(restB, b[j:]...), true
}

// ChangedOwners compares two versions of a zone record by record, in file
// order (PairRecords): every record of an owner outside Owners is in both
// versions, equal, in the same order relative to the owner's other
// records, so the owner's RRsets are the same. Equal is the same owner
// name as written, type, class, TTL and data as dns.IsDuplicate compares it
// (names in the data without regard to case). ok is false when the
// versions differ too much to say cheaply.
func ChangedOwners(old, cur *Zone) (c Changes, ok bool) {
	restOld, restCur, ok := PairRecords(old.Records(), cur.Records(), sameRecord)
	if !ok {
		return Changes{}, false
	}
	c = Changes{Owners: map[string]bool{}, Types: map[uint16]bool{}}
	for _, rs := range [][]dns.RR{restOld, restCur} {
		for _, rr := range rs {
			h := rr.Header()
			c.Owners[dnsname.Lower(h.Name)] = true
			c.Types[h.Rrtype] = true
		}
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
