package cluster

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gitops-dns/resolverd/cluster/model"
	"github.com/gitops-dns/resolverd/zones"
)

// nearZone is zone <name>.example. holding n A records besides its SOA and
// NS (serial tells versions apart).
func nearZone(t *testing.T, name string, serial, n int) *zones.Zone {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s.example.\n@ 300 IN SOA ns1.other.example. h %d 1 1 1 1\n@ IN NS ns1.other.example.\n", name, serial)
	for i := range n {
		fmt.Fprintf(&b, "h%d IN A 192.0.2.%d\n", i, i%250+1)
	}
	z, findings := zones.Parse(name+".zone", name+".example.", []byte(b.String()))
	for _, f := range findings {
		if f.Severity == zones.SeverityError {
			t.Fatal(f)
		}
	}
	return z
}

// The near-empty rule counts the zones a revision shares with its base
// (the same parsed zone) only when its decision depends on them; what it
// decides, and the counts it reports, are those of counting every record
// of both revisions.
func TestNearEmptyWithSharedZones(t *testing.T) {
	type zoneOf struct {
		name  string
		n     int  // data records
		again bool // in the revision: parsed again (changed), not shared
	}
	for _, tc := range []struct {
		name string
		base []zoneOf // nil: no base
		rev  []zoneOf // n is the revision's count; again=false shares the base's zone
		want string   // the near-empty finding's message, "" for none
	}{
		{"one record changed", []zoneOf{{"a", 100, false}, {"b", 100, false}}, []zoneOf{{"a", 100, true}, {"b", 100, false}}, ""},
		{"nothing changed", []zoneOf{{"a", 100, false}}, []zoneOf{{"a", 100, false}}, ""},
		{"changed zone emptied, shared zone small", []zoneOf{{"a", 1000, false}, {"b", 5, false}}, []zoneOf{{"a", 0, true}, {"b", 5, false}},
			"the revision keeps 5 of the 1005 data records of its base (less than 10%): refusing a near-empty desired state, whatever the commit message says"},
		{"changed zone emptied, shared zone large", []zoneOf{{"a", 1000, false}, {"b", 200, false}}, []zoneOf{{"a", 0, true}, {"b", 200, false}}, ""},
		{"zone deleted, shared zone small", []zoneOf{{"a", 1000, false}, {"b", 50, false}}, []zoneOf{{"b", 50, false}},
			"the revision keeps 50 of the 1050 data records of its base (less than 10%): refusing a near-empty desired state, whatever the commit message says"},
		{"changed zones empty, shared zone not", []zoneOf{{"a", 10, false}, {"b", 10, false}}, []zoneOf{{"a", 0, true}, {"b", 10, false}}, ""},
		{"every zone empty", []zoneOf{{"a", 10, false}, {"b", 0, false}}, []zoneOf{{"a", 0, true}, {"b", 0, false}},
			"the revision's zones hold no record besides SOA and NS: refusing an empty desired state"},
		{"no base, empty", nil, []zoneOf{{"a", 0, true}}, "the revision's zones hold no record besides SOA and NS: refusing an empty desired state"},
		{"no base", nil, []zoneOf{{"a", 3, true}}, ""},
		{"small base", []zoneOf{{"a", 9, false}}, []zoneOf{{"a", 0, true}, {"b", 0, true}}, "the revision's zones hold no record besides SOA and NS: refusing an empty desired state"},
		{"small base, one kept", []zoneOf{{"a", 9, false}}, []zoneOf{{"a", 0, true}, {"b", 0, true}, {"c", 1, true}}, ""},
		{"exactly 10%", []zoneOf{{"a", 90, false}, {"b", 10, false}}, []zoneOf{{"a", 0, true}, {"b", 10, false}}, ""},
		{"just below 10%", []zoneOf{{"a", 91, false}, {"b", 10, false}}, []zoneOf{{"a", 0, true}, {"b", 10, false}},
			"the revision keeps 10 of the 101 data records of its base (less than 10%): refusing a near-empty desired state, whatever the commit message says"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var base *model.Revision
			byName := map[string]*zones.Zone{}
			if tc.base != nil {
				base = &model.Revision{}
				for _, z := range tc.base {
					byName[z.name] = nearZone(t, z.name, 1, z.n)
					base.Zones = append(base.Zones, byName[z.name])
				}
			}
			rev := &model.Revision{}
			for _, z := range tc.rev {
				if zb, ok := byName[z.name]; ok && !z.again {
					rev.Zones = append(rev.Zones, zb)
					continue
				}
				rev.Zones = append(rev.Zones, nearZone(t, z.name, 2, z.n))
			}
			c := &checker{rev: rev}
			c.nearEmpty(base)
			var got []string
			for _, f := range c.out {
				if f.Rule == RuleNearEmpty {
					got = append(got, f.Msg)
				}
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("near-empty: %q, want none", got)
			case tc.want != "" && (len(got) != 1 || got[0] != tc.want):
				t.Errorf("near-empty: %q, want %q", got, tc.want)
			}
		})
	}
}
