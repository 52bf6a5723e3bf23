package cluster

import (
	"reflect"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/miekg/dns"

	"github.com/gitops-dns/resolverd/cluster/gittree"
	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
)

// TestLoadAgainstSharesUnchangedZones: loaded against its base, a revision
// shares the zone (and its findings and lint) of every file whose git blob
// did not change, parses a changed file again, lints every zone again when
// the TTL bounds change, and equals a load from scratch in every case.
func TestLoadAgainstSharesUnchangedZones(t *testing.T) {
	r := newTestRepo(t)
	base := r.commit("base", prefixed("dns", goodRepo))
	changed := strings.Replace(goodRepo["zones/corp.example.zone"], "198.18.5.80", "198.18.5.81", 1)
	changed = strings.Replace(changed, "2026010101", "2026010102", 1)
	record := r.commit("one record", map[string]string{"dns/zones/corp.example.zone": changed})
	bounds := r.commit("TTL bounds", map[string]string{"dns/policy.yaml": "limits:\n  min_ttl: 7200\n"})

	load := func(h plumbing.Hash, from *model.Revision) (*model.Revision, []zones.Finding) {
		c, err := gittree.Open(r.repo, h, "dns")
		if err != nil {
			t.Fatal(err)
		}
		return LoadAgainst(c.FS, c.Dir, from)
	}
	zone := func(rev *model.Revision, origin string) *zones.Zone {
		for _, z := range rev.Zones {
			if z.Origin() == origin {
				return z
			}
		}
		t.Fatalf("no zone %s", origin)
		return nil
	}
	b, _ := load(base, nil)
	for _, tc := range []struct {
		name           string
		head           plumbing.Hash
		from           *model.Revision
		shared, parsed []string
		relinted       bool
		changedRecords int // in each parsed zone
	}{
		{"one record changed", record, b, []string{"18.198.in-addr.arpa."}, []string{"corp.example."}, false, 2},
		{"TTL bounds changed", bounds, b, []string{"18.198.in-addr.arpa."}, []string{"corp.example."}, true, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, gotFindings := load(tc.head, tc.from)
			want, wantFindings := load(tc.head, nil)
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotFindings, wantFindings) {
				t.Fatal("loaded against the base, the revision differs from a load from scratch")
			}
			if g, w := Check(got, tc.from), Check(want, tc.from); !reflect.DeepEqual(g, w) {
				t.Fatalf("checks differ:\n%s\nfrom scratch:\n%s", findingStrings(g), findingStrings(w))
			}
			for _, o := range tc.shared {
				if zone(got, o) != zone(tc.from, o) {
					t.Errorf("zone %s parsed again, its blob did not change", o)
				}
				zf, bf := got.ZoneFiles[zone(got, o).File()], tc.from.ZoneFiles[zone(got, o).File()]
				if relinted := zf != bf; relinted != tc.relinted {
					t.Errorf("zone %s linted again: %v, want %v", o, relinted, tc.relinted)
				}
			}
			for _, o := range tc.parsed {
				if zone(got, o) == zone(tc.from, o) {
					t.Errorf("zone %s taken from the base, its blob changed", o)
				}
				// Parsed against the base's zone: the records of
				// unchanged entries are the base's.
				old := map[dns.RR]bool{}
				for _, rr := range zone(tc.from, o).Records() {
					old[rr] = true
				}
				shared := 0
				for _, rr := range zone(got, o).Records() {
					if old[rr] {
						shared++
					}
				}
				if n := zone(got, o).Len(); shared != n-tc.changedRecords {
					t.Errorf("zone %s: %d of %d records shared with the base, want all but %d", o, shared, n, tc.changedRecords)
				}
			}
		})
	}
}
