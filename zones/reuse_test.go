package zones

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// againstEqualsScratch parses next against prev's parse and from scratch
// and fails unless both give the same zone (records, positions, index,
// keys), the same findings and the same answers. It returns the zone
// parsed against prev, prev's zone and the number of entries
// dns.ZoneParser read.
func againstEqualsScratch(t testing.TB, origin string, prev, next []byte) (*Zone, *Zone, int) {
	t.Helper()
	pz, _ := Parse("f.zone", origin, prev)
	got, parsed := checkAgainst(t, origin, pz, prev, next)
	return got, pz, parsed
}

// checkAgainst is againstEqualsScratch against a given parse of prev.
func checkAgainst(t testing.TB, origin string, pz *Zone, prev, next []byte) (*Zone, int) {
	t.Helper()
	before := zoneText(pz)
	want, wantFs := Parse("f.zone", origin, next)
	got, gotFs, parsed := parse("f.zone", origin, next, pz)
	if !reflect.DeepEqual(findingStrings(gotFs), findingStrings(wantFs)) {
		t.Fatalf("findings differ\nprev:\n%s\nnext:\n%s\nagainst: %q\nscratch: %q", prev, next, findingStrings(gotFs), findingStrings(wantFs))
	}
	if g, w := zoneText(got), zoneText(want); g != w {
		t.Fatalf("records differ\nprev:\n%s\nnext:\n%s\nagainst:\n%s\nscratch:\n%s", prev, next, g, w)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("zones differ (index or keys)\nprev:\n%s\nnext:\n%s", prev, next)
	}
	for _, rr := range want.Records() {
		for _, q := range []struct {
			name string
			typ  uint16
		}{{rr.Header().Name, rr.Header().Rrtype}, {"x." + rr.Header().Name, dns.TypeA}, {rr.Header().Name, dns.TypeANY}} {
			if a, b := got.Lookup(q.name, q.typ), want.Lookup(q.name, q.typ); !reflect.DeepEqual(a, b) {
				t.Fatalf("lookup %s %d: against %v, scratch %v", q.name, q.typ, a, b)
			}
		}
	}
	lp := LintPolicy{MinTTL: 60, MaxTTL: 86400}
	if g, w := findingStrings(Lint(got, lp)), findingStrings(lintEveryName(want, lp)); !reflect.DeepEqual(g, w) {
		t.Fatalf("lint differs\nprev:\n%s\nnext:\n%s\nagainst: %q\nevery name: %q", prev, next, g, w)
	}
	if zoneText(pz) != before {
		t.Fatal("the previous zone's records were modified")
	}
	if fresh, _ := Parse("f.zone", origin, prev); !reflect.DeepEqual(pz, fresh) {
		t.Fatal("the previous zone was modified")
	}
	return got, parsed
}

// lintEveryName is Lint with every per-name rule run on every name, as
// if node.lint said each could apply: what Lint must find.
func lintEveryName(z *Zone, p LintPolicy) []Finding {
	all := *z
	all.nodes = make(map[string]*node, len(z.nodes))
	copies := make(map[*node]*node, len(z.nodes))
	for name, n := range z.nodes {
		c := *n
		c.lint = ^lintFlags(0)
		all.nodes[name] = &c
		copies[n] = &c
	}
	for _, c := range all.nodes {
		if c.cut != nil {
			c.cut = copies[c.cut]
		}
		if c.wild != nil {
			c.wild = copies[c.wild]
		}
	}
	all.apex = all.nodes[z.origin]
	return Lint(&all, p)
}

// zoneText is every record with its position, one a line.
func zoneText(z *Zone) string {
	var b strings.Builder
	for i, rr := range z.Records() {
		fmt.Fprintf(&b, "%v %s\n", z.Positions()[i], rr)
	}
	return b.String()
}

