package zones

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/miekg/dns"
)

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.zone")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		head + "www IN A 192.0.2\n",
		"$TTL 300\n@ IN SOA ns1 hostmaster (\n  1\n  7200\n  nine\n",
		"$INCLUDE /etc/passwd\n",
		"$GENERATE 1-100 h$ A 192.0.2.$\n",
		"a ( \"b\\\" ) c\n)\n",
		"\\( IN TXT \\;\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		z, fs := Parse("f.zone", "example.com.", data)
		if z == nil {
			t.Fatal("nil zone")
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		if len(z.Records()) != len(z.Positions()) {
			t.Fatalf("%d records, %d positions", len(z.Records()), len(z.Positions()))
		}
		check := func(p Position) {
			if p.File != "f.zone" || p.Line < 1 || p.Line > lines || p.Col < 1 || p.Col > len(data)+1 {
				t.Fatalf("position out of range: %v (%d lines, %d bytes)", p, lines, len(data))
			}
		}
		for _, p := range z.Positions() {
			check(p)
		}
		for _, f := range fs {
			if f.Pos.Line != 0 {
				check(f.Pos)
			}
		}
		for _, f := range Lint(z, LintPolicy{MinTTL: 60, MaxTTL: 86400}) {
			if f.Pos.Line != 0 {
				check(f.Pos)
			}
		}
		if d := Diff(z, z); len(d) != 0 {
			t.Fatalf("a zone differs from itself: %v", d)
		}
		for _, rr := range z.Records() {
			z.Lookup(rr.Header().Name, rr.Header().Rrtype)
			z.Lookup("x."+rr.Header().Name, dns.TypeA)
			z.Lookup(rr.Header().Name, dns.TypeANY)
		}
	})
}
