package zones

import (
	"reflect"
	"testing"
)

// TestOwner: Owner gives every name as OwnerNames lists it (records, an
// empty non-terminal, a name at a cut and below it), and nothing for a
// name the zone does not have.
func TestOwner(t *testing.T) {
	z, fs := Parse("t.zone", "example.", []byte("$TTL 300\n@ IN SOA ns h 1 2 3 4 60\n@ IN NS ns\nns IN A 198.18.0.1\na.b IN TXT x\nsub IN NS ns.sub\nns.sub IN A 198.18.0.2\n"))
	if HasErrors(fs) {
		t.Fatal(fs)
	}
	names := z.OwnerNames()
	if len(names) != 6 {
		t.Fatalf("%d owner names, want 6: %v", len(names), names)
	}
	for _, want := range names {
		if got, ok := z.Owner(want.Name); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("Owner(%q) = %+v, %v; want %+v", want.Name, got, ok, want)
		}
	}
	for _, absent := range []string{"c.example.", "x.a.b.example.", "example.org."} {
		if got, ok := z.Owner(absent); ok {
			t.Errorf("Owner(%q) = %+v, want none", absent, got)
		}
	}
}