func TestParseAgainstStateRules(t *testing.T) {
	const soa = "@ 300 IN SOA ns1 hostmaster 1 7200 900 1209600 300\n"
	tests := []struct {
		name       string
		prev, next string
		parsed     int // entries dns.ZoneParser reads in next
	}{
		{name: "unchanged", prev: head + "www IN A 192.0.2.1\n", next: head + "www IN A 192.0.2.1\n", parsed: 0},
		{name: "moved down a line keeps the record, new position",
			prev: head + "www IN A 192.0.2.1\n", next: head + "\n; a comment\nwww IN A 192.0.2.1\n", parsed: 0},
		{name: "reformatted with parentheses and comments is the same entry",
			prev: head + "www IN A 192.0.2.1\n", next: head + "www ( IN ; class\n A 192.0.2.1 )\n", parsed: 0},
		// A plain line (one space between tokens) is looked up without
		// cutting it into tokens: its key is the one of the same entry
		// written otherwise, both ways.
		{name: "respaced with tabs, blanks and a carriage return is the same entry",
			prev: head + "www IN A 192.0.2.1\nmail IN MX 10 www\n", next: head + "www  IN\tA 192.0.2.1 \r\nmail IN MX 10 www\r\n", parsed: 0},
		{name: "written plainly is the same entry",
			prev: head + "www\tIN  A 192.0.2.1 ; web\n@ IN MX ( 10 www )\n", next: head + "www IN A 192.0.2.1\n@ IN MX 10 www\n", parsed: 0},
		{name: "changed record", prev: head + "a IN A 192.0.2.1\nb IN A 192.0.2.2\n", next: head + "a IN A 192.0.2.9\nb IN A 192.0.2.2\n", parsed: 1},
		// RFC 1035 5.1: $ORIGIN makes relative names absolute, in the owner and in the data.
		{name: "$ORIGIN changed before a relative owner",
			prev: head + "$ORIGIN a.example.com.\nwww IN A 192.0.2.1\n", next: head + "$ORIGIN b.example.com.\nwww IN A 192.0.2.1\n", parsed: 1},
		{name: "$ORIGIN changed before relative data, absolute owner",
			prev: head + "$ORIGIN a.example.com.\nm.example.com. IN MX 10 mail\n", next: head + "$ORIGIN b.example.com.\nm.example.com. IN MX 10 mail\n", parsed: 1},
		// $ORIGIN is part of the state even when nothing is relative:
		// telling would take reading the data.
		{name: "$ORIGIN changed before an absolute entry",
			prev: head + "$ORIGIN a.example.com.\nm.example.com. IN A 192.0.2.1\n", next: head + "$ORIGIN b.example.com.\nm.example.com. IN A 192.0.2.1\n", parsed: 1},
		// RFC 1035 5.1: a blank owner is the last stated owner.
		{name: "previous owner changed before a blank owner",
			prev: head + "a IN A 192.0.2.1\n  IN AAAA 2001:db8::1\n", next: head + "b IN A 192.0.2.1\n  IN AAAA 2001:db8::1\n", parsed: 2},
		// RFC 2308 4: $TTL is the TTL of entries without one; it is part
		// of every entry's state (of entries with a TTL too).
		{name: "$TTL changed before an entry without TTL",
			prev: "$TTL 300\n" + soa + "a IN A 192.0.2.1\nb 60 IN A 192.0.2.2\n", next: "$TTL 600\n" + soa + "a IN A 192.0.2.1\nb 60 IN A 192.0.2.2\n", parsed: 3},
		{name: "$TTL added", prev: soa + "a IN A 192.0.2.1\n", next: "$TTL 60\n" + soa + "a IN A 192.0.2.1\n", parsed: 2},
		// RFC 1035 5.1: without $TTL an omitted TTL is the last stated one.
		// (The SOA, read before any TTL is known, is read every time: see
		// ttlAfter.)
		// (a is changed; b takes a's TTL; c is read again because its
		// state, the previous TTL, changed; d and e because after a miss
		// the next lookup waits for more parsed lines, see probe.)
		{name: "no $TTL: previous TTL changed before an entry without TTL",
			prev: soa + "a 60 IN A 192.0.2.1\nb IN A 192.0.2.2\nc 60 IN A 192.0.2.3\nd IN A 192.0.2.4\ne IN A 192.0.2.5\n",
			next: soa + "a 90 IN A 192.0.2.1\nb IN A 192.0.2.2\nc 60 IN A 192.0.2.3\nd IN A 192.0.2.4\ne IN A 192.0.2.5\n", parsed: 6},
		{name: "no $TTL: previous record's TTL changes through a deleted line",
			prev: soa + "a 60 IN A 192.0.2.1\nb IN A 192.0.2.2\nc IN A 192.0.2.3\n",
			next: soa + "a 60 IN A 192.0.2.1\nc IN A 192.0.2.3\n", parsed: 1},
		{name: "no $TTL: the state of an entry with a TTL is the previous TTL too",
			prev: soa + "a 60 IN A 192.0.2.1\nb 30 IN A 192.0.2.2\nc 30 IN A 192.0.2.2\n", next: soa + "a 90 IN A 192.0.2.1\nb 30 IN A 192.0.2.2\nc 30 IN A 192.0.2.2\n", parsed: 3},
		{name: "no $TTL: before any TTL, a class and no TTL gives 0 and no state",
			prev: "a IN A 192.0.2.1\nb IN A 192.0.2.2\nc 0 IN A 192.0.2.3\nd A 192.0.2.4\n",
			next: "a IN A 192.0.2.1\nb IN A 192.0.2.2\nc 0 IN A 192.0.2.3\nd A 192.0.2.4\n", parsed: 3},
		{name: "a record that was an error is parsed again",
			prev: head + "a IN A 192.0.2\nb IN A 192.0.2.2\n", next: head + "a IN A 192.0.2\nb IN A 192.0.2.2\n", parsed: 1},
		{name: "an out-of-zone record is parsed again",
			prev: head + "a.example.net. IN A 192.0.2.1\n", next: head + "a.example.net. IN A 192.0.2.1\n", parsed: 1},
		{name: "$GENERATE is parsed again", prev: head + "$GENERATE 1-3 h$ A 192.0.2.$\n", next: head + "$GENERATE 1-3 h$ A 192.0.2.$\n", parsed: 1},
		{name: "a duplicated entry takes the previous record once",
			prev: head + "a IN A 192.0.2.1\n", next: head + "a IN A 192.0.2.1\na IN A 192.0.2.1\n", parsed: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, parsed := againstEqualsScratch(t, "example.com.", []byte(tc.prev), []byte(tc.next))
			if parsed != tc.parsed {
				t.Errorf("dns.ZoneParser read %d entries, want %d", parsed, tc.parsed)
			}
		})
	}
}

