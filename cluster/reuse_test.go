package cluster

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/miekg/dns"

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

	load := r.loadAgainst
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

// TestLoadAgainstSharesUnchangedRPZ: loaded against its base, a revision
// takes the parsed policy and the parser's findings of every RPZ file
// whose git blob at the same path did not change, parses a changed or
// moved file, checks the names across entries again, and equals a load
// from scratch at every step of a series.
func TestLoadAgainstSharesUnchangedRPZ(t *testing.T) {
	r := newTestRepo(t)
	zoneEdit := func(serial string) map[string]string {
		z := strings.Replace(goodRepo["zones/corp.example.zone"], "2026010101", serial, 1)
		return map[string]string{"dns/zones/corp.example.zone": strings.Replace(z, "198.18.5.80", "198.18.5."+serial[len(serial)-2:], 1)}
	}
	moved := strings.Replace(rpzPolicy, "policy/retired.rpz", "policy/retired2.rpz", 1)
	namedLikeMalware := strings.ReplaceAll(retiredRPZ, "retired.rpz.", "malware.rpz.")
	steps := []struct {
		name           string
		files          map[string]string
		shared, parsed []string // rpz files whose parse is (not) the previous revision's
		errors         bool
	}{
		{"first", prefixed("dns", with(goodRepo, withRPZ(nil))), nil, nil, false},
		{"a zone changed", zoneEdit("2026010112"), []string{"policy/malware.rpz", "policy/retired.rpz"}, nil, false},
		{"a policy changed", map[string]string{"dns/policy/malware.rpz": malwareRPZ(21)}, []string{"policy/retired.rpz"}, []string{"policy/malware.rpz"}, false},
		{"a policy named like another", map[string]string{"dns/policy/retired.rpz": namedLikeMalware}, []string{"policy/malware.rpz"}, []string{"policy/retired.rpz"}, true},
		{"still named like another", zoneEdit("2026010113"), []string{"policy/malware.rpz", "policy/retired.rpz"}, nil, true},
		{"a policy moved", map[string]string{"dns/policy.yaml": moved, "dns/policy/retired2.rpz": namedLikeMalware}, []string{"policy/malware.rpz"}, []string{"policy/retired2.rpz"}, true},
		{"a policy broken", map[string]string{"dns/policy/retired2.rpz": retiredRPZ + "bad IN A 300.1.1.1\n"}, []string{"policy/malware.rpz"}, []string{"policy/retired2.rpz"}, true},
		{"still broken", zoneEdit("2026010114"), []string{"policy/malware.rpz", "policy/retired2.rpz"}, nil, true},
	}
	load := r.loadAgainst
	entry := func(rev *model.Revision, file string) *model.RPZ {
		for i := range rev.Policy.RPZ {
			if rev.Policy.RPZ[i].File == file {
				return &rev.Policy.RPZ[i]
			}
		}
		t.Fatalf("no rpz entry %s", file)
		return nil
	}
	var prev *model.Revision
	for _, st := range steps {
		h := r.commit(st.name, st.files)
		got, gotFindings := load(h, prev)
		want, wantFindings := load(h, nil)
		if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(gotFindings, wantFindings) {
			t.Fatalf("%s: loaded against the previous revision, it differs from a load from scratch:\n%s\nfrom scratch:\n%s", st.name, findingStrings(gotFindings), findingStrings(wantFindings))
		}
		if zones.HasErrors(gotFindings) != st.errors {
			t.Fatalf("%s: errors %v, want %v: %s", st.name, zones.HasErrors(gotFindings), st.errors, findingStrings(gotFindings))
		}
		if g, w := Check(got, prev), Check(want, prev); !reflect.DeepEqual(g, w) {
			t.Fatalf("%s: checks differ:\n%s\nfrom scratch:\n%s", st.name, findingStrings(g), findingStrings(w))
		}
		for _, f := range st.shared {
			if e := entry(got, f); e.Blob == "" || !reflect.DeepEqual(e.Findings, entry(prev, f).Findings) || e.Parsed != entry(prev, f).Parsed {
				t.Errorf("%s: %s parsed again, its blob did not change", st.name, f)
			}
		}
		for _, f := range st.parsed {
			if e := entry(got, f); e.Parsed != nil && prev != nil && slices.ContainsFunc(prev.Policy.RPZ, func(b model.RPZ) bool { return b.Parsed == e.Parsed }) {
				t.Errorf("%s: %s taken from the previous revision, it changed or moved", st.name, f)
			}
		}
		prev = got
	}
}
