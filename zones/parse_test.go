package zones

import (
	"strings"
	"testing"
)

func findingStrings(fs []Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}

const head = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 900 1209600 300\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		want    []string
		records int // records that still parsed
	}{
		{name: "clean", src: head + "www IN A 192.0.2.1\n", records: 2},
		{name: "bad address",
			src:     head + "www IN A 192.0.2\nok IN A 192.0.2.2\n",
			want:    []string{`t.zone:3:10: error: zone-syntax: bad A A: "192.0.2"`},
			records: 2},
		{name: "unknown type",
			src:     head + "www  IN  FOO bar\n",
			want:    []string{`t.zone:3:10: error: zone-syntax: not a TTL: "FOO"`},
			records: 1},
		{name: "every error, not only the first",
			src: head + "a IN A 1.2.3\nb IN AAAA 1.2.3.4\nc IN A 192.0.2.3\nd IN MX x mail\n",
			want: []string{
				`t.zone:3:8: error: zone-syntax: bad A A: "1.2.3"`,
				`t.zone:4:11: error: zone-syntax: bad AAAA AAAA: "1.2.3.4"`,
				`t.zone:6:9: error: zone-syntax: bad MX Pref: "x"`,
			},
			records: 2},
		{name: "error inside parentheses points at the token",
			src:  "$TTL 300\n@ IN SOA ns1 hostmaster (\n  1\n  7200\n  nine\n  1209600\n  300 )\n",
			want: []string{`t.zone:5:3: error: zone-syntax: bad SOA zone parameter: "nine"`}},
		{name: "include refused",
			src:     head + "$INCLUDE other.zone\nwww IN A 192.0.2.1\n",
			want:    []string{"t.zone:3:1: error: include-refused: $INCLUDE is refused: a zone is exactly the file git holds; put the records in this file"},
			records: 2},
		{name: "unknown directive",
			src:     head + "$FOO bar\n",
			want:    []string{"t.zone:3:1: error: zone-syntax: unknown directive $FOO"},
			records: 1},
		{name: "bad $TTL",
			src:     "$TTL forever\n@ 300 IN SOA ns1 hostmaster 1 7200 900 1209600 300\n",
			want:    []string{`t.zone:1:6: error: zone-syntax: bad $TTL value "forever"`},
			records: 1},
		{name: "unclosed parenthesis",
			src:     head + "www IN TXT ( \"a\"\n  \"b\"\n",
			want:    []string{"t.zone:3:12: error: zone-syntax: unbalanced parenthesis: '(' is never closed"},
			records: 1},
		{name: "stray closing parenthesis",
			src:     head + "www IN A 192.0.2.1 )\n",
			want:    []string{"t.zone:3:20: error: zone-syntax: unbalanced parenthesis: ')' without '('"},
			records: 1},
		{name: "unterminated quote",
			src:     head + "www IN TXT \"abc\nok IN A 192.0.2.1\n",
			want:    []string{"t.zone:3:12: error: zone-syntax: unterminated quoted string"},
			records: 2},
		{name: "first record without owner",
			src:  "$TTL 300\n  IN A 192.0.2.1\n",
			want: []string{"t.zone:2:3: error: zone-syntax: record without an owner name (the first record must name its owner)"}},
		{name: "type without data at the end of the file",
			src:     head + "www IN A\n",
			want:    []string{`t.zone:3:8: error: zone-syntax: unexpected newline: "\n"`},
			records: 1},
		{name: "type without data inside the file",
			src:     head + "www IN A\nok IN A 192.0.2.2\n",
			want:    []string{`t.zone:3:8: error: zone-syntax: unexpected newline: "\n"`},
			records: 2},
		{name: "an entry missing data does not read the next line",
			src:     head + "x IN SOA ns1\nhostmaster 1 2 3 4 5\nok IN A 192.0.2.2\n",
			want:    []string{`t.zone:3:1: error: zone-syntax: bad SOA Mbox: "\n"`, `t.zone:4:14: error: zone-syntax: expecting RR type or class, not this...: "2"`},
			records: 2},
		{name: "owner without data",
			src:     head + "www\n",
			want:    []string{"t.zone:3:4: error: zone-syntax: record without a type and data"},
			records: 1},
		{name: "out of zone",
			src:     head + "www.example.net. IN A 192.0.2.1\n$ORIGIN other.test.\nx IN A 192.0.2.2\n",
			want:    []string{"t.zone:3:1: error: out-of-zone: www.example.net. is not in zone example.com.", "t.zone:5:1: error: out-of-zone: x.other.test. is not in zone example.com."},
			records: 1},
		{name: "class other than IN",
			src:     head + "www CH A 192.0.2.1\n",
			want:    []string{"t.zone:3:1: error: class-not-in: www.example.com. record of class CH: only class IN is served"},
			records: 1},
		{name: "owner name in raw UTF-8",
			src:     head + "\u00c9cole IN A 192.0.2.1\n\u212a IN A 192.0.2.2\n\\195\\137cole IN A 192.0.2.3\nxn--cole-9oa IN A 192.0.2.4\n",
			want:    []string{`t.zone:3:1: error: name-not-ascii: "École.example.com." has octets outside US-ASCII (UTF-8 text?), and names are matched as octets: write its IDNA A-label (xn--...), or \DDD escapes if you mean those octets`, `t.zone:4:1: error: name-not-ascii: "K.example.com." has octets outside US-ASCII (UTF-8 text?), and names are matched as octets: write its IDNA A-label (xn--...), or \DDD escapes if you mean those octets`},
			records: 3},
		{name: "relative $ORIGIN and blank owners", src: head + "$ORIGIN sub\nwww IN A 192.0.2.1\n  IN AAAA 2001:db8::1\n", records: 3},
		{name: "$GENERATE", src: head + "$GENERATE 1-3 host$ A 192.0.2.$\nafter IN A 192.0.2.9\n", records: 5},
		{name: "$GENERATE error",
			src:     head + "$GENERATE 1-3 host$ A 192.0.2\nafter IN A 192.0.2.9\n",
			want:    []string{`t.zone:3:1: error: zone-syntax: bad A A: "192.0.2"`},
			records: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z, fs := Parse("t.zone", "example.com.", []byte(tc.src))
			if got := findingStrings(fs); !eqStrings(got, tc.want) {
				t.Errorf("findings:\n got  %q\n want %q", got, tc.want)
			}
			if z == nil {
				t.Fatal("nil zone")
			}
			if z.Len() != tc.records {
				t.Errorf("%d records, want %d: %v", z.Len(), tc.records, z.Records())
			}
		})
	}
}