// TestParseAgainstReuses proves the reuse: a one-record change of a
// 10,000-record zone gives a handful of entries to dns.ZoneParser and
// shares every other record with the previous version.
func TestParseAgainstReuses(t *testing.T) {
	for _, noTTL := range []bool{false, true} {
		t.Run(fmt.Sprintf("noTTL=%v", noTTL), func(t *testing.T) {
			prev := genZone(10000)
			if noTTL {
				prev = bytes.Replace(prev, []byte("$TTL 3600\n"), []byte("$ORIGIN bench.test.\n@ 3600"), 1)
				prev = bytes.Replace(prev, []byte("$ORIGIN bench.test.\n@ IN SOA"), []byte(" IN SOA"), 1)
			}
			next := bytes.Replace(prev, []byte("\nh5000 IN A "), []byte("\nh5000 IN A 192.0.2.99\n; was "), 1)
			next = bytes.Replace(next, []byte(" 1 7200 900"), []byte(" 2 7200 900"), 1)
			if bytes.Equal(prev, next) {
				t.Fatal("no change made")
			}
			z, pz, parsed := againstEqualsScratch(t, "bench.test.", prev, next)
			if parsed > 4 {
				t.Errorf("dns.ZoneParser read %d entries for a two-line change", parsed)
			}
			shared := 0
			old := map[dns.RR]bool{}
			for _, rr := range pz.Records() {
				old[rr] = true
			}
			for _, rr := range z.Records() {
				if old[rr] {
					shared++
				}
			}
			// Without $TTL the lines after a change are read until a
			// lookup finds its state again (probe).
			if want := z.Len() - 2; shared < want-2 || !noTTL && shared != want {
				t.Errorf("%d of %d records shared with the previous version, want all but 2", shared, z.Len())
			}
			// The index too: only the changed names, the names
			// pointing at them and their ancestors are new nodes.
			sharedNodes := 0
			for name, n := range z.nodes {
				if pz.nodes[name] == n {
					sharedNodes++
				}
			}
			if sharedNodes < len(z.nodes)-8 {
				t.Errorf("%d of %d names shared with the previous version's index", sharedNodes, len(z.nodes))
			}
		})
	}
}

