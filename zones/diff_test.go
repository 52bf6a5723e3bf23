package zones

import "testing"

func TestDiff(t *testing.T) {
	base, _ := Parse("z.zone", "example.com.", []byte(lintBase+
		"www IN A 192.0.2.1\nwww IN A 192.0.2.2\nold IN TXT \"gone\"\nttl IN A 192.0.2.5\nsame IN MX 10 www\n"))
	head, _ := Parse("z.zone", "example.com.", []byte(lintBase+
		"WWW IN A 192.0.2.2\nwww IN A 192.0.2.3\nnew IN AAAA 2001:db8::1\nttl 60 IN A 192.0.2.5\nsame IN MX 10 www.example.com.\nwww IN TXT \"x\"\n"))
	tests := []struct {
		name       string
		base, head *Zone
		want       []string
	}{
		{name: "changes", base: base, head: head, want: []string{
			"added new.example.com. AAAA",
			"removed old.example.com. TXT",
			"changed ttl.example.com. A",
			"changed www.example.com. A",
			"added www.example.com. TXT",
		}},
		{name: "identical", base: base, head: base},
		{name: "from nothing", base: nil, head: base, want: []string{
			"added example.com. NS", "added example.com. SOA",
			"added ns1.example.com. A", "added ns2.example.com. A",
			"added old.example.com. TXT", "added same.example.com. MX", "added ttl.example.com. A", "added www.example.com. A",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range Diff(tc.base, tc.head) {
				got = append(got, c.String())
			}
			if !eqStrings(got, tc.want) {
				t.Errorf("diff:\n got  %q\n want %q", got, tc.want)
			}
		})
	}
	cs := Diff(base, head)
	if c := cs[3]; len(c.Base) != 2 || len(c.Head) != 2 || c.BasePos.String() != "z.zone:7:1" || c.HeadPos.String() != "z.zone:7:1" {
		t.Errorf("www A change: %+v", c)
	}
	if c := cs[0]; c.Base != nil || c.BasePos.Line != 0 || c.HeadPos.String() != "z.zone:9:1" {
		t.Errorf("added change: %+v", c)
	}
}