func TestParsePositionsAndState(t *testing.T) {
	src := "; comment\n$TTL 1h\n$ORIGIN example.com.\n@ IN SOA ns1 hostmaster (\n 1 7200 900 1209600 300 )\n" +
		"\tIN NS ns1\n" +
		"www 60 IN A 192.0.2.1\n" +
		"    IN A 192.0.2.2 ; same owner, default TTL\n" +
		"$GENERATE 10-11 h$ CNAME www\n" +
		"txt IN TXT \"semi;colon\" \"paren(\" ; comment\n"
	z, fs := Parse("zones/example.com.zone", "EXAMPLE.com", []byte(src))
	if len(fs) != 0 {
		t.Fatalf("findings: %v", fs)
	}
	want := []struct {
		pos string
		rr  string
	}{
		{"zones/example.com.zone:4:1", "example.com. 3600 IN SOA ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300"},
		{"zones/example.com.zone:6:2", "example.com. 3600 IN NS ns1.example.com."},
		{"zones/example.com.zone:7:1", "www.example.com. 60 IN A 192.0.2.1"},
		{"zones/example.com.zone:8:5", "www.example.com. 3600 IN A 192.0.2.2"},
		{"zones/example.com.zone:9:1", "h10.example.com. 3600 IN CNAME www.example.com."},
		{"zones/example.com.zone:9:1", "h11.example.com. 3600 IN CNAME www.example.com."},
		{"zones/example.com.zone:10:1", "txt.example.com. 3600 IN TXT \"semi;colon\" \"paren(\""},
	}
	if z.Len() != len(want) || len(z.Positions()) != len(want) {
		t.Fatalf("%d records, %d positions, want %d: %v", z.Len(), len(z.Positions()), len(want), z.Records())
	}
	for i, w := range want {
		if got := z.Positions()[i].String(); got != w.pos {
			t.Errorf("record %d at %s, want %s", i, got, w.pos)
		}
		if got := strings.Join(strings.Fields(z.Records()[i].String()), " "); got != w.rr {
			t.Errorf("record %d = %q, want %q", i, got, w.rr)
		}
	}
	if z.Origin() != "example.com." || z.SOA() == nil || z.SOA().Serial != 1 {
		t.Errorf("origin %q soa %v", z.Origin(), z.SOA())
	}
}

func TestParseTooManyErrorsStops(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 2*maxSyntaxFindings; i++ {
		b.WriteString("x IN A bad\n")
	}
	_, fs := Parse("t.zone", "example.com.", []byte(b.String()))
	if len(fs) != maxSyntaxFindings {
		t.Fatalf("%d findings, want %d", len(fs), maxSyntaxFindings)
	}
	if last := fs[len(fs)-1]; !strings.Contains(last.Msg, "too many errors") {
		t.Errorf("last finding %v", last)
	}
}