// editZone applies random line edits to a zone file: lines changed,
// inserted, deleted, moved; directives, parentheses, comments, $GENERATE
// and errors among them.
func editZone(r *rand.Rand, data []byte, edits int) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	pool := []string{
		"www IN A 192.0.2.1\n", "www 60 IN A 192.0.2.1\n", "  IN AAAA 2001:db8::1\n", "\tIN TXT \"a;b\" ( \"c\"\n", ")\n",
		"mail IN MX 10 mx\n", "mx IN A 192.0.2.7\n", "$TTL 120\n", "$TTL 1h\n", "$ORIGIN sub.example.com.\n", "$ORIGIN sub\n",
		"$ORIGIN example.com.\n", "$GENERATE 1-4 g$ A 192.0.2.$\n", "bad IN A 192.0.2\n", "x.example.net. IN A 192.0.2.1\n",
		"; comment\n", "\n", "ch CH A 192.0.2.1\n", "@ IN NS ns1\n", "ns1 IN A 192.0.2.53\n", "c IN CNAME www\n",
		"t 30 IN TXT hello\n", "  30 IN TXT world\n", "u IN TXT \"open\n", "(\n", "$INCLUDE x\n", "y IN\n", "*.w IN A 192.0.2.8\n",
		"d IN NS ns.d\nns.d IN A 192.0.2.9\n", "$FOO\n",
		// Empty non-terminals, wildcards, targets of MX/SRV/NS records.
		"x.y.z IN A 192.0.2.10\n", "y.z IN TXT y\n", "*.y.z IN TXT w\n", "a.*.w IN A 192.0.2.11\n", "*.w IN MX 10 mx\n",
		"mx IN AAAA 2001:db8::7\n", "m2 IN MX 20 x.y.z\n", "_s._tcp IN SRV 1 1 80 mx\n", "@ IN NS mx\n", "mx.\n",
		"deep.er.name IN A 192.0.2.12\n", "er.name IN CNAME mx\n",
	}
	for range edits {
		i := r.IntN(len(lines) + 1)
		switch op := r.IntN(5); {
		case op == 0 && i < len(lines): // delete
			lines = append(lines[:i], lines[i+1:]...)
		case op == 1 && i < len(lines): // change
			lines[i] = pool[r.IntN(len(pool))]
		case op == 2 && i < len(lines) && len(lines) > 1: // move
			l := lines[i]
			lines = append(lines[:i], lines[i+1:]...)
			j := r.IntN(len(lines) + 1)
			lines = append(lines[:j], append([]string{l}, lines[j:]...)...)
		default: // insert
			lines = append(lines[:i], append([]string{pool[r.IntN(len(pool))]}, lines[i:]...)...)
		}
	}
	return []byte(strings.Join(lines, ""))
}

