package zones

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// ChangedOwners names the owners with a record that is not in the other
// version, equal and in the same order, and nothing else; a zone changed
// throughout is not compared further.
func TestChangedOwners(t *testing.T) {
	base := "$ORIGIN ex.\n$TTL 300\n@ IN SOA ns h 1 3600 600 1209600 300\n@ IN NS ns\nns IN A 192.0.2.1\n"
	for i := range 30 {
		base += fmt.Sprintf("h%d IN A 10.0.0.%d\n", i, i)
	}
	base += "m IN A 10.1.0.1\nm IN A 10.1.0.2\nmx IN MX 10 mail\n"
	for _, tc := range []struct {
		name, head string
		owners     []string
		types      []uint16
	}{
		{"the same", base, nil, nil},
		{"serial", strings.Replace(base, " 1 3600", " 2 3600", 1), []string{"ex."}, []uint16{dns.TypeSOA}},
		{"an address", strings.Replace(base, "10.0.0.7\n", "10.0.0.70\n", 1), []string{"h7.ex."}, []uint16{dns.TypeA}},
		{"a TTL", strings.Replace(base, "h7 IN", "h7 60 IN", 1), []string{"h7.ex."}, []uint16{dns.TypeA}},
		{"owner case", strings.Replace(base, "h7 IN", "H7 IN", 1), []string{"h7.ex."}, []uint16{dns.TypeA}},
		{"a line removed", strings.Replace(base, "h7 IN A 10.0.0.7\n", "", 1), []string{"h7.ex."}, []uint16{dns.TypeA}},
		{"a line added", strings.Replace(base, "h7 IN A 10.0.0.7\n", "h7 IN A 10.0.0.7\nnew IN A 10.2.0.1\n", 1), []string{"new.ex."}, []uint16{dns.TypeA}},
		{"lines swapped", strings.Replace(base, "m IN A 10.1.0.1\nm IN A 10.1.0.2\n", "m IN A 10.1.0.2\nm IN A 10.1.0.1\n", 1), []string{"m.ex."}, []uint16{dns.TypeA}},
		{"a moved line", strings.Replace(base, "h3 IN A 10.0.0.3\n", "", 1) + "h3 IN A 10.0.0.3\n", []string{"h3.ex."}, []uint16{dns.TypeA}},
		{"a target's case", strings.Replace(base, "10 mail", "10 MAIL", 1), nil, nil}, // dns.IsDuplicate: the same data
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := Parse("a", "ex.", []byte(base))
			b, fs := Parse("b", "ex.", []byte(tc.head))
			if HasErrors(fs) {
				t.Fatal(fs)
			}
			c, ok := ChangedOwners(a, b)
			if !ok {
				t.Fatal("not compared")
			}
			if got := slices.Sorted(maps.Keys(c.Owners)); !slices.Equal(got, tc.owners) {
				t.Errorf("owners %v, want %v", got, tc.owners)
			}
			if got := slices.Sorted(maps.Keys(c.Types)); !slices.Equal(got, tc.types) {
				t.Errorf("types %v, want %v", got, tc.types)
			}
		})
	}
	a, _ := Parse("a", "ex.", []byte(base))
	b, _ := Parse("b", "ex.", []byte(strings.ReplaceAll(base, " 10.", " 11.")))
	if _, ok := ChangedOwners(a, b); ok {
		t.Error("a zone whose every address changed was compared record by record to the end")
	}
}
