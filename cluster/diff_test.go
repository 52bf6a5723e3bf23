package cluster

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	base, fs := Load(mapFS(goodRepo), "")
	if len(fs) != 0 {
		t.Fatal(findingStrings(fs))
	}
	headFiles := with(goodRepo, map[string]string{
		"zones/18.198.in-addr.arpa.zone": "",
		"zones/lab.example.zone":         "$ORIGIN lab.example.\n@ 3600 IN SOA ns1.corp.example. h.corp.example. 1 7200 3600 1209600 300\n@ 3600 IN NS ns1.corp.example.\n@ 3600 IN NS ns2.corp.example.\n",
		"zones/corp.example.zone":        replace(replace(corpZ, "2026010101", "2026010102"), "db      IN A   198.18.5.10", "db 60   IN A   198.18.5.10"),
		"clusters/staging.yaml":          "",
		"clusters/ap-south.yaml":         "name: ap-south\nenvironment: production\nnodes:\n  - {name: ns1, address: 198.18.6.1}\n",
		"clusters/us-east.yaml":          replace(usEast, "zones: [corp.example., 18.198.in-addr.arpa.]", "zones: [corp.example.]"),
		"policy.yaml":                    "fallback:\n  ttl: 60\n",
	})
	for k, v := range headFiles {
		if v == "" {
			delete(headFiles, k)
		}
	}
	head, fs := Load(mapFS(headFiles), "")
	if len(fs) != 0 {
		t.Fatal(findingStrings(fs))
	}
	p := Diff(base, head)
	var got []string
	for _, z := range p.Zones {
		got = append(got, "zone "+z.Origin+" "+z.Status)
		for _, c := range z.Changed {
			got = append(got, "  ~ "+c.Old+" => "+c.New)
		}
	}
	for _, c := range p.Clusters {
		got = append(got, "cluster "+c.Name+" "+c.Status)
	}
	for _, c := range p.Policy {
		got = append(got, "policy "+c.What+" "+c.Old+" => "+c.New)
	}
	want := []string{
		"zone 18.198.in-addr.arpa. removed",
		"zone corp.example. changed",
		"  ~ corp.example. 3600 IN SOA ns1.corp.example. hostmaster.corp.example. 2026010101 7200 3600 1209600 300 => corp.example. 3600 IN SOA ns1.corp.example. hostmaster.corp.example. 2026010102 7200 3600 1209600 300",
		"  ~ db.corp.example. 3600 IN A 198.18.5.10 => db.corp.example. 60 IN A 198.18.5.10",
		"zone lab.example. added",
		"cluster ap-south added",
		"cluster staging removed",
		"cluster us-east changed",
		"policy fallback.ttl 30 => 60",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	s := p.Summary
	if s.ZonesAdded != 1 || s.ZonesRemoved != 1 || s.ZonesChanged != 1 || s.RecordsRemoved != 5 || s.RecordsAdded != 3 || s.RecordsChanged != 2 || s.ClustersAdded != 1 || s.ClustersRemoved != 1 || s.ClustersChanged != 1 {
		t.Errorf("summary: %s", s)
	}
	if !Diff(base, base).Empty() {
		t.Error("a revision differs from itself")
	}
}

// TestDiffableChangesNothing: the record diff of what diffable keeps is
// the diff of the whole zones, text and order, on random pairs of zones
// (randomZonePair: duplicates, owner case, escapes, TTLs, moves).
func TestDiffableChangesNothing(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 2))
	smaller := 0
	for i := range 3000 {
		bText, hText, bz, hz := randomZonePair(r)
		br, hr := diffable(bz.Records(), hz.Records())
		if len(br) < bz.Len() {
			smaller++
		}
		want := diffRecords(bz.Records(), hz.Records())
		if got := diffRecords(br, hr); !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: diff of what diffable keeps:\n%+v\nof the whole zones:\n%+v\nbase:\n%s\nhead:\n%s", i, got, want, bText, hText)
		}
	}
	if smaller < 1500 {
		t.Fatalf("only %d cases of 3000 left records out: the test compares too little", smaller)
	}
}