// randomZone is a zone of n entries drawn like editZone's, with or
// without $TTL.
func randomZone(r *rand.Rand, n int) []byte {
	var b strings.Builder
	if r.IntN(2) == 0 {
		b.WriteString("$TTL 300\n")
	}
	b.WriteString("@ 300 IN SOA ns1 hostmaster 1 7200 900 1209600 300\n@ IN NS ns1\n@ IN NS ns2\n")
	for i := range n {
		switch r.IntN(6) {
		case 0:
			fmt.Fprintf(&b, "h%d IN A 192.0.2.%d\n", i, i%256)
		case 1:
			fmt.Fprintf(&b, "h%d %d IN A 192.0.2.%d\n", i, 60+r.IntN(3), i%256)
		case 2:
			fmt.Fprintf(&b, "  IN TXT \"t%d\"\n", i)
		case 3:
			fmt.Fprintf(&b, "m%d IN MX ( 10\n   mx%d ) ; mail\n", i, i)
		case 4:
			fmt.Fprintf(&b, "c%d IN CNAME h%d\n", i, i-1)
		default:
			fmt.Fprintf(&b, "s%d IN A 198.51.100.%d\n", i, i%256)
		}
	}
	return []byte(b.String())
}

func TestParseAgainstRandomEdits(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 0))
	for i := range 300 {
		prev := randomZone(r, 5+r.IntN(60))
		next := editZone(r, prev, 1+r.IntN(8))
		if i%3 == 0 {
			prev = editZone(r, prev, 3) // errors and directives in the previous version too
		}
		if i%4 == 1 {
			next = bytes.ReplaceAll(next, []byte("\n"), []byte("\r\n"))
		}
		againstEqualsScratch(t, "example.com.", prev, next)
	}
}

func FuzzParseAgainst(f *testing.F) {
	f.Add([]byte(head+"www IN A 192.0.2.1\n  IN AAAA 2001:db8::1\n"), uint64(1), uint8(3))
	f.Add([]byte("@ 300 IN SOA ns1 hostmaster 1 7200 900 1209600 300\na 60 IN A 192.0.2.1\nb IN A 192.0.2.2\n"), uint64(2), uint8(5))
	f.Add([]byte(head+"$GENERATE 1-3 h$ A 192.0.2.$\n$ORIGIN sub\nx IN TXT ( \"a\"\n \"b\" )\n"), uint64(3), uint8(8))
	f.Add(genZone(200), uint64(4), uint8(2))
	f.Fuzz(func(t *testing.T, prev []byte, seed uint64, edits uint8) {
		if len(prev) > 1<<16 {
			return
		}
		r := rand.New(rand.NewPCG(seed, 0))
		next := editZone(r, prev, int(edits%16))
		againstEqualsScratch(t, "example.com.", prev, next)
		// A third version against the second as ParseAgainst gave it:
		// the keys it kept must serve the next parse as Parse's would.
		pz, _ := Parse("f.zone", "example.com.", prev)
		mid, _ := ParseAgainst("f.zone", "example.com.", next, pz)
		checkAgainst(t, "example.com.", mid, next, editZone(r, next, 2))
	})
}

// TestParseAgainstTooManyFindings: where reading stops and which findings
// are kept once there are too many depend on the order entries are parsed
// in; against a previous version the result is still Parse's.
func TestParseAgainstTooManyFindings(t *testing.T) {
	for _, ttl := range []string{"$TTL 300\n", ""} {
		var prev, next strings.Builder
		prev.WriteString(ttl + "@ 300 IN SOA ns1 hostmaster 1 7200 900 1209600 300\n")
		next.WriteString(ttl + "@ 300 IN SOA ns1 hostmaster 1 7200 900 1209600 300\n")
		for i := range 3 * maxSyntaxFindings {
			fmt.Fprintf(&prev, "h%d 60 IN A 192.0.2.%d\n", i, i%256)
			switch i % 4 {
			case 0:
				fmt.Fprintf(&next, "h%d 60 IN A 192.0.2\n", i) // found by dns.ZoneParser
			case 1:
				fmt.Fprintf(&next, "h%d 60 IN A 192.0.2.%d )\n", i, i%256) // found by the splitter
			default:
				fmt.Fprintf(&next, "h%d 60 IN A 192.0.2.%d\n", i, i%256)
			}
		}
		againstEqualsScratch(t, "example.com.", []byte(prev.String()), []byte(next.String()))
	}
}
